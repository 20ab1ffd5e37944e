"""Outputs that stream at a million segments give what the whole-table outputs gave.

The suggestion run here is SYNTHETIC (seeded scores written through the store's run functions),
on the real sample corpus in all its formats, so no embedding model is needed.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.exchange.tidy import suggestion_blocks, suggestions_with_memos
from nlp_theming.review import accept, reject
from nlp_theming.review.memos import memo
from nlp_theming.tables import write_csv, write_csv_blocks, write_table
from tests.helpers.paths import CORPUS
from tests.helpers.runs import store_run


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus with a SYNTHETIC run, some decisions and memos."""
    path = tmp_path_factory.mktemp("scale") / "project"
    with Project.init(path) as p:
        assert p.ingest([CORPUS / "transcripts"], CORPUS / "manifest.csv").failed == []
        p.load_codebook(CORPUS / "codebook.csv")
        codes = [c for c in p.codebook().code[p.codebook().is_leaf]]
        segs = p.segments()
        ids = segs.segment_id[segs.speaker_role == "participant"].tolist()
        rng = random.Random(0)
        run = store_run(p, [(s, c, round(rng.random(), 4)) for s in ids for c in rng.sample(codes, 3)])
        table = p.suggestions(run)
        for s in ids[:40]:
            code = table[table.segment_id == s].sort_values("rank").code.iloc[0]
            (accept if s % 2 else reject)(p.con, "ana", s, code, run)
        memo(p.con, "ana", "segment", "=HYPERLINK(1) a note", segment_id=ids[3])
        memo(p.con, "bo", "segment", "second note", segment_id=ids[3])
    return path


def test_streamed_csv_export_is_byte_for_byte_the_whole_table(sample: Path, tmp_path: Path) -> None:
    with Project(sample) as p:
        write_table(suggestions_with_memos(p.con), tmp_path / "whole.csv")
        blocks = list(suggestion_blocks(p.con, documents_per_block=5))
        write_csv_blocks(iter(blocks), tmp_path / "blocks.csv")
    assert len(blocks) > 5  # 36 documents in blocks of 5: really streamed
    whole = (tmp_path / "whole.csv").read_bytes()
    assert (tmp_path / "blocks.csv").read_bytes() == whole
    result = CliRunner().invoke(main, ["export", str(sample), "--out", str(tmp_path / "cli.csv"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli.csv").read_bytes() == whole
    back = pd.read_csv(tmp_path / "cli.csv")
    assert "ana: =HYPERLINK(1) a note | bo: second note" in set(back.memo.dropna())
    assert set(back.status) == {"pending", "accepted", "rejected"}


def test_blocks_keep_the_first_blocks_columns_and_the_formula_guard(tmp_path: Path) -> None:
    first = pd.DataFrame({"a": ["=1+1", "x"], "b": [1, 2]})
    later = pd.DataFrame({"b": [3], "a": ["@cmd"]})
    write_csv_blocks([first, later], tmp_path / "t.csv")
    write_csv(pd.concat([first, later[["a", "b"]]]), tmp_path / "w.csv")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == "a,b\n'=1+1,1\nx,2\n'@cmd,3\n"
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "w.csv").read_bytes()
    write_csv_blocks([], tmp_path / "none.csv")
    assert (tmp_path / "none.csv").read_bytes() == b""


def test_summary_quotes_the_segment_text_without_reading_every_segments_text(sample: Path, tmp_path: Path) -> None:
    with Project(sample) as p:
        summary = p.summarize(by="site", out=tmp_path / "summary")
        stored = p.segments().set_index("segment_id").text
        accepted = p.suggestions().status.eq("accepted").sum()
    assert "text" not in summary.segments.columns
    assert len(summary.tidy) == accepted > 10  # the accepts of the fixture (the rejections code nothing)
    for row in summary.tidy.itertuples(index=False):
        assert row.segment_text == stored[row.segment_id]
        assert row.text == stored[row.segment_id]  # an accepted suggestion codes the whole segment
    pages = "".join(f.read_text(encoding="utf-8") for f in (tmp_path / "summary" / "transcripts").glob("*.html"))
    assert pages.count('<span class="seg') == len(summary.segments)  # every segment on its document's page
    for segment_id in summary.tidy.segment_id:
        assert f'<span class="seg coded" id="s{segment_id}"' in pages


def test_a_table_too_long_for_a_sheet_is_refused_with_a_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"1,048,576 rows, and an XLSX sheet holds at most 1,048,575"):
        write_table(pd.DataFrame({"a": range(1_048_576)}), tmp_path / "t.xlsx", sheet="big")
    assert not (tmp_path / "t.xlsx").exists()


def test_status_counts_without_texts_what_the_queue_holds(sample: Path) -> None:
    from nlp_theming.review.status import review_status
    from tests.helpers.queue_reference import full_queue  # the whole-table path, kept as the reference

    with Project(sample) as p:
        queue = full_queue(p.con)[0]
        mine = full_queue(p.con, "ana")[0]
        status = review_status(p.con)
        blind = review_status(p.con, "ana", blind=True)
    assert status.suggestions == len(queue) and status.segments == queue.segment_id.nunique()
    assert status.likely == int((queue.score >= 0.5).sum())
    assert status.pending == int((queue.status == "pending").sum()) < len(queue)
    per_theme = queue.groupby("code").size()
    assert dict(zip(status.themes.theme, status.themes.suggested, strict=True)) == per_theme.to_dict()
    ana = status.by_coder.set_index("coder").loc["ana"]
    assert (ana.accepted, ana.rejected) == ((mine.status == "accepted").sum(), (mine.status == "rejected").sum())
    assert blind.pending == int((mine.status == "pending").sum())
