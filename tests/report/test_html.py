"""claims.html: what the page holds, that it stands alone, and how it finds its ledger and matrix.

The fixture ledger in data/claims-page/ is a real one, trimmed: the ledger of a run of C1, C5 (without
its default-retry test), C9 and C11 (plain) on the embedded cluster with Argo CD v3.6.1, timelines
cut. The matrix beside it is made up (fictional releases v9.x) in the shape `make matrix` writes. The
replay report in data/replay/ is a real one too, trimmed (see test_lanes.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness._report.html import load_matrix, render_claims_page, write_claims_page
from harness._report.ledger import CLAIMS, VERDICTS, LedgerError, load_ledger

DATA = Path(__file__).parent / "data" / "claims-page"


class _Page(HTMLParser):
    """Tags with their attributes, and the text of the page, to ask what a reader would see."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


@pytest.fixture
def ledger() -> list[dict[str, Any]]:
    return load_ledger(DATA / "claims.json")


def _render(entries: list[dict[str, Any]], **kwargs: Any) -> str:
    return render_claims_page(entries, generated_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), **kwargs)


def test_verdict_table_first_one_row_per_claim(ledger: list[dict[str, Any]]) -> None:
    html = _render(ledger)
    page = _Page(html)

    rows = page.find("tr", **{"data-claim": ledger[0]["id"]})
    assert rows
    assert rows[0]["data-verdict"] == ledger[0]["verdict"]
    table_rows = [a for t, a in page.tags if t == "tr" and "data-verdict" in a and "data-claim" in a]
    assert [(r["data-claim"], r["data-verdict"]) for r in table_rows] == [
        (e["id"], e["verdict"]) for e in ledger
    ]
    # The verdicts come before anything else on the page.
    assert html.index('id="verdicts"') < html.index('id="measured"') < html.index(f'id="{ledger[0]["id"]}"')
    assert "generated 2026-01-02 03:04 UTC" in html


def test_each_claim_has_its_text_checks_evidence_and_tests(ledger: list[dict[str, Any]]) -> None:
    html = _render(ledger)
    text = " ".join(_Page(html).text)

    for entry in ledger:
        section = re.search(rf'<section class="claim" id="{entry["id"]}".*?</section>', html, re.S)
        assert section, entry["id"]
        body = " ".join(_Page(section.group(0)).text)
        for check in entry["checks"]:
            assert check["statement"] in body
            assert ("agrees" if check["agrees"] else "disagrees") in body
        for test in entry["evidence"]:
            assert test in body
        for test in entry["tests"]:
            assert test["nodeid"] in body
        if not entry["tests"]:
            assert "No test of this claim ran." in body
    assert "Self-heal syncs are throttled: the default gap between them is 5 seconds." in text


def test_charts_draw_the_measured_points(ledger: list[dict[str, Any]]) -> None:
    page = _Page(_render(ledger))
    c9 = next(e for e in ledger if e["id"] == "C9")
    (gaps,) = [f["gaps_between_heals_s"] for f in c9["evidence"].values() if "gaps_between_heals_s" in f]

    figures = page.find("figure", **{"data-claim": "C9"})
    assert len(figures) == 1
    measured = [a for t, a in page.tags if t == "circle" and a.get("data-y") in {str(g) for g in gaps}]
    assert [float(a["data-y"]) for a in measured] == gaps
    assert {a["data-claim"] for a in page.find("figure")} >= {"C5", "C9"}


def test_the_page_stands_alone(ledger: list[dict[str, Any]]) -> None:
    html = _render(ledger, matrix=load_matrix(DATA))
    page = _Page(html)

    assert not page.find("script")
    assert not page.find("link")
    assert not page.find("img")
    assert not page.find("iframe")
    assert not [a for _, a in page.tags if "src" in a]
    external = [a["href"] for a in page.find("a") if not a.get("href", "").startswith("#")]
    assert external == []
    assert "url(" not in html
    assert "@import" not in html


def test_every_verdict_has_its_colour(ledger: list[dict[str, Any]]) -> None:
    """Each verdict the ledger can hold is a coloured badge and a coloured row stripe, not bare text."""
    html = _render(ledger)

    for verdict in VERDICTS:
        assert re.search(rf"\.v-{verdict}\b[^{{]*{{[^}}]*background:", html), verdict
        assert f"tr.row-{verdict} td:first-child" in html, verdict


def test_evidence_is_escaped() -> None:
    entry = {
        "id": "C1",
        "title": CLAIMS["C1"],
        "verdict": "held",
        "checks": [
            {"statement": "<b>bold</b>", "claimed": "<x>", "observed": "<x>", "agrees": True, "test": "t"}
        ],
        "evidence": {"t": {"message": "<script>alert(1)</script>"}},
        "tests": [{"nodeid": "t", "outcome": "passed"}],
    }
    html = _render([entry])

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html


def test_a_claim_without_a_text_on_file_still_reports() -> None:
    entry = {
        "id": "C99",
        "title": "a claim added after this page",
        "verdict": "held",
        "checks": [],
        "tests": [],
    }
    page = _Page(_render([entry]))

    assert page.find("section", id="C99")
    assert "a claim added after this page" in page.text


def test_release_grid_and_the_default_upgrade(ledger: list[dict[str, Any]]) -> None:
    matrix = load_matrix(DATA)
    page = _Page(_render(ledger, matrix=matrix))

    for claim_id, by_release in matrix.claims.items():
        cells = [a for t, a in page.tags if t == "td" and "data-release" in a]
        row = [a for a in cells if a["data-release"] in by_release]
        assert row
        for release, verdict in by_release.items():
            assert any(
                a["data-release"] == release and a["data-verdict"] == verdict and f"v-{verdict}" in a["class"]
                for a in cells
            ), (claim_id, release)
    diffs = page.find("details", **{"class": "diff"})
    opened = [(d["data-from"], d["data-to"]) for d in diffs if "open" in d]
    assert opened == [(matrix.releases[-2], matrix.releases[-1])]


def test_the_upgrade_to_open_can_be_chosen(ledger: list[dict[str, Any]]) -> None:
    matrix = load_matrix(DATA)
    first, last = matrix.releases[0], matrix.releases[-1]
    page = _Page(_render(ledger, matrix=matrix, diff_pair=(first, last)))

    opened = [
        (d["data-from"], d["data-to"]) for d in page.find("details", **{"class": "diff"}) if "open" in d
    ]
    assert opened == [(first, last)]
    with pytest.raises(LedgerError, match=r"release v0\.0\.1 is not in the release matrix \(releases: v"):
        _render(ledger, matrix=matrix, diff_pair=(first, "v0.0.1"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "is not a release matrix"),
        ('{"releases": "v1", "claims": {}}', "'releases' must be a list"),
        ('{"releases": ["v1"], "claims": {"C1": "held"}}', "'claims' must map claim ids"),
        ('{"releases": ["v1"], "claims": {}, "changes": {}}', "'changes' must be a list"),
        ("{", "cannot read the release matrix"),
    ],
)
def test_a_bad_matrix_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "matrix.json").write_text(content)
    with pytest.raises(LedgerError, match=re.escape(message)):
        load_matrix(tmp_path)


def test_write_the_page_of_a_reports_directory(tmp_path: Path) -> None:
    shutil.copy(DATA / "claims.json", tmp_path)

    page = write_claims_page(tmp_path)

    assert page == tmp_path / "claims.html"
    assert 'id="verdicts"' in page.read_text()
    assert 'id="releases"' not in page.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.html", "claims.json"]


def test_a_matrix_run_uses_the_ledger_of_its_last_release(tmp_path: Path) -> None:
    matrix = json.loads((DATA / "matrix.json").read_text())
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    (tmp_path / matrix["releases"][-1]).mkdir()
    shutil.copy(DATA / "claims.json", tmp_path / matrix["releases"][-1])

    html = write_claims_page(tmp_path).read_text()

    assert 'id="releases"' in html
    assert 'id="measured"' in html
    assert f"{matrix['releases'][-1]}/claims.json" in html


def test_no_ledger_and_no_matrix_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no claims ledger at .*, no matrix.json and no replay report in"):
        write_claims_page(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_raced_check_says_so_on_the_page_and_in_the_upgrade(tmp_path: Path) -> None:
    race = "argoproj/argo-cd#29100"
    entry = {
        "id": "C12",
        "title": "PreDelete",
        "verdict": "partial",
        "checks": [
            {
                "statement": "the deletion is blocked",
                "claimed": True,
                "observed": False,
                "agrees": False,
                "test": "t::blocked",
                "race": race,
            },
            {
                "statement": "the hook is left",
                "claimed": True,
                "observed": True,
                "agrees": True,
                "test": "t::left",
            },
        ],
        "tests": [],
    }
    matrix = {
        "releases": ["v9.0.0", "v9.1.0"],
        "claims": {"C12": {"v9.0.0": "held", "v9.1.0": "partial"}},
        "changes": [],
        "raced": [
            {
                "from": "v9.0.0",
                "to": "v9.1.0",
                "claim": "C12",
                "check": "blocked: the deletion is blocked",
                "before": True,
                "after": False,
                "race": race,
            },
        ],
    }
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    page = _Page(_render([entry], matrix=load_matrix(tmp_path)))

    text = " ".join(page.text)
    assert f"(decided by a known controller race, {race}: may differ between runs)" in text
    assert text.count("decided by a known controller race") == 1  # the other check names none
    assert (
        f"blocked: the deletion is blocked (decided by a known race, {race}; not counted as a change)" in text
    )


# --------------------------------------------------------------------------------------------------
# Replayed incidents (reports of `argocd-chaos reproduce` and `incidents` under the same directory)

REPLAY = Path(__file__).parent / "data" / "replay"


def _replay_into(reports: Path, where: str, **changes: Any) -> dict[str, Any]:
    """The fixture replay report (and its report.md) at ``reports/where``; returns what was written."""
    data: dict[str, Any] = {**json.loads((REPLAY / "report.json").read_text()), **changes}
    folder = reports / where
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(data))
    shutil.copy(REPLAY / "report.md", folder)
    return data


def _float_or_none(text: str) -> float | None:
    return float(text) if text else None


def test_replays_are_lane_charts_after_the_measured_charts(tmp_path: Path) -> None:
    shutil.copy(DATA / "claims.json", tmp_path)
    data = _replay_into(tmp_path, "reproduce/shop")
    timeline = data["timeline"]

    html = write_claims_page(tmp_path).read_text()
    page = _Page(html)

    assert html.index('id="measured"') < html.index('id="replays"') < html.index('<section class="claim"')
    (figure,) = page.find("figure", data_replay="shop")
    assert figure["data-release"] == data["argocd_version"]
    assert figure["data-held"] == ("true" if data["held"] else "false")
    assert figure["data-problem"] == "false"
    bars = page.find("g", data_lane="operations")
    assert [
        (int(b["data-seq"]), float(b["data-t"]), _float_or_none(b["data-ended-t"]), b["data-phase"])
        for b in bars
    ] == [(o["seq"], o["t"], o["ended_t"], o["phase"]) for o in timeline["operations"]]
    assert [(int(b["data-retry-count"]), b["data-automated"] == "true") for b in bars] == [
        (o["retry_count"], o["automated"]) for o in timeline["operations"]
    ]
    hooks = page.find("g", data_lane="hooks")
    assert [(float(h["data-t"]), h["data-name"]) for h in hooks] == [
        (h["t"], h["name"]) for h in timeline["hook_runs"]
    ]
    retries = page.find("g", data_lane="retries")
    assert [(float(r["data-t"]), int(r["data-retry-count"])) for r in retries] == [
        (r["t"], r["retry_count"]) for r in timeline["retry_marks"]
    ]
    # Every bar and mark is drawn: a rect per bar, a line per mark.
    svg = re.search(r'<svg class="lanes".*?</svg>', html, re.S)
    assert svg
    drawn = _Page(svg.group(0))
    assert len(drawn.find("rect")) == len(bars) + 3  # and one band per lane
    assert len(drawn.find("line")) >= len(hooks) + len(retries)
    # The report beside it, linked relative to the page.
    links = [a["href"] for a in page.find("a", **{"class": "report"})]
    assert links == ["reproduce/shop/report.md"]
    assert (tmp_path / links[0]).is_file()
    # Readable without the picture: the numbers table names every event.
    table = re.search(r'<figure class="replay".*?<details class="numbers">(.*?)</details>', html, re.S)
    assert table
    rows = _Page(table.group(1)).text
    for h in timeline["hook_runs"]:
        assert h["name"] in rows
    for r in timeline["retry_marks"]:
        assert f"retry count {r['retry_count']}" in rows
    text = " ".join(page.text)
    assert f"shop Argo CD {data['argocd_version']} {'held' if data['held'] else 'not held'}" in text


def test_a_page_of_replays_only_stands_alone(tmp_path: Path) -> None:
    """No ledger, no matrix: the page holds the replays, a broken one with its problem, and no more."""
    good = _replay_into(tmp_path, "reproduce/shop")
    _replay_into(tmp_path, "incidents/v2.14.21/27507-hook-deleted", held=False, argocd_version="v2.14.21")
    broken = tmp_path / "incidents" / "v2.14.21" / "11872-broken"
    broken.mkdir()
    (broken / "report.json").write_text('{"held": true, "timeline": {"operations": [{"t": "soon"}]}}')

    path = write_claims_page(tmp_path)
    html = path.read_text()
    page = _Page(html)
    text = " ".join(page.text)

    assert path == tmp_path / "claims.html"
    assert 'id="replays"' in html
    assert 'id="measured"' not in html
    assert 'id="releases"' not in html
    assert "No claims ledger for this page: only the replayed incidents below." in text
    assert not page.find("p", **{"class": "counts"})  # no ledger, no verdicts to count
    assert f"Claims about Argo CD sync hooks: v2.14.21, {good['argocd_version']}" in text
    assert [f["data-replay"] for f in page.find("figure", **{"class": "replay"})] == [
        "shop",
        "11872-broken",
        "27507-hook-deleted",
    ]
    (incident,) = page.find("figure", data_replay="27507-hook-deleted")
    assert (incident["data-held"], incident["data-kind"]) == ("false", "incident")
    assert "27507-hook-deleted Argo CD v2.14.21 not held" in text
    assert "the bug not reproduced" in text
    assert "Known hook bugs (argocd-chaos incidents) on v2.14.21" in text
    (problem,) = page.find("figure", data_problem="true")
    assert problem["data-replay"] == "11872-broken"
    assert 'field `timeline.operations[0].t`: Input should be a valid number (got a string "soon")' in text
    # Stands alone as the ledger's page does; its only other links are to reports beside it.
    assert not page.find("script")
    assert not page.find("link")
    assert not page.find("img")
    assert not page.find("iframe")
    assert not [a for _, a in page.tags if "src" in a]
    assert "url(" not in html
    assert "@import" not in html
    links = [a["href"] for a in page.find("a") if not a.get("href", "").startswith("#")]
    assert links == [
        "reproduce/shop/report.md",
        "incidents/v2.14.21/27507-hook-deleted/report.md",
    ]
    assert all(":" not in link and not link.startswith(("/", "..")) for link in links)
    assert all((tmp_path / link).is_file() for link in links)
