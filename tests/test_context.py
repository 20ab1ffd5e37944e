"""Context: a segment's place in its interview (neighbours, the turn before, the speaker's role)
changes what the matcher scores, with the real model; the coded-units format carries it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nlp_theming.codebook import Code
from nlp_theming.embed import Embedder
from nlp_theming.exchange.coded import CodedFileError, read_coded_units_csv, write_coded_units_csv
from nlp_theming.match import SemiSupervisedMatcher, ZeroShotMatcher
from nlp_theming.match.active import most_informative, uncertainty
from nlp_theming.match.context import (
    ContextFeatures,
    context_name,
    neighbour_rows,
    parse_context,
    preceding_turns,
    speaker_or_role,
)

CODES = [Code("Staffing", description="Nurses and doctors: shortages, rotas, recruitment and workload"),
         Code("Money", description="Budgets, funding, costs and financial pressure")]


@pytest.fixture(scope="module")
def embed():
    return Embedder().encode


def test_neighbours_follow_reading_order_within_documents() -> None:
    prev, nxt = neighbour_rows(["a", "b", "a", "a"], [2, 0, 0, 1])
    assert prev.tolist() == [3, -1, -1, 2] and nxt.tolist() == [-1, -1, 3, 0]


def test_the_turn_before_is_the_other_speakers_whole_last_turn() -> None:
    turns = preceding_turns(["d"] * 6, range(6), ["I", "P", "P", "I", "I", "P"], ["q1?", "a", "b", "c", "q2?", "e"])
    assert turns == ["", "q1?", "q1?", "a b", "a b", "c q2?"]
    # unknown speakers break the chain; with only roles known, unlabelled text is the participant's
    assert preceding_turns(["d"] * 3, range(3), [None, "I", None], ["x", "q?", "y"]) == ["", "", ""]
    units = pd.DataFrame({"speaker": [None, "MOD", None], "role": ["participant", "interviewer", "participant"]})
    assert preceding_turns(["d"] * 3, range(3), speaker_or_role(units), ["x", "q?", "y"]) == ["", "x", "q?"]


def test_context_names_parse_and_unknown_parts_are_refused() -> None:
    assert context_name(parse_context("all")) == "neighbours+question+role+neighbour_codes"
    assert context_name(parse_context("none")) == "none"
    assert context_name(parse_context("role, neighbours")) == "neighbours+role"
    with pytest.raises(ValueError, match=r"unknown context part.*'speaker'"):
        parse_context("speaker")


def test_context_layout_is_the_same_whatever_the_weights(embed) -> None:
    units = pd.DataFrame({"document": ["a"] * 3, "text": ["Is staffing a problem?", "Yes, we lack nurses.", "Rotas."],
                          "role": ["interviewer", "participant", "participant"], "speaker": ["I", "P", "P"]})
    X = embed(units.text.tolist())
    full, only_role = ContextFeatures().transform(X, units, embed), parse_context("role").transform(X, units, embed)
    assert full.shape == only_role.shape == (3, 3 * X.shape[1] + 2)
    assert np.array_equal(full[:, : X.shape[1]], X)
    assert not only_role[:, X.shape[1] : -2].any() and only_role[:, -2:].tolist() == [[1, 0], [0, 1], [0, 1]]
    assert parse_context("none").transform(X, units, embed) is X


def test_neighbours_change_zero_shot_scores(embed) -> None:
    """A terse answer ("Yes, a lot.") is read with the answer around it."""
    texts = ["We cannot recruit enough nurses and the rotas are impossible.", "Yes, a lot.",
             "Doctors work double shifts because of the shortages."]
    units = pd.DataFrame({"document": ["a"] * 3, "text": texts})
    X = embed(texts)
    plain = ZeroShotMatcher().fit(CODES, embed, None, None, X)
    with_context = ZeroShotMatcher().fit(CODES, embed, None, None, ContextFeatures().transform(X, units, embed))
    terse_plain = plain.similarities(X)[1]
    terse_context = with_context.similarities(ContextFeatures().transform(X, units, embed))[1]
    assert terse_context[0] - terse_context[1] > terse_plain[0] - terse_plain[1]


def test_the_matcher_learns_whose_talk_a_code_is_for(embed) -> None:
    """The same words score differently by speaker once people coded one side's talk only."""
    rng = np.random.default_rng(0)
    texts = [f"We talked about {w} for a while." for w in ("rotas", "nurses", "funding", "costs", "the ward",
                                                              "recruitment", "budgets", "agency staff")]
    rows = [(t, role) for t in texts for role in ("interviewer", "participant")] * 8
    units = pd.DataFrame({"document": [f"d{i // 16}" for i in range(len(rows))], "text": [t for t, _ in rows],
                          "role": [r for _, r in rows]})
    X = ContextFeatures().transform(embed(units.text.tolist()), units, embed)
    # people coded Staffing on participants' talk about staff only; interviewers' never
    staff = units.text.str.contains("rotas|nurses|recruitment|agency")
    Y = np.zeros((len(units), 2), dtype=np.float32)
    Y[:, 0] = (staff & (units.role == "participant")).to_numpy()
    Y[:, 1] = (~staff & (units.role == "participant")).to_numpy()
    order = rng.permutation(len(units))
    matcher = SemiSupervisedMatcher(min_stack_units=50).fit(CODES, embed, X[order], Y[order], X)
    scores = matcher.predict_proba(X)
    participant = (units.role == "participant").to_numpy()
    assert scores[participant & staff.to_numpy(), 0].mean() > 0.5 > scores[~participant & staff.to_numpy(), 0].mean()


def test_coded_units_carry_context_columns(tmp_path: Path) -> None:
    units = pd.DataFrame({"unit_id": ["1", "2"], "document": ["a", "a"], "coder": ["x", "x"], "text": ["q?", "=SUM"],
                          "codes": [[], ["Money"]], "speaker": ["I", "P"], "role": ["interviewer", "participant"],
                          "position": [0, 1], "previous_text": [None, "q?"]})
    path = tmp_path / "units.csv"
    write_coded_units_csv(units, path)
    assert path.read_text().splitlines()[0] == "unit_id,document,coder,text,codes,speaker,role,position,previous_text"
    back = read_coded_units_csv(path)
    assert back.speaker.tolist() == ["I", "P"] and back.position.tolist() == [0, 1]
    assert back.previous_text.tolist() == [None, "q?"] and back.text.tolist() == ["q?", "=SUM"]
    bad = tmp_path / "bad.csv"
    bad.write_text("unit_id,document,coder,text,codes,order\n1,a,x,hi,,first\n")
    with pytest.raises(CodedFileError, match=r"bad.csv: line 2 \(row 1\): position 'first' is not a number"):
        read_coded_units_csv(bad)


def test_files_without_context_columns_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("unit_id,document,coder,text,codes\n1,a,x,hi,Money\n")
    assert read_coded_units_csv(path).columns.tolist() == ["unit_id", "document", "coder", "text", "codes"]


def test_active_choice_is_uncertain_and_spread_out() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(loc=c, size=(20, 4)) for c in (0, 10)]).astype(np.float32)
    scores = np.full((40, 2), 0.02)
    scores[5:9, 0] = 0.5  # unsure, all in the first cluster
    scores[25:27, 1] = 0.45  # a little less unsure, in the second
    assert uncertainty(scores)[5] > uncertainty(scores)[25] > uncertainty(scores)[0]
    chosen = most_informative(scores, X, 2, explore=0)
    assert len(set(chosen)) == 2 and any(5 <= i < 9 for i in chosen) and any(25 <= i < 27 for i in chosen)


def test_decided_neighbours_of_the_same_role_pull_scores() -> None:
    units = pd.DataFrame({"document": ["a", "a", "a", "b"], "position": [0, 1, 2, 0],
                          "role": ["participant", "participant", "interviewer", "participant"]})
    scores = np.array([[0.2, 0.2], [0.2, 0.2], [0.9, 0.9], [0.2, 0.2]])
    known = np.full((4, 2), np.nan)
    known[1] = [1.0, np.nan]  # people accepted code 0 on the second segment, left code 1 undecided
    smoothed = ContextFeatures(neighbour_codes=0.5).smooth(scores, units, known)
    assert smoothed[0].tolist() == [0.6, 0.2]  # pulled by the decision; the undecided code by the score
    assert smoothed[1].tolist() == [0.2, 0.2]  # the interviewer's turn is not its neighbour
    assert smoothed[2].tolist() == [0.9, 0.9] and smoothed[3].tolist() == [0.2, 0.2]  # no neighbour of its role
    assert parse_context("none").smooth(scores, units, known) is scores
