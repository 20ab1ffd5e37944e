"""Progress bars on stderr for the steps that can take more than a few seconds (summarize, the
suggestions table and the review sheet as XLSX), and none with --quiet. A bar normally appears
only after 2 seconds; these tests set the delay to 0 so that a small project shows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp_theming.cli import main
from tests.helpers.paths import CORPUS


@pytest.fixture
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLP_THEMING_PROGRESS_DELAY", "0")


def _run(args: list[str]):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(
    ("command", "bar"),
    [
        (["export", "{p}", "--out", "{t}/suggestions.xlsx"], "xlsx suggestions"),
        (["sheet", "export", "{p}", "--coder", "ana", "--out", "{t}/sheet.xlsx"], "xlsx queue"),
        (["summarize", "{p}", "--out", "{t}/summary"], "summarize: write"),
    ],
)
def test_slow_steps_show_a_bar_on_stderr_and_none_when_quiet(
    project: Path, tmp_path: Path, no_delay: None, command: list[str], bar: str
) -> None:
    args = [a.format(p=project, t=tmp_path / "loud") for a in command]
    loud = _run(args)
    assert bar in loud.stderr
    assert bar not in loud.stdout  # the bar never mixes with what a script reads
    written = Path(args[args.index("--out") + 1])
    assert written.exists()

    quiet_args = [a.format(p=project, t=tmp_path / "quiet") for a in command] + ["--quiet"]
    quiet = _run(quiet_args)
    assert bar not in quiet.stderr
    assert Path(quiet_args[quiet_args.index("--out") + 1]).exists()


def test_summarize_counts_its_steps(project: Path, tmp_path: Path, no_delay: None) -> None:
    loud = _run(["summarize", str(project), "--out", str(tmp_path / "s"), "--format", "md"])
    # five computing steps, then the tables, the heatmap and the one format asked for
    assert "summarize: 100%" in loud.stderr and "5/5" in loud.stderr
    assert "summarize: write: 100%" in loud.stderr and "3/3" in loud.stderr


def test_ingest_shows_segmenting_as_its_own_bar(tmp_path: Path, no_delay: None) -> None:
    """Cutting thousands of interviews into units takes minutes after the files are read: its own bar."""
    project = tmp_path / "p"
    _run(["init", str(project)])
    loud = _run(["ingest", str(project), str(CORPUS / "transcripts")])
    assert "segment: 100%" in loud.stderr and "document/s" in loud.stderr
    again = tmp_path / "q"
    _run(["init", str(again)])
    assert "segment:" not in _run(["ingest", str(again), str(CORPUS / "transcripts"), "--quiet"]).stderr
