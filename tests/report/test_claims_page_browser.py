"""claims.html in a real browser: Debian's Chromium, headless, driven by Playwright.

What a person sees is checked, not the markup: the verdict table is visible with one coloured row
per claim, a chart shows its measured points where their values say, and the release grid colours
its cells by verdict. The page is opened from the file system, and any request it makes beyond its
own file fails the test. A screenshot goes into the test's Allure report.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from harness._report.html import write_claims_page

DATA = Path(__file__).parent / "data" / "claims-page"
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
    """The page of the fixture ledger and matrix, opened from disk; the list collects what went wrong."""
    for name in ("claims.json", "matrix.json"):
        shutil.copy(DATA / name, tmp_path)
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


def test_a_chart_shows_its_measured_points(page_of_fixture: tuple[Page, list[str]]) -> None:
    page, problems = page_of_fixture
    c9 = next(e for e in _ledger() if e["id"] == "C9")
    (gaps,) = [f["gaps_between_heals_s"] for f in c9["evidence"].values() if "gaps_between_heals_s" in f]

    figure = page.locator('figure.chart[data-claim="C9"]')
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
        seen.append((float(point.get_attribute("data-y") or "nan"), box["y"]))
    assert [value for value, _ in seen] == gaps
    # Where the points are says what they are: a larger gap is drawn higher up.
    by_value = sorted(seen)
    assert [y for _, y in by_value] == sorted((y for _, y in by_value), reverse=True)
    # The claimed 5 s is drawn beside them, as a line of its own (a flat path has no height, so its
    # points stand for it).
    reference = figure.locator("g.reference circle.point")
    assert reference.count() == len(gaps)
    assert reference.first.is_visible()
    assert figure.locator("g.reference path").get_attribute("d")
    assert "claimed: 5 s" in figure.locator("ul.legend").inner_text()
    assert problems == []


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
