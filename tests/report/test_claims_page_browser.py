"""claims.html in a real browser: Debian's Chromium, headless, driven by Playwright.

What a person sees is checked, not the markup: the verdict table is visible with one coloured row
per claim, each chart (C5's and C9's) shows its measured points where their values say, a replayed
incident's lane chart shows its operations as coloured bars and its hook runs and retries as marks
where their times say, and the release grid colours its cells by verdict. The page is opened from the
file system, and any request it makes beyond its own file fails the test. A screenshot goes into the
test's Allure report.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest
from playwright.sync_api import Browser, FloatRect, Locator, Page, sync_playwright

from harness._report.html import write_claims_page

DATA = Path(__file__).parent / "data" / "claims-page"
REPLAY = Path(__file__).parent / "data" / "replay"
CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed: `make test` installs it when run as root "
    "(otherwise run `sudo apt-get install -y chromium`)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_of_fixture(tmp_path: Path, browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """The page of the fixture ledger, matrix and replay, opened from disk; the list collects problems."""
    for name in ("claims.json", "matrix.json"):
        shutil.copy(DATA / name, tmp_path)
    shutil.copytree(REPLAY, tmp_path / "reproduce" / "shop")
    path = write_claims_page(tmp_path)
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.on(
        "request",
        lambda req: (
            problems.append(f"request beyond the file: {req.url}") if req.url != path.as_uri() else None
        ),
    )
    response = page.goto(path.as_uri())
    assert response is not None, "the page did not load"
    assert response.ok, f"the page did not load: {response.status}"
    try:
        yield page, problems
    finally:
        allure.attach(
            page.screenshot(full_page=True),
            name="claims.html in Chromium",
            attachment_type=allure.attachment_type.PNG,
        )
        page.close()


def _ledger() -> list[dict[str, Any]]:
    return list(json.loads((DATA / "claims.json").read_text()))


def _background(page: Page, selector: str) -> str:
    return str(page.locator(selector).first.evaluate("e => getComputedStyle(e).backgroundColor"))


def test_a_person_sees_the_verdicts_first(page_of_fixture: tuple[Page, list[str]]) -> None:
    page, problems = page_of_fixture
    ledger = _ledger()

    table = page.locator("table.verdicts")
    assert table.is_visible()
    box = table.bounding_box()
    assert box is not None
    assert box["y"] < 900, "the verdict table is not on the first screen"
    rows = table.locator("tbody tr")
    assert rows.count() == len(ledger)
    for i, entry in enumerate(ledger):
        row = rows.nth(i)
        assert row.is_visible()
        assert row.locator("td").nth(0).inner_text().startswith(entry["id"])
        assert row.locator(".badge").inner_text() == entry["verdict"]
    # Colour by verdict: each verdict's badge has its own background.
    verdicts = sorted({e["verdict"] for e in ledger})
    colours = {v: _background(page, f"table.verdicts .badge.v-{v}") for v in verdicts}
    assert len(set(colours.values())) == len(verdicts), colours
    assert problems == []


def _charts() -> list[tuple[str, str, list[float], str]]:
    """(claim, test, measured gaps, what the reference line is called) of every chart the ledger has."""
    charts = []
    for entry in _ledger():
        for test, facts in entry["evidence"].items():
            if entry["id"] == "C5" and "attempt_gaps_s" in facts:
                charts.append(("C5", test, facts["attempt_gaps_s"], "backoff ("))
            if entry["id"] == "C9" and "gaps_between_heals_s" in facts:
                charts.append(("C9", test, facts["gaps_between_heals_s"], "claimed: 5 s"))
    return charts


def test_the_fixture_has_the_charts_checked_here() -> None:
    assert sorted({claim for claim, *_ in _charts()}) == ["C5", "C9"]
    assert len(_charts()) == 3  # C5's explicit-policy and transient-failure tests, C9's one


@pytest.mark.parametrize(
    ("claim", "test", "gaps", "reference"),
    _charts(),
    ids=[f"{c[0]}-{c[1].split('::')[-1]}" for c in _charts()],
)
def test_a_chart_shows_its_measured_points(
    page_of_fixture: tuple[Page, list[str]], claim: str, test: str, gaps: list[float], reference: str
) -> None:
    page, problems = page_of_fixture

    figure = page.locator(f'figure.chart[data-claim="{claim}"]').filter(has_text=test)
    assert figure.count() == 1
    figure.scroll_into_view_if_needed()
    assert figure.is_visible()
    svg_box = figure.locator("svg").bounding_box()
    points = figure.locator("g.measured circle.point")
    assert points.count() == len(gaps)
    seen = []
    for i in range(points.count()):
        point = points.nth(i)
        box = point.bounding_box()
        assert box is not None
        assert svg_box is not None
        assert point.is_visible()
        assert svg_box["x"] <= box["x"] <= svg_box["x"] + svg_box["width"]
        assert svg_box["y"] <= box["y"] <= svg_box["y"] + svg_box["height"]
        seen.append((float(point.get_attribute("data-y") or "nan"), box["y"], box["x"]))
    assert [value for value, _, _ in seen] == gaps
    # Where the points are says what they are: a larger gap is drawn higher up, a later one further right.
    by_value = sorted(seen)
    assert [y for _, y, _ in by_value] == sorted((y for _, y, _ in by_value), reverse=True)
    assert [x for _, _, x in seen] == sorted(x for _, _, x in seen)
    # What it is compared with is drawn beside them, as a line of its own (a flat path has no height,
    # so its points stand for it).
    compared = figure.locator("g.reference circle.point")
    assert compared.count() == len(gaps)
    assert compared.first.is_visible()
    assert figure.locator("g.reference path").get_attribute("d")
    assert reference in figure.locator("ul.legend").inner_text()
    assert problems == []


def test_a_replay_is_a_lane_chart(page_of_fixture: tuple[Page, list[str]]) -> None:
    page, problems = page_of_fixture
    report = json.loads((REPLAY / "report.json").read_text())
    timeline = report["timeline"]

    figure = page.locator('figure.replay[data-replay="shop"]')
    figure.scroll_into_view_if_needed()
    assert figure.is_visible()
    caption = figure.locator("figcaption").inner_text()
    assert f"Argo CD {report['argocd_version']}" in caption
    assert figure.locator("figcaption .badge").inner_text() == ("held" if report["held"] else "not held")
    link = figure.locator("a.report")
    assert link.is_visible()
    assert link.get_attribute("href") == "reproduce/shop/report.md"
    svg = figure.locator("svg.lanes").bounding_box()
    assert svg is not None
    axis = figure.locator("svg.lanes text.tick")
    # Tick labels are centred on their ticks: where each label's centre was drawn, by its value.
    ticks = [
        (float(axis.nth(i).text_content() or "nan"), _box(axis.nth(i))["x"] + _box(axis.nth(i))["width"] / 2)
        for i in range(axis.count())
    ]
    assert ticks == sorted(ticks)
    (t0, x0), (t1, x1) = ticks[0], ticks[-1]
    scale = (x1 - x0) / (t1 - t0)  # pixels per second

    def x_of(seconds: float) -> float:
        return x0 + (seconds - t0) * scale

    bars = figure.locator('g[data-lane="operations"]')
    assert bars.count() == len(timeline["operations"])
    legend = {"Succeeded": "succeeded", "Failed": "failed", "Error": "failed", "Running": "running"}
    for i, op in enumerate(timeline["operations"]):
        rect = bars.nth(i).locator("rect")
        assert rect.is_visible()
        box = _box(rect)
        assert svg["x"] <= box["x"]
        assert box["x"] + box["width"] <= svg["x"] + svg["width"]
        assert box["x"] == pytest.approx(x_of(op["t"]), abs=2)
        if op["ended_t"] is not None:
            assert box["width"] == pytest.approx((op["ended_t"] - op["t"]) * scale, abs=3)
        # Coloured as the legend says its phase is.
        swatch = _background(page, f"figure.replay .lane-legend .{legend.get(op['phase'], 'other')} .box")
        assert rect.evaluate("e => getComputedStyle(e).fill") == swatch, op["phase"]
    for lane, events in (("hooks", timeline["hook_runs"]), ("retries", timeline["retry_marks"])):
        # A mark is a stem with a dot on top; the stem alone has no width, so the dot is what is seen.
        marks = figure.locator(f'g[data-lane="{lane}"] circle')
        assert marks.count() == len(events), lane
        for i, event in enumerate(events):
            assert marks.nth(i).is_visible()
            box = _box(marks.nth(i))
            assert box["x"] + box["width"] / 2 == pytest.approx(x_of(event["t"]), abs=2), (lane, event)
            stem = _box(figure.locator(f'g[data-lane="{lane}"] line').nth(i))
            assert stem["height"] > 10
    labels = figure.locator('g[data-lane="hooks"] text').all_text_contents()
    assert set(labels) == {h["name"] for h in timeline["hook_runs"]}
    retry_labels = figure.locator('g[data-lane="retries"] text').all_text_contents()
    assert retry_labels == [f"retry {r['retry_count']}" for r in timeline["retry_marks"]]
    # The lanes are one above the other: operations, then hook runs, then retries.
    tops = [
        _box(figure.locator(f'g[data-lane="{lane}"]').first)["y"]
        for lane in ("operations", "hooks", "retries")
    ]
    assert tops == sorted(tops)
    # The numbers behind the picture open on a click.
    figure.locator("details.numbers summary").click()
    table = figure.locator("details.numbers table")
    assert table.is_visible()
    assert table.locator("tr").count() == 1 + sum(
        len(timeline[k]) for k in ("operations", "hook_runs", "retry_marks")
    )
    assert problems == []


def _box(locator: Locator) -> FloatRect:
    box = locator.bounding_box()
    assert box is not None, "not drawn"
    return box


def test_the_release_grid_is_a_heatmap(page_of_fixture: tuple[Page, list[str]]) -> None:
    page, problems = page_of_fixture
    matrix = json.loads((DATA / "matrix.json").read_text())

    grid = page.locator("table.grid")
    grid.scroll_into_view_if_needed()
    assert grid.is_visible()
    assert grid.locator("thead th").all_inner_texts()[1:] == matrix["releases"]
    assert grid.locator("tbody tr").count() == len(matrix["claims"])
    colours: dict[str, set[str]] = {}
    for claim_id, by_release in matrix["claims"].items():
        for release, verdict in by_release.items():
            cell = grid.locator(f'tr[data-claim="{claim_id}"] td[data-release="{release}"]')
            assert cell.inner_text() == verdict
            colours.setdefault(verdict, set()).add(
                str(cell.evaluate("e => getComputedStyle(e).backgroundColor"))
            )
    assert all(len(c) == 1 for c in colours.values()), colours  # one colour per verdict...
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # ...and a different one each
    opened = page.locator("details.diff[open]")
    assert opened.count() == 1
    assert opened.get_attribute("data-to") == matrix["releases"][-1]
    assert problems == []
