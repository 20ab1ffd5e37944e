"""The transcript view's free coding, memos and media over Flask's test client and the library:
code any selection with any code (one ``add`` per passage it covers, carrying the span), adjust
and remove it, undo it; memos on every target, kept as versions, searched, shown and exported
(REFI-QDA notes both ways, the sheet, the tidy table, the CLI); the recording a manifest names,
and nothing else, served to the page; every passage decided without JavaScript. A SYNTHETIC
interview."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nlp_theming import Project, store
from nlp_theming.exchange.refi_import import import_qdpx
from nlp_theming.exchange.refi_qda import export_qdpx, validate_qde
from nlp_theming.exchange.tidy import suggestions_with_memos
from nlp_theming.review import actions
from nlp_theming.review.memos import memo, search_memos
from nlp_theming.review.server import create_app
from nlp_theming.review.sheet import export_sheet, import_sheet
from nlp_theming.store.decisions import DecisionError, coding, decisions_frame, reviewed
from nlp_theming.store.memos import MemoError, memos_frame
from nlp_theming.suggest import partial_labels
from tests.helpers.paths import SHARED
from tests.helpers.runs import store_run

# SYNTHETIC: a diarised interview whose second answer is long enough to make two coding units
LONG = ("The board meets monthly. The medical director chairs it. We go through the quality report. "
        "Then the units report on their budgets. Nobody likes that part.")
TURNS = [
    ("SPEAKER_00", "How is the board organised?"),
    ("SPEAKER_01", "It is small and it works."),
    ("SPEAKER_00", "And what happens there?"),
    ("SPEAKER_01", LONG),
    ("SPEAKER_00", "Anything else?"),
    ("SPEAKER_01", "The weather was lovely on the way in today."),
]
AUDIO = b"ID3SYNTHETIC-NOT-REAL-AUDIO" + bytes(range(256)) * 4


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "t"
    folder.mkdir()
    rows = ["start,end,speaker,text"] + [f'{i * 10},{i * 10 + 9},{s},"{t}"' for i, (s, t) in enumerate(TURNS)]
    (folder / "board-1.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "audio").mkdir()
    (folder / "audio" / "board-1.mp3").write_bytes(AUDIO)
    (folder / "secret.txt").write_text("not for the page\n", encoding="utf-8")
    (folder / "manifest.csv").write_text("file,participant,role,site,interviewer,media\n"
                                         "board-1.csv,P07,nurse,North,SPEAKER_00,audio/board-1.mp3\n", encoding="utf-8")
    (tmp_path / "codebook.csv").write_text("code,description,parent\nStructure,,\nBoards,Boards,Structure\n"
                                           "Units,Clinical units,Structure\nPeople,Who is there,Structure\n",
                                           encoding="utf-8")
    with Project.init(tmp_path / "p") as p:
        p.ingest([folder / "board-1.csv"], manifest=folder / "manifest.csv")
        p.load_codebook(tmp_path / "codebook.csv")
        segs = p.segments().query("speaker_role == 'participant'")
        store_run(p, [(s, "Boards", 0.8) for s in segs.segment_id] + [(s, "Units", 0.4) for s in segs.segment_id])
    return tmp_path / "p"


def _segments(project: Path) -> pd.DataFrame:
    with Project(project) as p:
        return p.segments().query("speaker_role == 'participant'").reset_index(drop=True)


def _long_turn(project: Path) -> tuple[list[int], int, str]:
    """The two segments of the long answer, where that answer starts in the text, and the text."""
    segs = _segments(project)
    with Project(project) as p:
        text = str(p.con.execute("SELECT text FROM documents").fetchone()[0])
    start = text.index(LONG)
    ids = segs[(segs.start >= start) & (segs.end <= start + len(LONG))].segment_id.astype(int).tolist()
    return ids, start, text


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


FETCH = {"X-Requested-With": "fetch"}


def test_code_a_selection_over_two_passages_adjust_remove_and_undo(project: Path) -> None:
    (one, two), base, text = _long_turn(project)
    assert one != two  # the long answer is two coding units
    client = create_app(project, coder="ana").test_client()
    token = _token(client.get("/document/board-1").get_data(as_text=True))
    # "The medical director ... report on their budgets." runs across both units
    start = base + LONG.index("The medical director")
    end = base + LONG.index(" Nobody")
    reply = client.post("/passage", headers=FETCH, data={"csrf_token": token, "segment_id": one, "do": "code:People",
                                                         "start": start, "end": end, "document": "board-1"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    html = reply.get_data(as_text=True)
    # both passages come back, with the selection highlighted where it starts and ends
    assert f'id="s-{one}"' in html and f'id="s-{two}"' in html and "Coded the selection People (2 passages)" in html
    assert f'class="piece hl" data-offset="{start}"' in html and 'title="coded by you: People"' in html
    with Project(project) as p:
        log = decisions_frame(p.con, "ana")
        assert list(log.action) == ["add", "add"] and set(log.segment_id) == {one, two}
        assert set(zip(log.start, log.end, strict=True)) == {(start, end)}
        assert log.note.iloc[0] == log.note.iloc[1] and log.note.iloc[0].startswith("batch:")
        rows = coding(p.con, "ana")
        assert {(int(r.segment_id), r.code, int(r.start), int(r.end)) for r in rows.itertuples()} == {
            (one, "People", start, end), (two, "People", start, end)}
        # People was never suggested: the matcher learns it as a positive on both passages
        decided = reviewed(p.con)
        assert set(decided[decided.applies].segment_id) == {one, two}
        index = {one: 0, two: 1}
        rows_, y = partial_labels(decided, set(), index, {"Boards": 0, "Units": 1, "People": 2})
        assert rows_ == [0, 1] and np.array_equal(y[:, 2], [1.0, 1.0]) and np.isnan(y[:, 0]).all()

    # adjust: the span shrinks to the first unit only; the second loses the code
    new_start, new_end = base + LONG.index("The medical"), base + LONG.index(" We go")
    reply = client.post("/passage", headers=FETCH, data={"csrf_token": token, "segment_id": one,
                                                         "do": "adjust:People", "start": new_start, "end": new_end})
    assert reply.status_code == 200 and "Span of People adjusted" in reply.get_data(as_text=True)
    with Project(project) as p:
        rows = coding(p.con, "ana")
        assert {(int(r.segment_id), int(r.start), int(r.end)) for r in rows.itertuples()} == {(one, new_start, new_end)}
        assert list(decisions_frame(p.con, "ana").action[-2:]) == ["adjust", "reject"]
    assert text[new_start:new_end] == "The medical director chairs it."

    # remove, then undo the removal, then undo the adjustment: back to the two-passage span
    reply = client.post("/passage", headers=FETCH, data={"csrf_token": token, "segment_id": one, "do": "remove:People"})
    assert reply.status_code == 200
    with Project(project) as p:
        assert coding(p.con, "ana").empty
    assert client.post("/undo", headers=FETCH, data={"csrf_token": token, "document": "board-1"}).status_code == 200
    undone = client.post("/undo", headers=FETCH, data={"csrf_token": token, "document": "board-1"})
    assert "Undone: 2 decisions (a batch)" in undone.get_data(as_text=True)
    with Project(project) as p:
        assert {(int(r.segment_id), int(r.start)) for r in coding(p.con, "ana").itertuples()} == {
            (one, start), (two, start)}


def test_free_coding_refuses_what_it_must(project: Path) -> None:
    (one, _), base, _ = _long_turn(project)
    first = int(_segments(project).segment_id.iloc[0])
    with Project(project) as p:
        with pytest.raises(DecisionError, match="meta-theme"):
            actions.code_span(p.con, "ana", one, base, base + 10, "Structure")
        with pytest.raises(DecisionError, match="unknown code"):
            actions.code_span(p.con, "ana", one, base, base + 10, "Nope")
        # a selection reaching into the interviewer's question before the answer
        with pytest.raises(DecisionError):
            actions.code_span(p.con, "ana", one, base - 12, base + 10, "Boards")
        # a selection in another turn than the passage's
        with pytest.raises(DecisionError, match="speaker's turn"):
            actions.code_span(p.con, "ana", first, base, base + 10, "Boards")
        with pytest.raises(DecisionError, match="not applied"):
            actions.remove_code(p.con, "ana", one, "Boards")
        assert decisions_frame(p.con).empty  # nothing half-recorded
    client = create_app(project, coder="ana").test_client()
    token = _token(client.get("/document/board-1").get_data(as_text=True))
    refused = client.post("/passage", headers=FETCH, data={"csrf_token": token, "segment_id": one,
                                                           "do": "adjust:Boards", "start": base, "end": base + 5})
    assert refused.status_code == 409 and "nothing to adjust" in refused.get_data(as_text=True)
    # the whole passage, without a selection: an add of a code the machine never suggested
    whole = client.post("/passage", headers=FETCH, data={"csrf_token": token, "segment_id": one, "do": "code:People"})
    assert whole.status_code == 200 and 'class="chip mine"' in whole.get_data(as_text=True)


def test_every_passage_is_decided_without_javascript(project: Path) -> None:
    segs = _segments(project).segment_id.astype(int).tolist()
    client = create_app(project, coder="ana").test_client()
    html = client.get("/document/board-1").get_data(as_text=True)
    token = _token(html)
    # a plain form on every passage, accept and reject buttons on every suggestion of it
    assert html.count('class="pform') == len(TURNS) + 1  # the long answer is two passages
    for sid in segs:
        form = re.search(rf'id="s-{sid}".*?<form method="post" action="/passage"(.*?)</form>', html, re.S).group(1)
        assert 'value="accept:Boards"' in form and 'value="reject:Units"' in form
    for sid in segs:  # not one of them in focus: each decided from its own form
        assert client.post("/passage", data={"csrf_token": token, "segment_id": sid, "document": "board-1",
                                             "do": "reject:Units"}).status_code == 302
        assert client.post("/passage", data={"csrf_token": token, "segment_id": sid, "document": "board-1",
                                             "do": "accept:Boards"}).status_code == 302
    with Project(project) as p:
        log = decisions_frame(p.con, "ana")
    assert len(log) == 2 * len(segs) and set(log.action) == {"accept", "reject"}
    page = client.get("/document/board-1").get_data(as_text=True)
    assert "<strong>0</strong> still to decide" in page and 'value="accept:Boards"' not in page


def test_memos_on_every_target_versions_search_and_blind(project: Path) -> None:
    (one, _), _, _ = _long_turn(project)
    with Project(project) as p:
        d = actions.accept(p.con, "ana", one, "Boards")
        key, _ = memo(p.con, "ana", "segment", "First reading: board as ritual", segment_id=one)
        memo(p.con, "ana", "segment", "Board as ritual; compare North", edits=key)
        memo(p.con, "ana", "decision", "Accepted though borderline", decision_id=d)
        memo(p.con, "ana", "document", "Interview ran late", document="board-1")
        memo(p.con, "ana", "code", "Use Boards only for the trust board", code="Boards")
        memo(p.con, "bo", "project", "Second coder joins in May")
        with pytest.raises(MemoError, match="own memos"):
            memo(p.con, "bo", "segment", "hijack", edits=key)
        with pytest.raises(MemoError, match="no document"):
            memo(p.con, "ana", "document", "x", document="nope")
        with pytest.raises(MemoError, match="unknown code"):
            memo(p.con, "ana", "code", "x", code="Nope")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            p.con.execute("UPDATE memos SET text = 'x'")
        now = memos_frame(p.con)
        assert len(now) == 5 and "Board as ritual; compare North" in set(now.text)
        history = memos_frame(p.con, history=True)
        assert list(history[history.memo == key].text) == ["First reading: board as ritual",
                                                           "Board as ritual; compare North"]
        assert list(search_memos(p.con, "ritual north").text) == ["Board as ritual; compare North"]
        assert list(search_memos(p.con, "ritual", viewer="bo", blind=True).text) == []
        decision_memo = now[now.target == "decision"].iloc[0]
        assert int(decision_memo.segment_id) == one and decision_memo.code == "Boards"
        assert p.memos("late").text.tolist() == ["Interview ran late"]

    client = create_app(project, coder="ana").test_client()
    page = client.get(f"/document/board-1?segment={one}").get_data(as_text=True)
    assert "Board as ritual; compare North" in page and "Interview ran late" in page  # margin, header
    assert "First reading" not in page  # the old version is history
    assert "Use Boards only for the trust board" in client.get("/review?theme=Boards&status=").get_data(as_text=True)
    assert "Second coder joins in May" in client.get("/status").get_data(as_text=True)
    found = client.get("/memos?q=borderline").get_data(as_text=True)
    assert "Accepted though borderline" in found and "Interview ran late" not in found
    blind = create_app(project, coder="bo", blind=True).test_client()
    assert "ritual" not in blind.get("/memos").get_data(as_text=True)

    # written from the page: a passage memo by fetch, a new version when edited, withdrawn when emptied
    token = _token(page)
    reply = client.post("/memo", headers=FETCH, data={"csrf_token": token, "target": "segment", "segment_id": one,
                                                      "document": "board-1", "text": "Edited <b>here</b>",
                                                      "edits": key})
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "Edited &lt;b&gt;here&lt;/b&gt;" in body and "<b>here" not in body
    assert client.post("/memo", data={"csrf_token": token, "target": "project", "text": "", "edits": "nope",
                                      "back": "/status"}).status_code == 302
    with Project(project) as p:
        assert len(memos_frame(p.con, history=True).query(f"memo == '{key}'")) == 3


def test_memos_are_exported_and_imported(project: Path, tmp_path: Path) -> None:
    (one, _), _, _ = _long_turn(project)
    first = int(_segments(project).segment_id.iloc[0])
    with Project(project) as p:
        d = actions.accept(p.con, "ana", one, "Boards")
        memo(p.con, "ana", "decision", "Borderline accept", decision_id=d)
        memo(p.con, "ana", "segment", "Nobody coded this, but note it", segment_id=first)
        memo(p.con, "ana", "document", "Ran late", document="board-1")
        memo(p.con, "ana", "code", "Trust board only", code="Boards")
        memo(p.con, "bo", "project", "Agreement study in May")
        table = suggestions_with_memos(p.con)
        row = table[(table.segment_id == one) & (table.code == "Boards")]
        assert row.memo.iloc[0] == "ana: Borderline accept"
        assert (table[table.segment_id == first].memo == "ana: Nobody coded this, but note it").all()
        out = tmp_path / "study.qdpx"
        report = export_qdpx(p.con, out)
        assert report.notes == 5 and "bo" in report.users
    with zipfile.ZipFile(out) as z:
        qde = z.read("project.qde")
    xsd = SHARED / "refi-qda" / "Project-mrt2019.xsd"
    if xsd.exists():
        assert validate_qde(qde, xsd) == []
    assert qde.count(b"<Note ") == 5 and qde.count(b"<NoteRef ") == 5

    # into a fresh project: the notes come back as memos where they were, and only once
    with Project.init(tmp_path / "fresh") as fresh:
        result = import_qdpx(fresh.con, out)
        assert result.memos == 5 and not [w for w in result.warnings if "note" in w.lower()], result.warnings
        back = memos_frame(fresh.con)
        assert set(zip(back.coder, back.target, back.text, strict=True)) == {
            ("ana", "decision", "Borderline accept"), ("ana", "segment", "Nobody coded this, but note it"),
            ("ana", "document", "Ran late"), ("ana", "code", "Trust board only"),
            ("bo", "project", "Agreement study in May")}
        decided = decisions_frame(fresh.con)
        target = int(back[back.target == "decision"].decision_id.iloc[0])
        assert decided.set_index("id").loc[target, "action"] == "import"
        assert import_qdpx(fresh.con, out).memos == 0  # a second import stores nothing new

    # the review sheet: a memo column out, an edited memo cell in (a new version)
    sheet = tmp_path / "ana.csv"
    with Project(project) as p:
        memo(p.con, "ana", "segment", "Sheet memo", segment_id=one)
        export_sheet(p.con, "ana", sheet, status=None)
        frame = pd.read_csv(sheet, dtype=str, keep_default_na=False)
        assert (frame[frame.segment_id == str(one)].memo == "Sheet memo").all()
        frame.loc[frame.segment_id == str(first), "memo"] = "New from the sheet"
        frame.to_csv(sheet, index=False)
        first_import = import_sheet(p.con, sheet, "ana")
        assert first_import.memos == 1 and not first_import.problems
        assert import_sheet(p.con, sheet, "ana").memos == 0
        assert "New from the sheet" in set(memos_frame(p.con, "ana").text)

    # the command line
    listed = subprocess.run([sys.executable, "-m", "nlp_theming.cli", "memos", str(project), "-q", "may"],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "bo on the project: Agreement study in May" in listed.stdout
    csv = tmp_path / "memos.csv"
    wrote = subprocess.run([sys.executable, "-m", "nlp_theming.cli", "memos", str(project), "--out", str(csv)],
                           capture_output=True, text=True, timeout=120)
    assert wrote.returncode == 0 and set(pd.read_csv(csv).target) == {"decision", "segment", "document", "code",
                                                                       "project"}


def test_an_older_store_gains_the_memos_table(project: Path) -> None:
    con = sqlite3.connect(store.db_path(project))
    con.execute("DROP TRIGGER memos_no_update")
    con.execute("DROP TRIGGER memos_no_delete")
    con.execute("DROP TABLE memos")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with Project(project) as p:
        assert store.get_meta(p.con, "schema_version") == str(store.schema.SCHEMA_VERSION)
        memo(p.con, "ana", "project", "works after the migration")
    con = sqlite3.connect(store.db_path(project))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(store.ProjectError, match="newer nlp-theming"):
        store.open_project(project)


def test_the_recording_is_served_and_nothing_else(project: Path, tmp_path: Path) -> None:
    client = create_app(project, coder="ana").test_client()
    page = client.get("/document/board-1")
    assert "media-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert '<audio id="media" controls preload="metadata" src="/media/board-1">' in html
    assert 'class="muted seek" data-t="30.0"' in html  # the passage's start time, to play from
    got = client.get("/media/board-1")
    assert got.status_code == 200 and got.data == AUDIO and got.mimetype == "audio/mpeg"
    part = client.get("/media/board-1", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == AUDIO[10:20]  # seeking works
    for path in ("/media/../t/secret.txt", "/media/..%2Ft%2Fsecret.txt", "/media/board-1/../../t/secret.txt",
                 "/media/%2E%2E/manifest.csv", "/media/nope"):
        reply = client.get(path)
        assert reply.status_code in (404, 308) and b"not for the page" not in reply.data, path
    # a media attribute naming something that is not a recording is refused too
    with Project(project) as p:
        doc_id = int(p.con.execute("SELECT id FROM documents").fetchone()[0])
        p.con.execute("UPDATE document_attributes SET value = ? WHERE document_id = ? AND key = 'media'",
                      (str(tmp_path / "t" / "secret.txt"), doc_id))
    refused = client.get("/media/board-1")
    assert refused.status_code == 404 and b"not for the page" not in refused.data
