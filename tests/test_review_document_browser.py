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
from nlp_theming.store.memos import memos_frame
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

    # undo, in place too: the accept is cancelled and its passage is in focus again
    page.keyboard.press("u")
    frame = wait_log(page, project, len(chips) + 3)
    assert frame.action.iloc[-1] == "undo"
    page.wait_for_selector(".flash.ok >> text=Undone")
    assert focused(page) == target and page.url.startswith(url.split("#")[0].split("?")[0])
    con = store.open_project(project)
    try:
        applied = {(int(r.segment_id), r.code) for r in coding(con, "alice").itertuples()}
        assert applied == {(first, " ".join(top))}
        assert list(nothing_applies(con, "alice").segment_id) == [second]
    finally:
        con.close()
    assert not page.errors


def _store(project: Path, read: object) -> object:
    con = store.open_project(project)
    try:
        return read(con)
    finally:
        con.close()


def test_free_coding_memos_and_keys_typed_ahead(server: ThreadServer, page: object, project: Path) -> None:  # noqa: F811
    page.goto(server.url + "document/north-nurse")
    here = focused(page)
    suggested = {" ".join(c.split()[1:-1]) for c in page.locator(f"#s-{here} .chip.sugg").all_inner_texts()}
    codes = page.locator("#code-picker-tree .leaf-code").all_text_contents()
    free = next(c for c in codes if c not in suggested)  # a code the machine never suggested here

    # a key typed while the decision before it is being saved is kept: accept, then undo at once
    page.keyboard.press("1")
    page.keyboard.press("u")
    frame = wait_log(page, project, 2)
    assert list(frame.action) == ["accept", "undo"] and int(frame.undoes.iloc[1]) == int(frame.id.iloc[0])
    page.wait_for_selector(".flash.ok >> text=Undone")
    assert focused(page) == here

    # free coding by keyboard: shift+right arrow selects three words, c opens the codebook search
    text = _store(project, lambda con: con.execute("SELECT text FROM documents WHERE name = 'north-nurse'")
                  .fetchone()[0])
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("c")
    page.wait_for_selector("#code-picker[open]")
    page.keyboard.type(free.split()[0].lower())
    page.keyboard.press("Enter")
    frame = wait_log(page, project, 3)
    last = frame.iloc[-1]
    assert last.action == "add" and last.code == free and int(last.segment_id) == here
    words = text[int(last.start):int(last.end)]
    assert len(words.split()) == 3 and words == words.strip()
    page.wait_for_selector(f"#s-{here} .piece.hl")

    # adjust by mouse: double-click one word, then the code's adjust button
    page.locator(f"#s-{here} .piece.hl").dblclick()  # one word of the three
    page.locator(f'#s-{here} .mine-row button[value="adjust:{free}"]').click()
    frame = wait_log(page, project, 4)
    assert frame.action.iloc[-1] == "adjust" and frame.code.iloc[-1] == free
    adjusted = text[int(frame.start.iloc[-1]):int(frame.end.iloc[-1])]
    assert adjusted and " " not in adjusted.strip()
    spans = _store(project, lambda con: coding(con, "alice"))
    assert [(int(r.start), int(r.end)) for r in spans.itertuples() if r.code == free] == [
        (int(frame.start.iloc[-1]), int(frame.end.iloc[-1]))]

    # a memo on the passage: m, type, save (in place)
    page.keyboard.press("m")
    page.keyboard.type("Triumvirate as shared decision")
    page.locator(f"#s-{here} #memo-form button").click()
    page.wait_for_selector(f"#s-{here} .memo >> text=Triumvirate as shared decision")
    memos = _store(project, memos_frame)
    assert list(memos.text) == ["Triumvirate as shared decision"] and int(memos.segment_id.iloc[0]) == here

    # undo takes the adjustment back: the three words are the span again
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("u")
    frame = wait_log(page, project, 5)
    assert frame.action.iloc[-1] == "undo"
    page.wait_for_selector(".flash.ok >> text=Undone")
    spans = _store(project, lambda con: coding(con, "alice"))
    assert [text[int(r.start):int(r.end)] for r in spans.itertuples() if r.code == free] == [words]
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
