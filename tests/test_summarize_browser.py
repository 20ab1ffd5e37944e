"""The HTML report in a real headless browser (Debian chromium via Playwright), offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlp_theming import Project
from tests.test_summarize import INTERVIEWS, SITES, built  # noqa: F401 - built is a fixture used here

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def report(built: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("report") / "summary"
    with Project(built["project"]) as p:
        p.summarize(by="site", sites=SITES, out=out)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A page that may not touch the network: every non-file request is recorded and refused."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.remote = []  # type: ignore[attr-defined]
    page.problems = []  # type: ignore[attr-defined]

    def route(r) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            page.remote.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield page
    context.close()


def test_index_shows_heatmap_and_all_groups_offline(page, report: Path) -> None:
    page.goto((report / "index.html").as_uri())
    heatmap = page.locator("svg.heatmap")
    assert heatmap.is_visible()
    box = heatmap.bounding_box()
    assert box["width"] > 400 and box["height"] > 200
    # one cell per group and matrix row (5 themes + 3 roll-ups), each a link into a group page
    assert page.locator("svg.heatmap a.cell rect").count() == 3 * 8
    cards = page.locator(".group-card h3 a")
    assert cards.all_inner_texts() == ["site A", "site B", "site C"]
    assert page.locator("#unreviewed").is_visible()
    assert page.remote == [] and page.problems == []
    # a heatmap cell leads to that theme on the group's page
    cell = page.locator('svg.heatmap rect[data-group="B"][data-theme="Operation of the triumvirate"]')
    assert cell.get_attribute("data-value") != "0"
    cell.click()
    page.wait_for_load_state()
    assert page.url.endswith("groups/B.html#t-Operation-of-the-triumvirate")
    assert page.locator("#t-Operation-of-the-triumvirate").is_visible()


def test_quote_link_opens_the_transcript_at_its_passage(page, report: Path) -> None:
    page.goto((report / "groups" / "A.html").as_uri())
    link = page.locator("a.quote-link").first
    quote = link.locator("xpath=ancestor::blockquote").locator("p").inner_text().strip("“”")
    href = link.get_attribute("href")
    segment = re.search(r"#s(\d+)$", href).group(1)
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(f".html#s{segment}") and "/transcripts/" in page.url
    target = page.locator(f"#s{segment}")
    assert quote[:40] in " ".join(target.inner_text().split())
    box = target.bounding_box()
    assert 0 <= box["y"] < 900, "the browser scrolled to the passage"
    # the passage is highlighted as the link's target
    assert target.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 233, 168)"
    assert page.remote == [] and page.problems == []


def test_transcript_text_is_shown_not_run(page, report: Path) -> None:
    page.goto((report / "transcripts" / "A-02.html").as_uri())
    text = page.locator(".transcript").inner_text()
    assert '<script>alert("x")</script>' in text and "<b>Board</b>" in text
    assert page.locator("script").count() == 0 and page.locator(".transcript b").count() == 0
    assert page.problems == []
    # every group and transcript page opens without errors
    for path in sorted((report / "groups").glob("*.html")) + sorted((report / "transcripts").glob("*.html")):
        page.goto(path.as_uri())
        assert page.locator("h1").inner_text()
    assert len(list((report / "transcripts").glob("*.html"))) == len(INTERVIEWS)
    assert page.remote == [] and page.problems == []
