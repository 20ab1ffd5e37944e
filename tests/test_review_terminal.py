"""Terminal review driven through click's CliRunner, keys typed as input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from nlp_theming import store
from nlp_theming.cli import main
from nlp_theming.review import coding, decisions_frame, review_queue


def _queue(project: Path, **kwargs: object) -> pd.DataFrame:
    con = store.open_project(project)
    try:
        return review_queue(con, "dana", **kwargs)
    finally:
        con.close()


def test_keys_accept_reject_change_add_next_undo_quit(project: Path) -> None:
    q = _queue(project, document="north-nurse", status="pending")
    items = list(q.itertuples(index=False))
    third = items[2]
    target = next(c for c in ("Hierarchy and voice", "Time and workload") if c != third.code)
    leaves = ["Selection and credibility", "Training and development", "Time and workload",
              "Working in the triumvirate", "Hierarchy and voice"]  # the codebook's order: numbers 1-5
    number = 1 if third.code != leaves[0] else 2
    keys = [
        "a",  # accept item 1
        "z",  # not a key: asked again
        "r",  # reject item 2
        "c", "zzz", "", "c", target,  # change item 3: no match, cancel, then again by name
        "+", "train",  # add a code to item 4 by part of its name (stays on item 4)
        "n",  # skip item 4
        "u",  # undo: the add on item 4
        "u",  # undo: the change of item 3, which comes back
        "c", str(number),  # change item 3 again, by its number in the list
        "q",
    ]
    result = CliRunner().invoke(main, ["review", str(project), "--coder", "dana", "--document", "north-nurse"],
                                input="\n".join(keys) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    # context, scores and definitions are shown
    assert "Sister Price" in out and "Interviewer" in out and "0:" in out  # speaker, the turn before, timestamp
    assert f"{items[0].score:0.2f}" in out
    assert "Shared leadership between doctor, nurse and manager." in out or "Professional hierarchy" in out
    assert "no code matches 'zzz'" in out and "cancelled" in out
    assert "undone: add of Training and development" in out
    assert f"undone: change of {third.code}" in out
    con = store.open_project(project)
    try:
        log = decisions_frame(con, "dana")
        applied = {(int(r.segment_id), r.code) for r in coding(con, "dana").itertuples()}
    finally:
        con.close()
    assert list(log.action) == ["accept", "reject", "change", "add", "undo", "undo", "change"]
    assert (items[0].segment_id, items[0].code) in applied
    assert (items[1].segment_id, items[1].code) not in applied
    assert (third.segment_id, target) not in applied
    assert (third.segment_id, leaves[number - 1]) in applied
    assert "1 accepted, 1 rejected, 2 changed" in out


def test_nothing_pending(project: Path) -> None:
    result = CliRunner().invoke(main, ["review", str(project), "--coder", "dana", "--min-score", "0.999"])
    assert result.exit_code == 0 and "Nothing pending" in result.output


def test_undo_of_decisions_without_a_segment_or_a_code(project: Path) -> None:
    from nlp_theming.review import Decision, actions, record

    q = _queue(project, document="north-nurse", status="pending")
    first = q.iloc[0]
    con = store.open_project(project)
    try:
        doc = int(first.document_id)
        # an imported span with no segment, then an adjustment of all of dana's codes on a segment
        record(con, Decision(coder="dana", action="import", document_id=doc, code="Time and workload",
                             start=int(first.start), end=int(first.end)))
        actions.adjust(con, "dana", int(first.segment_id), int(first.start), int(first.end))
    finally:
        con.close()
    result = CliRunner().invoke(main, ["review", str(project), "--coder", "dana", "--document", "north-nurse"],
                                input="u\nu\nq\n")
    assert result.exit_code == 0, result.output
    assert f"undone: adjust on segment {int(first.segment_id)}" in result.output
    assert "undone: import of Time and workload" in result.output
    con = store.open_project(project)
    try:
        assert list(decisions_frame(con, "dana").action) == ["import", "adjust", "undo", "undo"]
    finally:
        con.close()


def test_passage_keys_accept_by_number_reject_the_rest_and_no_code(project: Path) -> None:
    from nlp_theming.store.decisions import nothing_applies

    q = _queue(project, document="north-nurse", status="pending")
    passages = list(dict.fromkeys(q.segment_id))
    first, second = int(passages[0]), int(passages[1])
    first_codes = q[q.segment_id == first].sort_values("rank").code.tolist()
    assert len(first_codes) >= 2
    keys = ["2", "x", "0", "q"]  # accept the passage's second suggestion, reject the rest; next passage: none
    result = CliRunner().invoke(main, ["review", str(project), "--coder", "dana", "--document", "north-nurse"],
                                input="\n".join(keys) + "\n")
    assert result.exit_code == 0, result.output
    log = decisions_frame(store.open_project(project), "dana")
    assert list(log.action) == ["accept"] + ["reject"] * (len(first_codes) - 1) + ["none"]
    assert log.code.iloc[0] == first_codes[1] and set(log.segment_id.iloc[:-1]) == {first}
    assert int(log.segment_id.iloc[-1]) == second
    con = store.open_project(project)
    try:
        assert {(int(r.segment_id), r.code) for r in coding(con, "dana").itertuples()} == {(first, first_codes[1])}
        assert list(nothing_applies(con, "dana").segment_id) == [second]
    finally:
        con.close()
    assert "1 passages with no code" in result.output
