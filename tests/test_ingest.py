"""Ingest: every format, every encoding, bad input, re-ingest and versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp_theming import Project, read_transcript
from nlp_theming.cli import main
from nlp_theming.ingest import IngestError
from tests.helpers.formats import TURNS


@pytest.mark.parametrize(
    "name", ["typed.txt", "typed.md", "bom.txt", "utf16.txt", "cp1252.txt", "typed.docx", "typed.odt"]
)
def test_typed_formats_find_speakers_and_keep_offsets(fixture_files: dict[str, Path], name: str) -> None:
    t = read_transcript(fixture_files[name])
    speakers = [turn.speaker for turn in t.turns]
    assert speakers[0] is None  # the title line belongs to nobody
    assert speakers[1:] == ["Interviewer", "Dr Shah"] * 3
    assert [turn.is_interviewer for turn in t.turns[1:3]] == [True, False]
    second = t.turn_text(t.turns[2])
    assert second.startswith("I") and "clinical director for medicine" in second
    assert second.endswith("home life.")
    assert "\r" not in t.text and "\ufeff" not in t.text


def test_cp1252_is_decoded_not_mangled(fixture_files: dict[str, Path]) -> None:
    t = read_transcript(fixture_files["cp1252.txt"])
    assert "café" in t.text and "I’m" in t.text


@pytest.mark.parametrize("name", ["voice.vtt", "zoom.vtt", "teams.vtt", "captions.srt", "turns.csv"])
def test_timed_formats_merge_cues_into_turns(fixture_files: dict[str, Path], name: str) -> None:
    t = read_transcript(fixture_files[name])
    assert [turn.speaker for turn in t.turns] == ["Interviewer", "Dr Shah"] * 3
    answer = t.turn_text(t.turns[1])
    assert answer.startswith("I'm the clinical director") and answer.endswith("home life.")
    assert t.text.startswith("Interviewer: Thanks for agreeing")
    first_words = len(TURNS[0][1].split())
    assert t.turns[1].start_time == pytest.approx(first_words / 2.5 + 0.8, abs=0.01)
    assert t.turns[-1].end_time > t.turns[-1].start_time > 0
    if name != "turns.csv":
        assert len(t.cues) == 12
        for cue in t.cues:
            assert t.text[cue.start : cue.end].strip() == t.text[cue.start : cue.end]


def test_whisperx_keeps_diarised_speakers_and_word_confidence(fixture_files: dict[str, Path]) -> None:
    t = read_transcript(fixture_files["whisperx.json"])
    assert [turn.speaker for turn in t.turns[:2]] == ["SPEAKER_00", "SPEAKER_01"]
    # 1 word in 5 was given 0.5 and the rest 0.9
    assert 0.75 < t.turns[1].confidence < 0.85
    assert t.cues[0].confidence is not None


def test_plain_whisper_without_speakers_uses_logprob_confidence(fixture_files: dict[str, Path]) -> None:
    t = read_transcript(fixture_files["whisper.json"])
    assert all(turn.speaker is None for turn in t.turns)
    assert t.cues[0].confidence == pytest.approx(0.8187, abs=1e-3)  # exp(-0.2)
    assert "nobody was queuing up" in t.text


def test_bad_files_each_get_one_clear_error(bad_files: dict) -> None:
    for name, (path, word) in bad_files.items():
        with pytest.raises(IngestError) as info:
            read_transcript(path)
        message = str(info.value)
        assert "\n" not in message, name
        assert word.lower() in message.lower(), (name, message)


def test_batch_with_bad_files_goes_on_and_exit_code_counts_failures(
    tmp_path: Path, fixture_files: dict[str, Path], bad_files: dict
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("typed.txt", "voice.vtt", "whisperx.json"):
        shutil.copy(fixture_files[name], folder / name)
    for name in ("empty.txt", "binary.txt", "broken.json"):
        shutil.copy(bad_files[name][0], folder / name)
    manifest = tmp_path / "manifest.csv"
    names = ("voice.vtt", "whisperx.json", "empty.txt", "binary.txt", "broken.json")
    listed = "".join(f"batch/{n},C,,\n" for n in names)
    manifest.write_text(
        "file,site,participant,role\nbatch/typed.txt,A,A-P1,doctor\nbatch/missing.docx,B,B-P1,nurse\n" + listed
    )
    (folder / "unlisted.txt").write_text("Interviewer: Not in the manifest?\nP1: No.\n")
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "proj")]).exit_code == 0
    result = runner.invoke(
        main, ["ingest", str(tmp_path / "proj"), str(folder), "--manifest", str(manifest), "--quiet"]
    )
    assert result.exit_code == 4, result.output  # three bad files and one missing file
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 4
    assert any("missing.docx" in e and "not found" in e for e in errors)
    assert any("empty.txt" in e and "empty" in e for e in errors)
    assert "3 added" in result.output and "1 skipped" in result.output
    assert any("unlisted.txt" in line and "not listed in the manifest" in line for line in result.output.splitlines())
    with Project(tmp_path / "proj") as p:
        docs = p.documents()
    assert sorted(docs.document) == ["typed", "voice", "whisperx"]
    assert docs.set_index("document").loc["typed", "site"] == "A"


def test_reingest_is_idempotent_and_changes_make_versions(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    src = tmp_path / "interview.txt"
    shutil.copy(fixture_files["typed.txt"], src)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,site,participant,role,level\ninterview.txt,C,C-P7,manager,board\n")
    with Project.init(tmp_path / "proj") as p:
        first = p.ingest([src], manifest)
        assert len(first.added) == 1
        segments_before = len(p.segments())
        again = p.ingest([src], manifest)
        assert again.unchanged == [str(src)] and not again.added and not again.updated
        assert len(p.segments()) == segments_before
        assert p.con.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 1
        src.write_text(src.read_text() + "\nDr Shah: One more thing about the board.\n")
        changed = p.ingest([src], manifest)
        assert changed.updated == [str(src)]
        docs = p.documents(all_versions=True)
        assert list(docs.version) == [1, 2]
        current = p.documents()
        assert list(current.version) == [2]
        # metadata is queryable as columns and carried to the new version
        assert current.iloc[0][["site", "participant", "role", "level"]].tolist() == ["C", "C-P7", "manager", "board"]
        assert "One more thing" in " ".join(p.segments().text)


def test_manifest_interviewer_column_marks_diarised_speaker(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    manifest = tmp_path / "manifest.csv"
    shutil.copy(fixture_files["whisperx.json"], tmp_path / "x.json")
    manifest.write_text("file,site,interviewer\nx.json,D,SPEAKER_00\n")
    with Project.init(tmp_path / "proj") as p:
        p.ingest([], manifest)
        segs = p.segments()
    assert set(segs[segs.speaker == "SPEAKER_00"].speaker_role) == {"interviewer"}
    assert set(segs[segs.speaker == "SPEAKER_01"].speaker_role) == {"participant"}


def test_huge_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "huge.txt"
    with big.open("wb") as f:
        f.seek(60 * 1024 * 1024)
        f.write(b"x")
    with pytest.raises(IngestError, match="too large"):
        read_transcript(big)


def test_speech_after_colon_is_not_a_speaker_label() -> None:
    from nlp_theming.ingest.text import parse_labelled_text

    text = "Interviewer: What happened?\nP3: Well it was odd.\nSo basically: the board decided.\nP3: Yes."
    t = parse_labelled_text(text, "txt")
    assert [turn.speaker for turn in t.turns] == ["Interviewer", "P3", "P3"]
    assert "So basically: the board decided." in t.turn_text(t.turns[1])


def test_caption_text_with_a_colon_is_not_a_speaker() -> None:
    from nlp_theming.ingest.timed import read_srt, read_vtt

    srt = (
        b"1\n00:00:01,000 --> 00:00:03,000\nThe honest answer: not enough PAs.\n\n"
        b"2\n00:00:03,500 --> 00:00:05,000\n[laughs] We get two.\n"
    )
    t = read_srt(srt)
    assert [turn.speaker for turn in t.turns] == [None]
    assert t.turn_text(t.turns[0]) == "The honest answer: not enough PAs. [laughs] We get two."
    vtt = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nAna Lopez: Hello.\n\n"
        b"00:00:02.000 --> 00:00:03.000\nBo: Hi.\n\n00:00:03.000 --> 00:00:04.000\nBo: Again.\n"
    )
    assert [turn.speaker for turn in read_vtt(vtt).turns] == ["Ana Lopez", "Bo"]


def test_one_odd_file_fails_alone_and_the_batch_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a.txt").write_text("Interviewer: How was it?\nP1: Fine, mostly.\n")
    # diarisers that number speakers: 1 is the label "1", not a crash
    segments = [
        {"start": 0, "end": 1, "text": "Hello.", "speaker": 1},
        {"start": 1, "end": 2, "text": "Hi.", "speaker": 2},
    ]
    (folder / "numbered.json").write_text(json.dumps({"segments": segments}))
    (folder / "huge_field.csv").write_text('speaker,text\nP1,"' + "word " * 30_000 + '"\n')
    (folder / "nested.json").write_text("[" * 100_000 + "]" * 100_000)  # the json module's RecursionError
    (folder / "badtime.srt").write_text("1\n00:00:01,000 --> 00:99:01,000\nHello.\n")
    (folder / "z.txt").write_text("Interviewer: And then?\nP1: Then it was over.\n")
    with Project.init(tmp_path / "proj") as p:
        report = p.ingest([folder])
        stored = sorted(r[0] for r in p.con.execute("SELECT name FROM documents"))
        speakers = [r[0] for r in p.con.execute("SELECT speaker FROM turns JOIN documents d ON d.id = document_id")]
    # a field over the csv module's own 131,072-character limit is just a long answer
    assert sorted(Path(f).name for f in report.added) == ["a.txt", "huge_field.csv", "numbered.json", "z.txt"]
    assert stored == ["a", "huge_field", "numbered", "z"]
    assert "1" in speakers and "2" in speakers
    failed = {Path(f).name: problem for f, problem in report.failed}
    assert set(failed) == {"nested.json", "badtime.srt"}
    assert failed["nested.json"] == "malformed JSON: nested too deeply to be a transcript"
    assert "subtitle 1 (line 2)" in failed["badtime.srt"] and "00:99:01,000" in failed["badtime.srt"]
    for line in report.lines():
        assert "\n" not in line


def test_a_store_failure_rolls_back_that_file_only(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("a_typed.txt", "faulty.vtt", "z_voice.vtt"):
        shutil.copy(fixture_files["typed.txt" if name.endswith(".txt") else "voice.vtt"], folder / name)
    with Project.init(tmp_path / "proj") as p:
        # a real fault half-way through storing one file: its turns are in, its cues are refused
        p.con.execute(
            "CREATE TRIGGER fault BEFORE INSERT ON cues"
            " WHEN (SELECT name FROM documents WHERE id = NEW.document_id) = 'faulty'"
            " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )
        report = p.ingest([folder])
        names = sorted(r[0] for r in p.con.execute("SELECT name FROM documents"))
        orphans = p.con.execute("SELECT COUNT(*) FROM turns WHERE document_id NOT IN (SELECT id FROM documents)")
        assert orphans.fetchone()[0] == 0
    assert names == ["a_typed", "z_voice"]
    assert [(Path(f).name, problem) for f, problem in report.failed] == [
        ("faulty.vtt", "unexpected error: IntegrityError: disk trouble")
    ]


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        (
            "minutes.vtt",
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n\n00:00:02.000 --> 00:99:01.000\nHo.\n",
            "line 6",
        ),
        ("backwards.vtt", "WEBVTT\n\nc1\n00:00:05.000 --> 00:00:03.000\nHi.\n", "line 4"),
        ("backwards.srt", "1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n00:00:09,000 --> 00:00:08,000\nHo.\n", "line 6"),
        ("nan.json", '{"segments": [{"start": NaN, "end": 1, "text": "hi"}]}', "segment 0"),
        (
            "backwards.json",
            '{"segments": [{"start": 0, "end": 1, "text": "a"}, {"start": 3, "end": 2, "text": "b"}]}',
            "segment 1",
        ),
        ("nan.csv", "speaker,text,start,end\nP1,Hi,0,1\nP1,Ho,nan,2\n", "row 3"),
        ("backwards.csv", "speaker,text,start,end\nP1,Hi,00:00:05,00:00:04\n", "row 2"),
        ("minutes.txt", "Interviewer: Hi.\n[00:75:00] P3: Hello.\n", "line 2"),
    ],
)
def test_bad_timestamps_are_refused_naming_the_cue(tmp_path: Path, name: str, data: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(data)
    with pytest.raises(IngestError) as info:
        read_transcript(path)
    assert where in str(info.value) and "\n" not in str(info.value)


def test_timestamp_parsing_rejects_what_is_not_a_time() -> None:
    from nlp_theming.transcript import parse_timestamp

    assert parse_timestamp("01:02:03.5") == 3723.5
    assert parse_timestamp("75:00") == 4500.0  # no hours field: minutes may run on
    assert parse_timestamp("12.25") == 12.25
    for bad in ("00:99:01", "00:00:60", "nan", "inf", "-1", "1e3", ""):
        with pytest.raises(IngestError, match="bad timestamp"):
            parse_timestamp(bad)


def test_json_speaker_must_be_text_or_a_number(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps([{"start": 0, "end": 1, "text": "hi", "speaker": {"id": 1}}]))
    with pytest.raises(IngestError, match="segment 0: speaker must be text or a number"):
        read_transcript(path)


def test_changing_only_the_manifest_interviewer_remarks_roles(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    src = tmp_path / "x.json"
    shutil.copy(fixture_files["whisperx.json"], src)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,interviewer\nx.json,SPEAKER_00\n")

    def roles(p: Project) -> dict[str, set[str]]:
        segs = p.segments()
        return {s: set(segs[segs.speaker == s].speaker_role) for s in ("SPEAKER_00", "SPEAKER_01")}

    with Project.init(tmp_path / "proj") as p:
        p.ingest([], manifest)
        ids = [tuple(r) for r in p.con.execute("SELECT id, scheme FROM segments ORDER BY id")]
        assert roles(p) == {"SPEAKER_00": {"interviewer"}, "SPEAKER_01": {"participant"}}
        manifest.write_text("file,interviewer\nx.json,SPEAKER_01\n")
        report = p.ingest([], manifest)
        assert [Path(f).name for f in report.unchanged] == ["x.json"]
        assert roles(p) == {"SPEAKER_00": {"participant"}, "SPEAKER_01": {"interviewer"}}
        marked = p.con.execute("SELECT speaker FROM turns WHERE is_interviewer = 1").fetchall()
        assert {r[0] for r in marked} == {"SPEAKER_01"}
        # the same segments, so suggestions and decisions on them still apply
        assert [tuple(r) for r in p.con.execute("SELECT id, scheme FROM segments ORDER BY id")] == ids
        # a new version read without a manifest keeps the carried-over interviewer
        data = json.loads(src.read_text())
        data["segments"].append({"start": 999, "end": 1000, "text": "One more thing.", "speaker": "SPEAKER_00"})
        src.write_text(json.dumps(data))
        assert len(p.ingest([src]).updated) == 1
        assert roles(p) == {"SPEAKER_00": {"participant"}, "SPEAKER_01": {"interviewer"}}


def test_vtt_cue_with_several_voices_gives_each_its_text() -> None:
    from nlp_theming.ingest.timed import read_vtt

    vtt = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Bo>Hi.</v> <v Ana>And you?</v>\n\n"
        b"00:00:03.000 --> 00:00:05.000\n<v.loud Bo>Fine. <v Ana>Good.\n"
    )
    t = read_vtt(vtt)
    assert [(turn.speaker, t.turn_text(turn)) for turn in t.turns] == [
        ("Bo", "Hi."),
        ("Ana", "And you?"),
        ("Bo", "Fine."),
        ("Ana", "Good."),
    ]
    assert [(turn.start_time, turn.end_time) for turn in t.turns] == [(1, 3), (1, 3), (3, 5), (3, 5)]


def test_bracketed_sound_tags_are_text_and_bracketed_names_are_speakers() -> None:
    from nlp_theming.ingest.timed import read_srt

    cues = [
        "[laughs] We get two.",
        "[Dr Shah] Two is not enough.",
        "[inaudible] and then",
        "[SPEAKER_01] Agreed.",
        "[Crosstalk] no",
        "[P3] Me too.",
        "[music] la",
        "[pause] so",
        "[P3] Yes.",
    ]
    cues += [c for c in cues if not c.startswith(("[Dr", "[SPEAKER", "[P3"))]  # every tag twice: it recurs
    srt = "\n".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},500\n{c}\n" for i, c in enumerate(cues, start=1))
    t = read_srt(srt.encode())
    speakers = {turn.speaker for turn in t.turns}
    assert speakers == {None, "Dr Shah", "SPEAKER_01", "P3"}
    for tag in ("[laughs] We get two.", "[inaudible] and then", "[Crosstalk] no", "[music] la", "[pause] so"):
        assert tag in t.text


def test_folder_without_manifest_skips_files_that_are_plainly_not_transcripts(
    tmp_path: Path, fixture_files: dict[str, Path]
) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(fixture_files["typed.txt"], folder / "typed.txt")
    (folder / "turns.csv").write_text("speaker,text\nInterviewer,How was it?\nP1,Busy but fine.\n")
    (folder / "README.md").write_text("# Study\n\nTranscripts of the pilot.\n")
    (folder / "LICENSE.txt").write_text("CC-BY 4.0\n")
    (folder / "themes.csv").write_text("meta-theme,code,definition\nWork,Staffing,Having enough staff\n")
    (folder / "coded.csv").write_text("unit_id,document,coder,text,codes\n1,typed,ana,Busy,Staffing\n")
    (folder / "sites.csv").write_text("file,site\ntyped.txt,A\n")
    (folder / "~$typed.docx").write_bytes(b"\x00lock")
    # real transcripts that merely look like the above: a name that starts like one, a batch CSV
    # of turns with a file column
    (folder / "authors_interview_01.txt").write_text("Interviewer: Who wrote it?\nP2: We all did.\n")
    (folder / "batch.csv").write_text("file,start,end,speaker,text\nrec1.wav,0,2,A,Hello there.\n")
    with Project.init(tmp_path / "proj") as p:
        report = p.ingest([folder])
        assert sorted(p.documents().document) == ["authors_interview_01", "batch", "turns", "typed"]
    skipped = dict(report.skipped)
    assert set(map(lambda s: Path(s).name, skipped)) == {
        "README.md", "LICENSE.txt", "themes.csv", "coded.csv", "sites.csv", "~$typed.docx"
    }
    assert "codebook" in skipped[str(folder / "themes.csv")]
    assert "manifest" in skipped[str(folder / "sites.csv")]
    assert report.failed == []
    # named on its own, a file is read as asked: a codebook then fails with its reader's reason
    with Project(tmp_path / "proj") as p:
        alone = p.ingest([folder / "themes.csv"])
    assert alone.skipped == [] and len(alone.failed) == 1
