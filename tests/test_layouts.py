"""Speaker layouts of real transcription tools' exports, sniffed per file (ingest/layouts.py).

The fixtures in tests/fixtures/layouts/ are synthetic (see make_layouts.py there): the same short
interview in each tool's layout, preceded by a one-line header that belongs to no speaker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp_theming import Project, read_transcript
from nlp_theming.cli import main
from nlp_theming.ingest.text import parse_labelled_text
from nlp_theming.transcript import recognise_interviewer
from tests.fixtures.layouts.make_layouts import TIMES, TURNS

LAYOUTS = Path(__file__).parent / "fixtures" / "layouts"

# file -> (interviewer, participant, layout, rule that recognised the interviewer, timed)
EXPECTED = {
    "otter_txt.txt": ("Jane Doe", "Unknown Speaker", "name + time lines", "questions", True),
    "otter_docx.docx": ("Jane Doe", "Sam Patel", "name + time lines", "questions", True),
    "otter_odt.odt": ("Jane Doe", "Sam Patel", "name + time lines", "questions", True),
    "rev_txt.txt": ("Speaker 1", "Speaker 2", "name + time lines", "questions", True),
    "rev_docx.docx": ("Speaker 1", "Speaker 2", "name + time lines", "questions", True),
    "rev_inline_txt.txt": ("Interviewer", "Sam Patel", "name: text", "label", True),
    "sonix_docx.docx": ("Jane Doe", "Sam Patel", "name: text", "questions", True),
    "descript_txt.txt": ("Jane Doe", "Sam Patel", "name: text", "questions", True),
    "trint_docx.docx": ("Jane Doe", "Sam Patel", "name + time lines", "questions", True),
    "zoom_txt.txt": ("Jane Doe", "Sam Patel", "name + time lines", "questions", True),
    "zoom_vtt.vtt": ("Jane Doe", "Sam Patel", "speaker per cue", "questions", True),
    "teams_vtt.vtt": ("Jane Doe", "Sam Patel", "speaker per cue", "questions", True),
    "teams_docx.docx": ("Jane Doe", "Sam Patel", "name + time lines", "questions", True),
    "teams_old_docx.docx": ("Jane Doe", "Sam Patel", "name + time lines", "questions", True),
    "macwhisper_txt.txt": ("Speaker 1", "Speaker 2", "name: text", "questions", True),
    "noscribe_txt.txt": ("S00", "S01", "name: text", "questions", False),
    "bold_names_md.md": ("Jane Doe", "Sam Patel", "name lines", "questions", False),
    "heading_names_md.md": ("Interviewer", "P7", "name lines", "label", False),
    "plain_names_txt.txt": ("Interviewer", "Sam Patel", "name lines", "label", False),
    "colon_names_txt.txt": ("Moderator", "Sam Patel", "name lines", "label", False),
    "bold_names_docx.docx": ("Interviewer", "Sam Patel", "name lines", "label", False),
    "bold_names_odt.odt": ("Jane Doe", "Sam Patel", "name lines", "questions", False),
    "table_docx.docx": ("Interviewer", "Sam Patel", "table", "label", True),
    "table_odt.odt": ("Facilitator", "Sam Patel", "table", "label", True),
}


def test_every_fixture_is_expected() -> None:
    on_disk = {p.name for p in LAYOUTS.iterdir() if p.suffix != ".py"}
    assert on_disk - set(EXPECTED) == {"headings_md.md", "monologue_txt.txt"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tool_layout_finds_speakers_turns_and_interviewer(name: str) -> None:
    interviewer, participant, layout, rule, timed = EXPECTED[name]
    t = read_transcript(LAYOUTS / name)
    spoken = [turn for turn in t.turns if turn.speaker is not None]
    assert [turn.speaker for turn in spoken] == [interviewer, participant] * 3
    # the header line is kept but belongs to nobody; no other text is left outside a turn
    assert all("SYNTHETIC" in t.turn_text(turn) for turn in t.turns if turn.speaker is None)
    assert [t.turn_text(turn) for turn in spoken] == [text for _, text in TURNS]
    assert [turn.is_interviewer for turn in spoken] == [True, False] * 3
    assert (t.layout, t.interviewer_rule) == (layout, rule)
    if timed:
        assert [turn.start_time for turn in spoken] == TIMES


@pytest.mark.parametrize(
    "text",
    [
        # a report: headings and one-word lines, some repeated, are not speakers
        "## Background\nThe ward had three managers.\n## Findings\nStaffing came up.\nOkay\nThat was most.\n"
        "## Findings\nRight\nThe matron helped.\nOkay\nSo it goes.\n",
        # one-word answers on their own lines, alternating and recurring
        "Okay\nThat was good, I think.\nRight\nThen we went home.\nOkay\nAnd so on.\nRight\nFine then.\n",
        # a list of section titles, each once
        "Introduction\nWe spoke to staff.\nMethods\nWe met twice.\nResults\nIt went well.\n",
    ],
)
def test_headings_and_one_word_lines_are_not_speakers(text: str) -> None:
    t = parse_labelled_text(text, "md")
    assert all(turn.speaker is None for turn in t.turns)
    assert t.layout == "none"


def test_the_headings_fixture_has_no_speakers_and_the_monologue_one() -> None:
    assert {turn.speaker for turn in read_transcript(LAYOUTS / "headings_md.md").turns} == {None}
    monologue = read_transcript(LAYOUTS / "monologue_txt.txt")
    assert [turn.speaker for turn in monologue.turns if turn.speaker] == ["Sam Patel", "Sam Patel"]
    assert monologue.interviewer_rule == "none"


def test_a_heading_inside_a_name_line_transcript_stays_text() -> None:
    text = (
        "### Interviewer\nHow are you?\n\n### Ana\nFine.\n\n### Part two\n\n### Interviewer\nAnd now?\n\n"
        "### Ana\nStill fine.\n"
    )
    t = parse_labelled_text(text, "md")
    assert [turn.speaker for turn in t.turns] == ["Interviewer", "Ana", "Interviewer", "Ana"]
    assert "### Part two" in t.turn_text(t.turns[1])


def test_a_one_word_answer_under_a_marked_name_is_speech() -> None:
    text = "**interviewer**\nReady?\n**Ana**\nDefinitely\n**interviewer**\nWhy?\n**Ana**\nBecause.\n"
    t = parse_labelled_text(text, "md")
    assert [(turn.speaker, t.turn_text(turn)) for turn in t.turns] == [
        ("interviewer", "Ready?"), ("Ana", "Definitely"), ("interviewer", "Why?"), ("Ana", "Because.")
    ]
    assert t.interviewer_rule == "label"


def test_a_line_break_inside_a_word_paragraph_separates_name_and_speech(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    for who, text, t in (("Jane Doe", "How are you?", "0:03"), ("Sam Patel", "Fine.", "0:07")) * 2:
        run = d.add_paragraph().add_run(f"{who}  {t}")
        run.add_break()
        run.add_text(text)
    d.save(tmp_path / "breaks.docx")
    t = read_transcript(tmp_path / "breaks.docx")
    assert [(turn.speaker, t.turn_text(turn)) for turn in t.turns] == [
        ("Jane Doe", "How are you?"), ("Sam Patel", "Fine."), ("Jane Doe", "How are you?"), ("Sam Patel", "Fine.")
    ]


def test_names_inline_win_over_a_stray_name_line() -> None:
    text = "Interviewer: How are you?\nAna: Fine.\nSummary\nInterviewer: Why?\nAna: Because.\n"
    t = parse_labelled_text(text, "txt")
    assert [turn.speaker for turn in t.turns] == ["Interviewer", "Ana", "Interviewer", "Ana"]
    assert t.layout == "name: text"


def test_interviewer_rules_in_order() -> None:
    text = "Ana: What do you do?\nBo: I teach.\nAna: Why?\nBo: I like it.\n"
    t = parse_labelled_text(text, "txt")
    assert t.interviewer_rule == "questions" and [x.is_interviewer for x in t.turns] == [True, False] * 2
    # the manifest overrides the questions
    assert recognise_interviewer(t, "Bo") == "manifest"
    assert [x.is_interviewer for x in t.turns] == [False, True] * 2
    # a common label decides before the questions do
    t = parse_labelled_text("Q: What?\nBo: This.\nQ: And?\nBo: That?\n", "txt")
    assert t.interviewer_rule == "label" and t.turns[0].is_interviewer
    # nobody clearly asks: no interviewer rather than a guess
    t = parse_labelled_text("Ana: Why?\nBo: Why not?\nAna: Fine.\nBo: Good.\n", "txt")
    assert t.interviewer_rule == "none" and not any(x.is_interviewer for x in t.turns)


def test_ingest_reports_speakers_layout_and_rule_and_warns_on_one_speaker(tmp_path: Path) -> None:
    project = tmp_path / "p"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(project)]).exit_code == 0
    result = runner.invoke(main, ["ingest", str(project), str(LAYOUTS), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    otter = next(line for line in lines if "otter_txt.txt" in line)
    assert "speakers: Jane Doe, Unknown Speaker" in otter and "layout: name + time lines" in otter
    assert "interviewer: Jane Doe (asks most of the questions)" in otter
    table = next(line for line in lines if "table_odt.odt" in line)
    assert "layout: table" in table and "interviewer: Facilitator (by label)" in table
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any("monologue_txt.txt: only one speaker found (Sam Patel)" in w for w in warnings)
    assert any("headings_md.md: no speaker found" in w for w in warnings)
    # still ingested
    with Project(project) as p:
        assert p.speaker_warnings() == [
            "headings_md: no speaker found",
            "monologue_txt: only one speaker found (Sam Patel)",
        ]
    status = runner.invoke(main, ["status", str(project)])
    assert "warning: monologue_txt: only one speaker found (Sam Patel)" in status.stdout


def test_manifest_interviewer_column_is_reported_as_the_rule(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(f"file,interviewer\n{LAYOUTS / 'rev_txt.txt'},Speaker 2\n")
    with Project.init(tmp_path / "p") as p:
        report = p.ingest([], manifest=tmp_path / "manifest.csv")
        assert not report.failed
        (found,) = report.files
        assert (found.interviewer, found.rule) == (["Speaker 2"], "manifest")
        assert "interviewer: Speaker 2 (named in the manifest)" in report.file_lines()[0]
