"""The transcript view and per-passage decisions over Flask's test client: the whole document with
speakers as people, suggestions and codes in the margin, plain forms that work without
JavaScript, the fetch() fragments, blind mode, and a long SYNTHETIC interview read in a fixed
number of queries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nlp_theming import Project
from nlp_theming.review import actions
from nlp_theming.review.document import document_view, speaker_names
from nlp_theming.review.server import create_app
from nlp_theming.store.decisions import coding, decisions_frame, nothing_applies
from tests.helpers.runs import store_run

# SYNTHETIC: a diarised interview (SPEAKER_00 asks, SPEAKER_01 answers), as a CSV of turns
TURNS = [
    ("SPEAKER_00", "How is the board organised?"),
    ("SPEAKER_01", "The medical director sits on the board and we meet every month to go through the quality "
                   "report."),
    ("SPEAKER_00", "And the clinical units?"),
    ("SPEAKER_01", "Each unit has a clinical director who reports to the division. It works well enough most weeks."),
    ("SPEAKER_00", "Anything else?"),
    ("SPEAKER_01", "The weather was lovely on the way in today."),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "t"
    folder.mkdir()
    rows = ["start,end,speaker,text"] + [f'{i * 10},{i * 10 + 9},{s},"{t}"' for i, (s, t) in enumerate(TURNS)]
    (folder / "board-1.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "manifest.csv").write_text("file,participant,role,site,interviewer\nboard-1.csv,P07,nurse,North,"
                                         "SPEAKER_00\n", encoding="utf-8")
    (tmp_path / "codebook.csv").write_text("code,description,parent\nStructure,,\nBoards,Boards,Structure\n"
                                           "Units,Clinical units,Structure\n", encoding="utf-8")
    with Project.init(tmp_path / "p") as p:
        p.ingest([folder / "board-1.csv"], manifest=folder / "manifest.csv")
        p.load_codebook(tmp_path / "codebook.csv")
        segs = p.segments().query("speaker_role == 'participant'")
        store_run(p, [(s, "Boards", 0.8) for s in segs.segment_id] + [(s, "Units", 0.4) for s in segs.segment_id])
    return tmp_path / "p"


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _participant_segments(project: Path) -> list[int]:
    with Project(project) as p:
        return [int(s) for s in p.segments().query("speaker_role == 'participant'").segment_id]


def test_the_transcript_view_shows_people_times_and_suggestions(project: Path) -> None:
    client = create_app(project, coder="ana").test_client()
    page = client.get("/document/board-1")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    html = page.get_data(as_text=True)
    assert html.count('class="passage') == len(TURNS)  # every turn's text: the whole document
    assert "P07 · nurse (SPEAKER_01)" in html and "Interviewer (SPEAKER_00)" in html
    assert "<time>0:10</time>" in html and "<time>0:30</time>" in html
    assert html.count('class="chip sugg pending" title="suggested') == 2 * 3  # two on each answer
    # the first passage with something to decide is in focus, with its form (no JavaScript needed)
    first = _participant_segments(project)[0]
    assert f'id="s-{first}" data-segment="{first}"' in html and html.count('id="passage-form"') == 1
    assert client.get("/document/no-such-thing").status_code == 404


def test_decide_a_passage_with_plain_forms(project: Path) -> None:
    client = create_app(project, coder="ana").test_client()
    one, two, three = _participant_segments(project)
    html = client.get(f"/document/board-1?segment={one}").get_data(as_text=True)
    form = {"csrf_token": _token(html), "segment_id": one, "document": "board-1", "next": two}
    assert client.post("/passage", data={**form, "do": "accept:Boards", "csrf_token": ""}).status_code == 403
    reply = client.post("/passage", data={**form, "do": "accept:Boards"})
    assert reply.status_code == 302 and reply.headers["Location"].endswith(f"segment={one}#s-{one}")  # stays
    reply = client.post("/passage", data={**form, "do": "rest"})
    assert reply.headers["Location"].endswith(f"segment={two}#s-{two}")  # moves on
    with Project(project) as p:
        log = decisions_frame(p.con, "ana")
        assert list(log.action) == ["accept", "reject"] and list(log.code) == ["Boards", "Units"]
    reply = client.post("/passage", data={**form, "segment_id": two, "next": three, "do": "none"})
    assert reply.headers["Location"].endswith(f"segment={three}#s-{three}")
    page = client.get(reply.headers["Location"]).get_data(as_text=True)
    assert "No code applies: recorded." in page and 'class="chip none"' in page
    assert 'class="chip sugg accepted"' in page and 'class="chip sugg rejected"' in page
    # undo from the transcript view comes back to the passage it undid
    reply = client.post("/undo", data={"csrf_token": form["csrf_token"], "document": "board-1"})
    assert reply.headers["Location"].endswith(f"segment={two}#s-{two}")
    with Project(project) as p:
        assert nothing_applies(p.con, "ana").empty
        assert {(int(r.segment_id), r.code) for r in coding(p.con, "ana").itertuples()} == {(one, "Boards")}
    bad = client.post("/passage", data={**form, "do": "explode"}, follow_redirects=True)
    assert "unknown passage decision" in bad.get_data(as_text=True)


def test_fetch_gets_the_passage_back_instead_of_a_reload(project: Path) -> None:
    client = create_app(project, coder="ana").test_client()
    one, two, _ = _participant_segments(project)
    token = _token(client.get("/document/board-1").get_data(as_text=True))
    fetch = {"X-Requested-With": "fetch"}
    reply = client.post("/passage", data={"csrf_token": token, "segment_id": one, "do": "accept:Units"}, headers=fetch)
    assert reply.status_code == 200
    fragment = reply.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="fragments"') and f'data-next="{two}"' in fragment
    assert 'class="chip sugg accepted"' in fragment and "<html" not in fragment
    again = client.post("/passage", data={"csrf_token": token, "segment_id": one, "do": "rest"}, headers=fetch)
    assert again.status_code == 200
    refused = client.post("/passage", data={"csrf_token": token, "segment_id": one, "do": "rest"}, headers=fetch)
    assert refused.status_code == 409 and "decided already" in refused.get_data(as_text=True)
    focus = client.get(f"/passage/{two}").get_data(as_text=True)
    assert 'id="passage-form"' in focus and "Accept Boards" in focus
    assert client.get("/passage/999999").status_code == 404


def test_other_coders_show_unless_blind(project: Path) -> None:
    one = _participant_segments(project)[0]
    with Project(project) as p:
        actions.add(p.con, "ben", one, "Units")
    seen = create_app(project, coder="ana").test_client().get("/document/board-1").get_data(as_text=True)
    assert 'class="chip other" title="applied by ben"' in seen
    blind = create_app(project, coder="ana", blind=True).test_client().get("/document/board-1").get_data(as_text=True)
    assert "ben" not in blind and 'class="chip other"' not in blind


def test_the_review_page_decides_per_passage_and_links_to_the_transcript(project: Path) -> None:
    client = create_app(project, coder="ana").test_client()
    html = client.get("/review").get_data(as_text=True)
    assert "3 passages" in html and 'id="open-transcript" href="/document/board-1?segment=' in html
    segment = int(re.search(r'name="segment_id" value="(\d+)"', html).group(1))
    reply = client.post("/passage", data={"csrf_token": _token(html), "segment_id": segment, "do": "none",
                                          "back": "status=pending", "next": ""})
    assert reply.status_code == 302 and "/review" in reply.headers["Location"]
    with Project(project) as p:
        assert list(nothing_applies(p.con, "ana").segment_id) == [segment]
    assert "2 passages" in client.get("/review").get_data(as_text=True)
    with Project(project) as p:
        actions.add(p.con, "ben", _participant_segments(project)[-1], "Boards")
    untouched = client.get("/review?unreviewed=1&status=").get_data(as_text=True)
    assert "1 passages" in untouched  # ana decided one passage, ben another


def test_bulk_reject_is_previewed_and_recorded(project: Path) -> None:
    client = create_app(project, coder="ana").test_client()
    preview = client.get("/bulk?theme=Units&min_score=0.5&action=reject").get_data(as_text=True)
    assert "Reject 3 suggestions" in preview and "at most" in preview
    fields = dict(re.findall(r'name="(run_id|digest|count|action|min_score)" value="([^"]*)"', preview))
    reply = client.post("/bulk", data={**fields, "theme": "Units", "csrf_token": _token(preview)})
    assert reply.status_code == 302
    with Project(project) as p:
        log = decisions_frame(p.con, "ana")
    assert list(log.action) == ["reject"] * 3 and set(log.code) == {"Units"}


def test_speaker_names_from_the_manifest() -> None:
    turns = [{"speaker": "SPEAKER_00", "is_interviewer": 1}, {"speaker": "SPEAKER_01", "is_interviewer": 0}]
    assert speaker_names(turns, {"participant": "P07", "role": "nurse"}) == {
        "SPEAKER_00": "Interviewer (SPEAKER_00)", "SPEAKER_01": "P07 · nurse (SPEAKER_01)", None: ""}
    group = [*turns, {"speaker": "SPEAKER_02", "is_interviewer": 0}]
    assert speaker_names(group, {"participant": "P07"})["SPEAKER_02"] == "SPEAKER_02"  # a group: labels as they are
    assert speaker_names([{"speaker": "Interviewer", "is_interviewer": 1}], {})["Interviewer"] == "Interviewer"


def test_a_three_hour_interview_is_read_in_a_fixed_number_of_queries(tmp_path: Path) -> None:
    """SYNTHETIC: 1,500 answers (1,500 participant segments), each with three suggestions."""
    lines = []
    for i in range(1500):
        lines += [f"Interviewer: Question number {i}?", f"P1: Answer number {i} is about the board and the units."]
    (tmp_path / "long.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "codebook.csv").write_text("code\nBoards\nUnits\nPeople\n", encoding="utf-8")
    with Project.init(tmp_path / "p") as p:
        p.ingest([tmp_path / "long.txt"])
        p.load_codebook(tmp_path / "codebook.csv")
        segs = p.segments().query("speaker_role == 'participant'").segment_id.tolist()
        assert len(segs) == 1500
        store_run(p, [(s, c, 0.3 + 0.1 * j) for s in segs for j, c in enumerate(("Boards", "Units", "People"))])
        actions.no_code(p.con, "ana", segs[0])
        queries: list[str] = []
        p.con.set_trace_callback(queries.append)
        view = document_view(p.con, "long", "ana")
        p.con.set_trace_callback(None)
        assert len(view.passages) == 3000 and view.counts["pending"] == 1499
        assert len(queries) < 25  # none per segment
    html = create_app(tmp_path / "p", coder="ana").test_client().get("/document/long").get_data(as_text=True)
    assert html.count('class="passage') == 3000 and html.count('id="passage-form"') == 1


def test_unsure_passages_are_marked_and_speakers_are_named_in_the_view(tmp_path: Path) -> None:
    """A recogniser's low confidence marks a passage (and links the queue of such passages); the
    speakers of the whole document are named in one form, kept like the manifest's interviewer."""
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "rec-1.csv").write_text(  # SYNTHETIC
        "start,end,speaker,confidence,text\n"
        "0,4,SPEAKER_00,0.95,How is the ward staffed?\n"
        "5,9,SPEAKER_01,0.31,We are short of nurses most nights.\n"
        "10,14,SPEAKER_00,0.93,And the doctors?\n"
        "15,19,SPEAKER_01,0.97,The doctors are fine.\n", encoding="utf-8")
    with Project.init(tmp_path / "p") as p:
        p.ingest([folder / "rec-1.csv"])
    client = create_app(tmp_path / "p", coder="ana").test_client()
    html = client.get("/document/rec-1").get_data(as_text=True)
    assert html.count("check words") == 1 and "1 passages to check" in html
    unsure = re.search(r'<div class="passage[^"]*unsure[^"]*"[^>]*>.*?</p>', html, re.S).group(0)
    assert "short of nurses" in unsure
    named = client.post("/speakers", data={"csrf_token": _token(html), "document": "rec-1",
                                           "label": ["SPEAKER_00", "SPEAKER_01"], "name": ["Interviewer", "P4"],
                                           "interviewer": "SPEAKER_00"})
    assert named.status_code == 302
    with Project(tmp_path / "p") as p:
        roles = set(p.segments()[["speaker", "speaker_role"]].itertuples(index=False, name=None))
    assert roles == {("Interviewer", "interviewer"), ("P4", "participant")}
    # without a CSRF token nothing changes
    assert client.post("/speakers", data={"document": "rec-1", "label": "P4", "name": "X"}).status_code == 403
    with Project(tmp_path / "p") as p:
        assert set(p.segments().speaker) == {"Interviewer", "P4"}
