"""Discovery, measured: codes held out of a codebook, and how well the candidate themes recover them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming.evaluate_discovery import best_proposal, chance_f1, held_out_sets
from nlp_theming.match import Proposal
from tests.helpers.paths import SHARED

TAGUETTE = SHARED / "data/serdif-usability/data/transcripts/thematic-analysis/SERDIF_P2_ThematicAnalysis.sqlite3"
SERDIF_CODEBOOK = TAGUETTE.parent / "codebooks" / "codebook_20220303_8.csv"


def test_best_proposal_is_the_one_with_the_best_f1() -> None:
    gold = np.zeros(10, dtype=bool)
    gold[[0, 1, 2, 3]] = True
    proposals = [
        Proposal("a", [("a", 1.0)], [0, 5, 6, 7, 8, 9]),  # P 1/6, R 1/4, F1 0.2
        Proposal("b", [("b", 1.0)], [1, 2, 3]),  # P 1, R 3/4, F1 6/7
        Proposal("c", [("c", 1.0)], [0, 1, 2, 3, 4, 5, 6, 7]),  # P 1/2, R 1, F1 2/3
    ]
    i, precision, recall, f1 = best_proposal(proposals, gold)
    assert (i, precision, recall) == (1, 1.0, 0.75)
    assert f1 == pytest.approx(6 / 7)
    assert best_proposal([], gold) == (-1, 0.0, 0.0, 0.0)
    assert best_proposal([Proposal("d", [], [4, 5])], gold) == (-1, 0.0, 0.0, 0.0)  # no overlap: nothing recovers it


def test_chance_f1_of_one_proposal_holding_the_whole_pool() -> None:
    gold = np.zeros(20, dtype=bool)
    gold[:5] = True
    pool = np.arange(10)  # the five coded units and five others
    # one proposal of all ten: P 0.5, R 1, F1 2/3 whatever the draw
    assert chance_f1([10], pool, gold, np.random.default_rng(0)) == pytest.approx(2 / 3)
    assert chance_f1([], pool, gold, np.random.default_rng(0)) == 0.0
    # small random proposals do worse than one that holds exactly the coded units
    assert chance_f1([5], pool, gold, np.random.default_rng(0)) < 1.0


def test_held_out_sets_cover_every_code_before_repeating_one() -> None:
    codes = [f"c{i}" for i in range(7)]
    sets = held_out_sets(codes, 2, 4, seed=3)
    assert all(len(s) == 2 and len(set(s)) == 2 for s in sets)
    first_round = [c for s in sets for c in s][:7]
    assert sorted(first_round) == codes  # the first seven drawn are the seven codes
    assert sets == held_out_sets(codes, 2, 4, seed=3)  # seeded
    with pytest.raises(ValueError):
        held_out_sets(codes, 8, 1, seed=0)


@pytest.fixture(scope="module")
def serdif_subset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small real case: four SERDIF codes' units plus as many uncoded ones (seeded sample)."""
    if not TAGUETTE.exists():
        pytest.skip("shared serdif-usability data not available")
    from nlp_theming.exchange.imports import taguette_units

    folder = tmp_path_factory.mktemp("serdif-discovery")
    taguette_units(TAGUETTE, folder / "all.csv")
    units = pd.read_csv(folder / "all.csv", keep_default_na=False)
    keep = ["Query inputs and elements useful", "Search feature simple", "Visualization useful", "System issue"]
    coded = units[units.codes.map(lambda c: bool(c) and set(c.split(" | ")) <= set(keep))]
    uncoded = units[units.codes == ""].sample(len(coded), random_state=0)
    pd.concat([coded, uncoded]).to_csv(folder / "units.csv", index=False)
    book = pd.read_csv(SERDIF_CODEBOOK)
    book[book.tag.isin(keep)].to_csv(folder / "codebook.csv", index=False)
    return folder / "codebook.csv", folder / "units.csv"


@pytest.mark.slow  # the real model over ~700 SERDIF units, and BERTopic (~40 s)
def test_discovery_measurement_on_real_data(serdif_subset: tuple[Path, Path], tmp_path: Path) -> None:
    from nlp_theming.cli import main

    codebook, units = serdif_subset
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate-discovery", "--codebook", str(codebook), "--coded", str(units),
                                       "--hold-out", "1", "--repeats", "2", "--seed", "0", "--out", str(out),
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    recovery = pd.read_csv(out / "recovery.csv", keep_default_na=False)
    proposals = pd.read_csv(out / "proposals.csv", keep_default_na=False)
    members = pd.read_csv(out / "proposal_members.csv", keep_default_na=False)
    coded = pd.read_csv(units, keep_default_na=False)
    assert len(recovery) == 2 and recovery.code.nunique() == 2  # two sets, two different codes
    # the figures agree with the members written out, recomputed from the coded file by hand
    for row in recovery.itertuples():
        has_code = set(coded.unit_id[coded.codes.map(lambda c, code=row.code: code in c.split(" | "))])
        assert row.n_units == len(has_code)
        if row.proposal < 0:
            continue
        mine = set(members.unit_id[(members.repeat == row.repeat) & (members.proposal == row.proposal)])
        shown = proposals[(proposals.repeat == row.repeat) & (proposals.proposal == row.proposal)].iloc[0]
        assert len(mine) == row.size == shown["size"] and row.keywords == shown["keywords"]
        assert row.precision == pytest.approx(len(mine & has_code) / len(mine))
        assert row.recall == pytest.approx(len(mine & has_code) / len(has_code))
    # on this small case, the candidate themes find a removed code better than chance
    assert recovery.f1.mean() > recovery.baseline_f1.mean() + 0.05, recovery.to_string()


def test_holding_out_more_codes_than_qualify_is_a_clear_error(tmp_path: Path) -> None:
    from nlp_theming.cli import main

    (tmp_path / "codebook.csv").write_text("code,description\nBudget,money\nTime,hours\nStaff,people\n")
    rows = ["unit_id,document,coder,text,codes"]
    rows += [f"u{i},d1,ann,text {i},{'Budget' if i % 2 else 'Time'}" for i in range(30)]
    (tmp_path / "units.csv").write_text("\n".join(rows) + "\n")
    args = ["evaluate-discovery", "--codebook", str(tmp_path / "codebook.csv"), "--coded", str(tmp_path / "units.csv"),
            "--out", str(tmp_path / "out")]
    # Budget and Time have 15 units each: below --min-units 20 no code qualifies
    result = CliRunner().invoke(main, [*args, "--hold-out", "1"])
    assert result.exit_code == 1 and "cannot hold out 1 of 0 eligible codes" in result.output
    result = CliRunner().invoke(main, [*args, "--hold-out", "3", "--min-units", "10"])
    assert result.exit_code == 1 and "leaves no codebook" in result.output
