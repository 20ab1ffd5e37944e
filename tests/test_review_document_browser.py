"""Coding a whole transcript from the transcript view in a real headless Chromium, by keyboard and
mouse, checking the decision log after each step (the shared SYNTHETIC review project)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlp_theming import store
from nlp_theming.store.decisions import coding, nothing_applies
from tests.test_review_browser import ThreadServer, browser, log, page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")]


@pytest.fixture
def server(project: Path) -> Iterator[ThreadServer]:
    s = ThreadServer(project, coder="alice")
    yield s
    s.stop()


def focused(pg: object) -> int:
    return int(pg.get_attribute(".passage.focus", "data-segment"))


def wait_log(pg: object, project: Path, n: int) -> object:
    """The log once it holds ``n`` decisions by alice (fetch() returns before we look)."""
    for _ in range(300):
        frame = log(project, "alice")
        if len(frame) >= n:
            return frame
        pg.wait_for_timeout(100)
    return log(project, "alice")


def test_code_a_transcript_by_keyboard_and_mouse(server: ThreadServer, page: object, project: Path) -> None:  # noqa: F811
    page.goto(server.url + "document/north-nurse")
    assert page.locator(".turn.interviewer .speaker").first.inner_text().startswith("Interviewer")
    first = focused(page)
    chips = page.locator(f"#s-{first} .chip.sugg").all_inner_texts()
    top = chips[0].split()[1:-1]
    url = page.url

    page.keyboard.press("1")  # accept the best suggestion: in place, no reload
    frame = wait_log(page, project, 1)
    assert list(frame.action) == ["accept"] and frame.code.iloc[0] == " ".join(top)
    page.wait_for_selector(f"#s-{first} .chip.sugg.accepted")
    assert page.url.startswith(url.split("#")[0].split("?")[0])

    page.keyboard.press("x")  # reject the rest, and move to the next passage to decide
    frame = wait_log(page, project, 1 + len(chips) - 1)
    assert list(frame.action) == ["accept"] + ["reject"] * (len(chips) - 1)
    page.wait_for_function(f"() => {{ const el = document.querySelector('.passage.focus');"
                           f" return el && el.dataset.segment !== '{first}'; }}")
    second = focused(page)

    page.keyboard.press("0")  # no code applies
    frame = wait_log(page, project, len(chips) + 1)
    assert frame.action.iloc[-1] == "none" and int(frame.segment_id.iloc[-1]) == second
    page.wait_for_selector(f"#s-{second} .chip.none")
    page.wait_for_function(f"() => {{ const el = document.querySelector('.passage.focus');"
                           f" return el && el.dataset.segment !== '{second}'; }}")  # moved on

    # the mouse: click a later passage's text, then its accept button
    later = page.locator(".passage.pending").last
    target = int(later.get_attribute("data-segment"))
    later.locator(".ptext").click()
    page.wait_for_selector(f"#s-{target}.focus .controls")
    page.locator(f"#s-{target} .controls button.accept").first.click()
    frame = wait_log(page, project, len(chips) + 2)
    assert frame.action.iloc[-1] == "accept" and int(frame.segment_id.iloc[-1]) == target
    page.wait_for_selector(f"#s-{target} .chip.sugg.accepted")  # the reply is in: keys are taken again

    # undo (a reload): the accept is cancelled and its passage is in focus again
    with page.expect_navigation():
        page.keyboard.press("u")
    assert "Undone" in page.locator(".flash").inner_text() and focused(page) == target
    con = store.open_project(project)
    try:
        applied = {(int(r.segment_id), r.code) for r in coding(con, "alice").itertuples()}
        assert applied == {(first, " ".join(top))}
        assert list(nothing_applies(con, "alice").segment_id) == [second]
    finally:
        con.close()
    assert not page.errors


def test_the_review_page_keys_decide_a_passage(page: object, project: Path) -> None:  # noqa: F811
    s = ThreadServer(project, coder="alice")
    try:
        page.goto(s.url + "review")
        segment = int(page.get_attribute('#passage-form input[name="segment_id"]', "value"))
        with page.expect_navigation():
            page.keyboard.press("0")
        frame = log(project, "alice")
        assert list(frame.action) == ["none"] and int(frame.segment_id.iloc[0]) == segment
        assert int(page.get_attribute('#passage-form input[name="segment_id"]', "value")) != segment
        with page.expect_navigation():
            page.keyboard.press("2")
        assert log(project, "alice").action.iloc[-1] == "accept"
    finally:
        s.stop()
    assert not page.errors


def test_serve_document_prints_the_transcript_view(project: Path, page: object) -> None:  # noqa: F811
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlp_theming.cli", "serve", str(project), "--coder", "erin", "--document",
         "north-nurse"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0]
        assert url.endswith("/document/north-nurse"), line
        page.goto(url)
        assert page.locator("#doc-head h1").inner_text() == "north-nurse"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "nlp_theming.cli", "serve", str(project), "--document", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "no document 'nope'" in bad.stderr
