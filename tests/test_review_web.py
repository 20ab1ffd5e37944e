"""The web layer is thin: a blueprint of module-level views over the review library.

Flask's test client against a real project (SYNTHETIC transcript, its suggestion run written
through the store's run functions, so no embedding model is needed). The browser tests drive
the same app in Chromium.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from nlp_theming import Project
from nlp_theming.review import actions, web
from nlp_theming.review.server import create_app
from nlp_theming.store.decisions import decisions_frame
from tests.helpers.runs import store_run

TRANSCRIPT = """Interviewer: How is the board organised?
P1: The medical director sits on the board and we meet every month to go through the quality report.
Interviewer: And the clinical units?
P1: Each unit has a clinical director who reports to the division, and it works well enough most weeks.
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "north-1.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (tmp_path / "codebook.csv").write_text("code,description,parent\nStructure,,\nBoards,Boards,Structure\n"
                                           "Units,Clinical units,Structure\n", encoding="utf-8")
    with Project.init(tmp_path / "p") as p:
        p.ingest([tmp_path / "t"])
        p.load_codebook(tmp_path / "codebook.csv")
        segs = p.segments()
        segs = segs[segs.speaker_role == "participant"]
        store_run(p, [(s, "Boards", 0.8) for s in segs.segment_id] + [(s, "Units", 0.4) for s in segs.segment_id])
    return tmp_path / "p"


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'content="([^"]+)" name="csrf', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_every_view_is_a_module_level_function_on_the_blueprint(project: Path) -> None:
    app = create_app(project)
    views = {rule.endpoint for rule in app.url_map.iter_rules()} - {"static"}
    assert views == {f"review.{n}" for n in ("index", "coder", "review", "decide", "adjust", "undo", "bulk", "status",
                                              "resuggest", "passage", "passage_fragment", "document", "write_memo",
                                              "memos", "media", "speakers", "signin")}
    for endpoint in views:
        func = app.view_functions[endpoint]
        assert inspect.getmodule(func) is web and func.__qualname__ == func.__name__  # not a closure


def test_two_apps_in_one_process_keep_their_own_settings(project: Path, tmp_path: Path) -> None:
    ana, anyone = create_app(project, coder="ana"), create_app(project, blind=True)
    assert ana.extensions["nlp_theming"] is not anyone.extensions["nlp_theming"]
    assert ana.test_client().get("/review").status_code == 200  # ana is fixed: nobody is asked
    response = anyone.test_client().get("/review")
    assert response.status_code == 302 and "/coder" in response.headers["Location"]


def test_a_post_without_the_csrf_token_is_refused_and_a_real_one_records(project: Path) -> None:
    client = create_app(project, coder="ana").test_client()
    page = client.get("/review?per=suggestion")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    html = page.get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', html).group(1)
    refused = client.post("/decide", data={"key": key, "action": "accept"})
    assert refused.status_code == 403
    with Project(project) as p:
        assert decisions_frame(p.con).empty
    done = client.post("/decide", data={"key": key, "action": "accept", "csrf_token": _token(html)})
    assert done.status_code == 302
    with Project(project) as p:
        log = decisions_frame(p.con)
    assert list(log.action) == ["accept"] and log.coder.iloc[0] == "ana"
    status = client.get("/status").get_data(as_text=True)
    # the least certain first: the accepted suggestion is the one scoring 0.4, below the threshold
    assert "been here: of 1 decided suggestions scoring below 0.5, 100% were accepted" in status


def test_the_filters_of_the_page_are_the_queue_filter(project: Path) -> None:
    """Two participant segments, each with Boards (0.8) and Units (0.4): four suggestions."""
    client = create_app(project, coder="ana").test_client()

    def count(query: str) -> int:
        html = client.get(f"/review?{query}").get_data(as_text=True)
        return int(re.search(r"(\d+) in this view", html).group(1))

    assert count("") == 4  # pending, every theme
    assert count("min=0.5") == 2 and count("max=0.5") == 2
    assert count("theme=Units") == 2 and count("theme=Structure") == 4  # a meta-theme takes its themes
    assert count("order=bogus&min=not-a-number") == 4  # lenient: a typed URL never fails
    assert count("status=accepted") == 0 and count("status=") == 4
    assert client.get("/status").status_code == 200


def test_bulk_accept_refuses_a_preview_of_an_older_run(project: Path) -> None:
    from nlp_theming.review import actions
    from nlp_theming.review.queue import review_queue
    from nlp_theming.store.decisions import DecisionError

    with Project(project) as p:
        preview = review_queue(p.con, "ana", theme="Boards", min_score=0.5, status="pending")
        old_run, digest = int(preview.run_id.iloc[0]), actions.bulk_digest(preview.key)
        segs = p.segments().query("speaker_role == 'participant'").segment_id
        store_run(p, [(s, "Boards", 0.9) for s in segs], name="newer")
        with pytest.raises(DecisionError, match="newer suggestion run"):
            actions.bulk_accept(p.con, "ana", "Boards", 0.5, run_id=old_run, expected=digest)
        assert decisions_frame(p.con).empty


def test_the_status_page_updates_the_suggestions_from_the_decisions(project: Path) -> None:
    from nlp_theming.store.runs import latest_run

    app = create_app(project, coder="ana")
    client = app.test_client()
    with Project(project) as p:
        before = latest_run(p.con)
        segment = int(p.segments().query("speaker_role == 'participant'").segment_id.iloc[0])
        actions.reject(p.con, "ana", segment, "Boards")
    page = client.get("/status").get_data(as_text=True)
    assert 'id="resuggest"' in page
    assert client.post("/resuggest", data={}).status_code == 403  # no CSRF token, no run
    reply = client.post("/resuggest", data={"csrf_token": _token(page)}, follow_redirects=True)
    assert reply.status_code == 200 and "Suggestions updated" in reply.get_data(as_text=True)
    with Project(project) as p:
        after = latest_run(p.con)
        assert after > before
        assert "learnt from 1 decided segments" in reply.get_data(as_text=True)
