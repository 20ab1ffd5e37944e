"""The review page in a real headless Chromium: keys, bulk accept, two coders at once, untrusted
text, CSRF, and a server killed and restarted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from nlp_theming import store
from nlp_theming.review import coding, decisions_frame, review_queue
from tests.helpers.review import BOLD, XSS

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class ThreadServer:
    """The review app on 127.0.0.1, a free port, in a thread of the test process."""

    def __init__(self, project: Path, **options: object) -> None:
        from werkzeug.serving import make_server

        from nlp_theming.review.server import create_app

        self.server = make_server("127.0.0.1", 0, create_app(project, **options), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server(project: Path) -> Iterator[ThreadServer]:
    s = ThreadServer(project)
    yield s
    s.stop()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def login(page: object, url: str, coder: str) -> None:
    page.goto(url)
    assert "/coder" in page.url  # asked on the first visit
    page.fill("#coder-name", coder)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/review" in page.url


def press(page: object, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def current(page: object) -> str:
    return page.get_attribute(".layout", "data-item")


def log(project: Path, coder: str | None = None) -> pd.DataFrame:
    con = store.open_project(project)
    try:
        return decisions_frame(con, coder)
    finally:
        con.close()


def applied(project: Path, coder: str) -> set[str]:
    con = store.open_project(project)
    try:
        return {f"{int(r.segment_id)}:{r.code}" for r in coding(con, coder).itertuples()}
    finally:
        con.close()


def queue(project: Path, coder: str, **kwargs: object) -> pd.DataFrame:
    con = store.open_project(project)
    try:
        return review_queue(con, coder, **kwargs)
    finally:
        con.close()


def test_review_a_batch_by_keyboard_change_adjust_undo(server: ThreadServer, page: object, project: Path) -> None:
    login(page, server.url, "alice")
    assert page.locator("#progress").get_attribute("value") == "0"
    first = current(page)
    press(page, "a")
    second = current(page)
    press(page, "r")
    third = current(page)
    press(page, "a")
    skipped = current(page)
    press(page, "n")  # decide later
    fifth = current(page)
    assert len({first, second, third, skipped, fifth}) == 5
    assert page.locator("#progress").get_attribute("value") == "3"

    # change: the searchable codebook tree, filtered by typing, chosen with Enter
    page.keyboard.press("c")
    assert page.locator("#picker").is_visible()
    code = fifth.split(":", 1)[1]
    target = "Hierarchy and voice" if code != "Hierarchy and voice" else "Time and workload"
    page.keyboard.type(target.split()[0].lower()[:5])
    visible = page.locator("#picker-tree li:not([hidden]) .leaf-code").all_inner_texts()
    assert visible == [target]
    press(page, "Enter")
    segment = fifth.split(":", 1)[0]
    assert f"{segment}:{target}" in applied(project, "alice")

    # undo: the change is cancelled, the suggestion is pending again and shown
    press(page, "u")
    assert "Undone: change" in page.locator(".flash").inner_text()
    assert current(page) == fifth
    assert page.locator("#item-status").inner_text().strip() == "pending"
    assert applied(project, "alice") == {first, third}

    # only the segment's own turn can be selected for a span: the turns around it carry no offsets
    assert page.locator(".turn:not(.focus-turn) .piece").count() == 0
    page.evaluate("""() => {
        const text = document.querySelector('.turn:not(.focus-turn) .ctx').firstChild;
        const range = document.createRange();
        range.setStart(text, 0); range.setEnd(text, 5);
        getSelection().removeAllRanges(); getSelection().addRange(range);
    }""")
    page.keyboard.press("s")
    assert "highlighted turn" in page.locator(".flash").inner_text()

    # adjust: select words of the highlighted segment, press s
    page.evaluate("""() => {
        const text = document.querySelector('.piece.focus').firstChild;
        const range = document.createRange();
        range.setStart(text, 0); range.setEnd(text, 12);
        getSelection().removeAllRanges(); getSelection().addRange(range);
    }""")
    offset = int(page.get_attribute(".piece.focus", "data-offset"))
    selected = page.evaluate("() => getSelection().toString()")
    press(page, "s")
    adjust = log(project, "alice").iloc[-1]
    assert adjust.action == "adjust" and adjust.code == code
    assert (adjust.start, adjust.end) == (offset, offset + len(selected.rstrip()))
    assert list(log(project, "alice").action) == ["accept", "reject", "accept", "change", "undo", "adjust"]
    assert not page.errors


def test_bulk_accept_asks_first_and_undoes_as_one(server: ThreadServer, page: object, project: Path) -> None:
    login(page, server.url, "bob")
    expected = queue(project, "bob", theme="Doing the role", min_score=0.3, status="pending")
    assert len(expected) >= 2
    page.keyboard.press("b")
    page.select_option("#bulk-theme", "Doing the role")
    page.fill("#bulk input[name=min_score]", "0.3")
    with page.expect_navigation():
        page.click("#bulk button[type=submit]")
    assert f"Accept {len(expected)} suggestions of Doing the role?" in page.locator("h1").inner_text()
    assert len(page.locator("table.sample tbody tr").all()) == len(expected)
    assert log(project).empty  # nothing recorded before the confirmation
    press(page, "Enter")
    assert f"Accepted {len(expected)}" in page.locator(".flash").inner_text()
    assert applied(project, "bob") == set(expected.key)
    press(page, "u")
    assert applied(project, "bob") == set()
    assert f"Undone: {len(expected)} decisions" in page.locator(".flash").inner_text()


def test_two_coders_at_once_lose_nothing(server: ThreadServer, browser: object, project: Path) -> None:
    pages = []
    for name in ("alice", "bob"):
        pg = browser.new_context().new_page()
        login(pg, server.url, name)
        pages.append(pg)
    alice, bob = pages
    for _ in range(4):  # both press "a" before either page has come back
        with alice.expect_navigation(), bob.expect_navigation():
            alice.keyboard.press("a")
            bob.keyboard.press("a")
    # and a burst: every remaining pending suggestion rejected by both, all requests in flight together
    rest = queue(project, "alice", status="pending").key.tolist()
    burst = """(keys) => {
        const token = document.querySelector('meta[name=csrf-token]').content;
        window.__burst = Promise.all(keys.map((key) => fetch('/decide', {
            method: 'POST', redirect: 'manual', headers: {'X-CSRF-Token': token},
            body: new URLSearchParams({key: key, action: 'reject'}),
        }).then((r) => r.type)));
    }"""
    alice.evaluate(burst, rest)
    bob.evaluate(burst, rest)
    for pg in pages:
        assert pg.evaluate("() => window.__burst") == ["opaqueredirect"] * len(rest)
    everything = log(project)
    for name in ("alice", "bob"):
        mine = everything[everything.coder == name]
        assert list(mine.action).count("accept") == 4
        assert list(mine.action).count("reject") == len(rest)
        statuses = queue(project, name).status.value_counts()
        assert statuses.get("pending", 0) == 0 and statuses["accepted"] == 4
    for pg in pages:
        pg.context.close()


def test_transcript_html_renders_as_text(server: ThreadServer, page: object, project: Path) -> None:
    login(page, server.url, "alice")
    rows = queue(project, "alice")
    key = rows[rows.text.str.contains("<script>", regex=False)].key.iloc[0]
    page.goto(f"{server.url}review?status=&item={key}")
    assert current(page) == key
    talk = page.locator(".piece.focus").inner_text()
    assert XSS in talk and BOLD in talk
    assert page.locator(".turns script, .turns b, main b").count() == 0
    assert page.evaluate("() => window.__xss") is None
    # also where segment texts appear elsewhere: the bulk confirmation, the examples
    code = key.split(":", 1)[1]
    page.goto(f"{server.url}bulk?theme={code}&min_score=0")
    assert XSS in page.locator("table.sample").inner_text()
    assert page.locator("table.sample b, table.sample script").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert not page.errors


def test_post_without_csrf_token_is_refused(server: ThreadServer, page: object, project: Path) -> None:
    login(page, server.url, "alice")
    key = current(page)
    token = page.get_attribute("meta[name=csrf-token]", "content")
    url = server.url + "decide"
    form = {"key": key, "action": "accept"}
    assert page.request.post(url, form=form, max_redirects=0).status == 403
    assert page.request.post(url, form={**form, "csrf_token": "0" * 64}, max_redirects=0).status == 403
    other_site = {"Origin": "http://evil.example"}
    assert page.request.post(url, form={**form, "csrf_token": token}, headers=other_site, max_redirects=0).status == 403
    # a page on another origin submitting a form here: no token, and the cookies stay home
    page.goto("about:blank")
    page.set_content(f'<form method="post" action="{url}"><input name="key" value="{key}">'
                     f'<input name="action" value="accept"></form>')
    with page.expect_navigation():
        page.evaluate("() => document.forms[0].submit()")
    assert "Refused" in page.content()
    assert log(project).empty
    # the same request with the page's token goes through
    assert page.request.post(url, form={**form, "csrf_token": token}, max_redirects=0).status in (302, 303)
    assert list(log(project).action) == ["accept"]


def test_blind_mode_hides_other_coders(project: Path, browser: object) -> None:
    s = ThreadServer(project, blind=True)
    try:
        pages = []
        for name in ("alice", "bob"):
            pg = browser.new_context().new_page()
            login(pg, s.url, name)
            pages.append(pg)
        alice, bob = pages
        key = current(alice)
        press(alice, "a")
        bob.goto(f"{s.url}review?status=&item={key}")
        assert bob.locator("#item-status").inner_text().strip() == "pending"
        assert bob.locator(".others").count() == 0
        bob.goto(s.url + "status")
        assert "alice" not in bob.locator("main").inner_text()
        bob.goto(s.url + "coder")
        assert bob.locator("[data-fill]").count() == 0  # not even the other coders' names
        for pg in pages:
            pg.context.close()
    finally:
        s.stop()


def _start(project: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlp_theming.cli", "serve", str(project), "--port", "0", "--coder", "erin"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = proc.stdout.readline()  # "Reviewing PROJECT at URL ..."
    assert " at http://127.0.0.1:" in line, line
    return proc, line.split(" at ", 1)[1].split()[0]


def test_kill_and_restart_loses_nothing(project: Path, page: object) -> None:
    proc, url = _start(project)
    try:
        page.goto(url)  # --coder: nobody is asked
        decided = []
        for key in ("a", "r", "a"):
            decided.append(current(page))
            press(page, key)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # what the page showed as done is on disk, with the server dead
    con = sqlite3.connect(project / "project.db")
    rows = con.execute("SELECT action, segment_id || ':' || code FROM decisions ORDER BY id").fetchall()
    con.close()
    assert rows == [("accept", decided[0]), ("reject", decided[1]), ("accept", decided[2])]
    proc, url = _start(project)
    try:
        page.goto(url)
        assert page.locator("#progress").get_attribute("value") == "3"
        press(page, "u")
        assert applied(project, "erin") == {decided[0]}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


HOSTILE = "<img src=x onerror=window.__xss=2>"


def test_codebook_and_example_text_render_as_text(project: Path, browser: object) -> None:
    """A codebook file is user input too: names, definitions and rules with markup stay text; so
    does a confirmed passage shown as a nearest example."""
    import csv

    from nlp_theming import Project
    from nlp_theming.review import actions
    from nlp_theming.suggest import SuggestConfig, run_suggest
    from tests.helpers.review import CODEBOOK

    hostile_code = f"Hierarchy and voice {HOSTILE}"
    path = project.parent / "hostile-codebook.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["code", "group", "description", "inclusion", "exclusion", "examples"])
        for code, group, description, inclusion, exclusion, examples in CODEBOOK:
            if code == "Hierarchy and voice":
                code, description = hostile_code, f"{description} {HOSTILE}"
                inclusion, exclusion, examples = f"{inclusion} {BOLD}", f"{XSS}", f"{examples} | {XSS}"
            w.writerow([code, group, description, inclusion, exclusion, examples])
    with Project(project) as p:
        p.load_codebook(path)
        run_suggest(p.con, SuggestConfig(seed=0, discover=False))
        # bob confirms the hostile code on the passage with markup in it: it becomes a nearest example
        seg = p.con.execute("SELECT t.segment_id FROM segment_texts t JOIN segments s ON s.id = t.segment_id"
                            " WHERE t.text LIKE '%<script>%' AND s.role = 'participant'").fetchone()[0]
        actions.add(p.con, "bob", seg, hostile_code)
    rows = queue(project, "alice", theme=hostile_code)
    key = rows[rows.segment_id != seg].key.iloc[0]
    s = ThreadServer(project)
    try:
        pg = browser.new_context().new_page()
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        login(pg, s.url, "alice")
        pg.goto(f"{s.url}review?status=&item={key}")
        assert current(pg) == key
        assert pg.locator("#current-code").inner_text() == hostile_code
        why = pg.locator(".why").inner_text()
        assert HOSTILE in why and XSS in why and BOLD in why
        assert XSS in pg.locator("ol.examples").inner_text()  # the nearest confirmed example, as text
        pg.keyboard.press("c")  # the picker lists the codebook: names and descriptions
        assert pg.locator("#picker").is_visible()
        assert hostile_code in pg.locator("#picker-tree").inner_text()
        assert "Change “" + hostile_code in pg.locator("#picker-title").inner_text()
        assert pg.locator("main img, main script, main b").count() == 0
        assert pg.evaluate("() => window.__xss") is None
        assert not pg.errors
        pg.context.close()
    finally:
        s.stop()


def test_next_redirects_only_to_this_server(server: ThreadServer, page: object) -> None:
    from urllib.parse import urlsplit

    page.goto(server.url)  # the coder page: a session and its CSRF token
    token = page.get_attribute("meta[name=csrf-token]", "content")
    here = urlsplit(server.url).netloc
    evil = ["//evil.example/", "/\t/evil.example/", "/\n/evil.example", " //evil.example", "/\\evil.example",
            "\\\\evil.example", "https://evil.example/", "///evil.example", "javascript:alert(1)", "/\x00/evil.example",
            "//[evil.example"]
    for target in evil:
        response = page.request.post(server.url + "coder", form={"coder": "alice", "next": target,
                                                                  "csrf_token": token}, max_redirects=0)
        assert response.status in (302, 303), target
        location = urlsplit(response.headers["location"])
        assert location.netloc in ("", here) and location.path == "/review", (target, response.headers["location"])
        assert "evil" not in response.headers["location"]
    # a path on this server is kept
    response = page.request.post(server.url + "coder", form={"coder": "alice", "next": "/status?x=1",
                                                              "csrf_token": token}, max_redirects=0)
    assert urlsplit(response.headers["location"]).path == "/status"


def test_bulk_accept_refuses_what_was_not_previewed(server: ThreadServer, page: object, project: Path) -> None:
    login(page, server.url, "bob")
    page.goto(f"{server.url}bulk?theme=Doing+the+role&min_score=0.3")
    previewed = queue(project, "bob", theme="Doing the role", min_score=0.3, status="pending")
    assert f"Accept {len(previewed)} suggestions" in page.locator("h1").inner_text()
    # meanwhile, in another tab, bob rejects one of them
    con = store.open_project(project)
    try:
        from nlp_theming.review import actions

        actions.reject(con, "bob", previewed.segment_id.iloc[0], previewed.code.iloc[0])
    finally:
        con.close()
    press(page, "Enter")
    assert "changed since the preview" in page.locator(".flash").inner_text()
    assert f"the preview showed {len(previewed)}" in page.locator(".flash").inner_text()
    assert list(log(project, "bob").action) == ["reject"]  # nothing accepted
    # the preview shown again is of what is there now; confirming it accepts exactly that
    assert f"Accept {len(previewed) - 1} suggestions" in page.locator("h1").inner_text()
    press(page, "Enter")
    assert f"Accepted {len(previewed) - 1}" in page.locator(".flash").inner_text()
