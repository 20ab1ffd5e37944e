"""Recordings: decoded locally, transcribed with the real faster-whisper model, stored and named.

The speech is SYNTHETIC, spoken by espeak-ng during the test (tests/helpers/speech.py). Tests
that need the recogniser skip, saying why, when faster-whisper, its model or espeak-ng is
missing; the decoding, windowing and naming tests need only PyAV or nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlp_theming import Project, read_transcript
from nlp_theming.ingest import RECORDING_FORMATS
from nlp_theming.ingest.asr import (
    SAMPLE_RATE,
    AsrOptions,
    AsrUnavailable,
    quietest_cut,
    transcribe_recording,
    transcript_paths,
    transcription_steps,
    webvtt,
    windows,
)
from nlp_theming.review.server import create_app
from nlp_theming.store.documents import load_transcript
from nlp_theming.textio import InputError, Limits, check_size
from nlp_theming.transcript import merge_speaker_names, speaker_names_applied
from tests.helpers.speech import (
    ENCODINGS,
    INTERVIEW,
    conversation,
    encode,
    interview_clip,
    need_asr,
    need_espeak,
    write_wav,
)

CODEBOOK = """code,description,examples
Staffing,"Not enough staff, nurses or doctors; shortages and workload","we are always short of nurses | understaffed"
Patient care,"How patients are looked after, waiting, time with them","patients wait longer | no time to talk"
"""  # SYNTHETIC


@pytest.fixture(scope="module")
def asr_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic interview recorded as WAV and ingested into a project (transcribed once)."""
    need_espeak()
    need_asr()
    folder = tmp_path_factory.mktemp("asr")
    clip = interview_clip(folder / "recordings")
    with Project.init(folder / "project") as p:
        report = p.ingest([clip])
        assert report.failed == [] and report.added == [str(clip)]
    return folder


@pytest.fixture
def asr_copy(asr_project: Path, tmp_path: Path) -> Path:
    shutil.copytree(asr_project, tmp_path / "copy")
    return tmp_path / "copy"


# ---------------------------------------------------------------------- end to end (real model)


@pytest.mark.slow
def test_recording_ingested_segmented_suggested(asr_copy: Path) -> None:
    project = asr_copy / "project"
    with Project(project) as p:
        docs = p.documents()
        assert docs["source_format"].tolist() == ["asr"]
        segments = p.segments()
        # timed, with the recogniser's confidence, in order
        assert segments["start_time"].notna().all() and segments["end_time"].notna().all()
        assert segments["confidence"].between(0, 1).all()
        assert (segments["start_time"].diff().dropna() > 0).all()
        text = " ".join(segments["text"]).lower()
        for words in ("worked on the ward", "six years", "nurses", "patients", "talk to them"):
            assert words in text
        # no diariser: unnamed turns, cut at the pauses and after each question
        assert segments["speaker"].isna().all()
        assert segments["text"].iloc[0].rstrip().endswith("?")
        assert len(segments) >= 4
        first_answer = segments.iloc[1]
        assert first_answer["start_time"] >= segments.iloc[0]["end_time"] + 1.0

        # the transcript files beside the project, for correcting by hand
        done, vtt, partial = transcript_paths(project / "transcripts", "synthetic-interview")
        assert done.is_file() and vtt.is_file() and not partial.exists()
        data = json.loads(done.read_text())
        assert data["language"] == "en" and data["nlp_theming"]["complete"] is True
        assert all(w["probability"] is not None for s in data["segments"] for w in s["words"])
        assert read_transcript(vtt).text.replace("\n\n", " ").split() == " ".join(
            s["text"] for s in data["segments"]).split()

    # the transcript view: the recording's passages with their times, and who spoke named there,
    # in one form for the whole document (no diariser: the turns take the names in turn)
    client = create_app(project, coder="ana").test_client()
    page = client.get("/document/synthetic-interview")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="muted seek"') >= 4 and 'id="speakers-form"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    named = client.post("/speakers", data={"csrf_token": token, "document": "synthetic-interview",
                                           "alternate": "Interviewer, P1"})
    assert named.status_code == 302
    html = client.get("/document/synthetic-interview").get_data(as_text=True)
    assert ">Interviewer<" in html and "P1" in html

    with Project(project) as p:
        turns = p.segments()[["speaker", "speaker_role"]].drop_duplicates()
        assert set(turns.itertuples(index=False, name=None)) == {("Interviewer", "interviewer"), ("P1", "participant")}
        # suggest with the real embedding model, now that who spoke is known
        p.load_codebook(_codebook(asr_copy))
        summary = p.suggest()
        suggestions = p.suggestions()
        assert summary.n_segments == 2  # the participant's two answers; the questions are context
        top = suggestions.sort_values("rank").groupby("segment_id").first()
        assert set(top["code"]) == {"Staffing", "Patient care"}

        # the passages the recogniser was least sure of, to check before coding
        answers = suggestions.drop_duplicates("segment_id")
        unsure = answers["confidence"].min()
        queue = p.queue(max_confidence=unsure)
        assert set(queue["segment_id"]) == set(answers.loc[answers["confidence"] == unsure, "segment_id"])

        # what the transcript view reads: the stored transcript, its cues timed and scored
        doc_id = int(docs["document_id"].iloc[0])
        stored = load_transcript(p.con, doc_id)
        assert len(stored.cues) == len(data["segments"])
        assert all(c.start_time is not None and c.confidence is not None for c in stored.cues)


def _codebook(folder: Path) -> Path:
    path = folder / "codebook.csv"
    path.write_text(CODEBOOK)
    return path


@pytest.mark.slow
def test_finished_transcript_is_reused_and_a_batch_goes_on(asr_copy: Path) -> None:
    """A killed batch keeps what it finished: the transcript on disk is reused with no model at
    all, while a new recording in the same batch fails with one line saying how to get one."""
    no_model = asr_copy / "no-model"
    no_model.mkdir()
    other = write_wav(asr_copy / "recordings" / "second.wav", conversation(INTERVIEW[:1]))
    with Project(asr_copy / "project") as p:
        report = p.ingest([asr_copy / "recordings"], asr=AsrOptions(model=str(no_model)))
    clip = str(asr_copy / "recordings" / "synthetic-interview.wav")
    assert report.unchanged == [clip]
    assert [path for path, _ in report.failed] == [str(other)]
    assert "not a CTranslate2 Whisper model folder" in report.failed[0][1]


@pytest.mark.slow
def test_corrected_transcript_becomes_a_new_version_with_its_naming(asr_copy: Path) -> None:
    project = asr_copy / "project"
    clip = asr_copy / "recordings" / "synthetic-interview.wav"
    with Project(project) as p:
        p.name_speakers("synthetic-interview", names={}, alternate=["Interviewer", "P1"])
    done = project / "transcripts" / "synthetic-interview.json"
    data = json.loads(done.read_text())
    data["segments"][1]["text"] = " I have worked here for seven years."
    done.write_text(json.dumps(data))
    with Project(project) as p:
        report = p.ingest([clip])
        assert report.updated == [str(clip)]
        docs = p.documents()
        assert docs["version"].tolist() == [2]
        segments = p.segments()
        assert "seven years" in " ".join(segments["text"])
        # the naming and the interviewer (recognised by its label) carried to version 2
        assert segments["speaker"].iloc[:2].tolist() == ["Interviewer", "P1"]
        assert segments["speaker_role"].iloc[:2].tolist() == ["interviewer", "participant"]
        # the corrected JSON ingested itself is the same transcript: nothing changes
        again = p.ingest([done])
        assert again.unchanged == [str(done)]


@pytest.mark.slow
def test_a_killed_transcription_resumes_and_gives_the_same_transcript(tmp_path: Path) -> None:
    need_espeak()
    need_asr()
    clip = write_wav(tmp_path / "rec" / "synthetic-long.wav", conversation(INTERVIEW))
    options = AsrOptions(window_seconds=8.0, search_seconds=3.0)
    killed = tmp_path / "killed"
    steps = transcription_steps(clip, killed, "synthetic-long", options)
    _, _, partial = transcript_paths(killed, "synthetic-long")
    for _ in steps:
        if partial.exists():
            break
    steps.close()  # as a kill would leave it: the first window saved, the rest not done
    saved = json.loads(partial.read_text())
    assert saved["nlp_theming"]["complete"] is False
    first_window = saved["nlp_theming"]["resume_sample"]
    assert 5 * SAMPLE_RATE <= first_window <= 8 * SAMPLE_RATE

    seen = []
    for seconds, _ in transcription_steps(clip, killed, "synthetic-long", options):
        seen.append(seconds)
    assert seen[0] == first_window / SAMPLE_RATE  # resumed, not started again
    resumed = json.loads((killed / "synthetic-long.json").read_text())
    fresh = json.loads(transcribe_recording(clip, tmp_path / "fresh", options=options).read_text())
    assert resumed["segments"] == fresh["segments"]
    assert not partial.exists()


# ---------------------------------------------------------------------- formats and bad input


@pytest.mark.parametrize("ext", sorted(ENCODINGS))
def test_every_recording_format_decodes_locally(ext: str, tmp_path: Path) -> None:
    pytest.importorskip("av", reason="PyAV is not installed (the audio extra)")
    from nlp_theming.ingest.asr import decode_samples, probe_recording

    rng = np.random.default_rng(0)
    rate = 22_050
    samples = (rng.normal(0, 3000, rate * 2)).astype(np.int16)  # 2 s of SYNTHETIC noise
    path = encode(samples, tmp_path / f"synthetic{ext}", rate)
    decoded = np.concatenate(list(decode_samples(path)))
    assert decoded.dtype == np.int16
    assert abs(decoded.size / SAMPLE_RATE - 2.0) < 0.1
    assert abs(probe_recording(path) - 2.0) < 0.1
    assert ext in RECORDING_FORMATS


def test_a_file_that_is_not_a_recording_gets_one_line(tmp_path: Path) -> None:
    pytest.importorskip("av", reason="PyAV is not installed (the audio extra)")
    fake = tmp_path / "interview.mp3"
    fake.write_bytes(b"this is text, not audio " * 100)
    empty = tmp_path / "silent.wav"
    empty.write_bytes(b"")
    with Project.init(tmp_path / "project") as p:
        report = p.ingest([fake, empty], asr=AsrOptions(model=str(tmp_path)))
    lines = dict(report.failed)
    assert set(lines) == {str(fake), str(empty)}
    for line in lines.values():
        assert "\n" not in line
    assert "not a readable audio or video file" in lines[str(fake)]
    assert lines[str(empty)] == "file is empty"


def test_a_missing_model_says_how_to_provide_one(tmp_path: Path) -> None:
    from nlp_theming.ingest.asr import find_asr_model

    with pytest.raises(AsrUnavailable, match=r"--asr-model .*: not a CTranslate2 Whisper model folder"):
        find_asr_model(str(tmp_path))


def test_the_packaged_model_is_put_together(tmp_path: Path) -> None:
    from nlp_theming.ingest.asr import PACKAGED_MODEL_BYTES, assemble_packaged_model, is_model_dir, packaged_model_parts

    if packaged_model_parts() is None:
        pytest.skip("the audio extra's model packages are not installed")
    folder = assemble_packaged_model(tmp_path / "whisper-base")
    assert is_model_dir(folder) and (folder / "model.bin").stat().st_size == PACKAGED_MODEL_BYTES
    assert not (folder / "model.bin.partial").exists()
    assert json.loads((folder / "config.json").read_text())  # a CTranslate2 model's config


def test_recordings_have_their_own_size_limit() -> None:
    limits = Limits(file_bytes=1000, recording_bytes=5000)
    check_size(4000, limits, recording=True)
    with pytest.raises(InputError, match="NLP_THEMING_MAX_RECORDING_MB"):
        check_size(6000, limits, recording=True)
    with pytest.raises(InputError, match="NLP_THEMING_MAX_FILE_MB"):
        check_size(4000, limits)


# ---------------------------------------------------------------------- windows (no model)


def test_windows_are_cut_in_pauses_and_resume_identically() -> None:
    rng = np.random.default_rng(1)
    speech = lambda s: rng.normal(0, 4000, int(s * SAMPLE_RATE)).astype(np.int16)  # noqa: E731
    quiet = lambda s: np.zeros(int(s * SAMPLE_RATE), dtype=np.int16)  # noqa: E731
    audio = np.concatenate([speech(7.3), quiet(0.6), speech(9.0), quiet(0.8), speech(6.0)])
    options = AsrOptions(window_seconds=10.0, search_seconds=4.0)
    blocks = [audio[i : i + 4000] for i in range(0, audio.size, 4000)]
    cut = list(windows(iter(blocks), options))
    # the first window ends inside the pause at 7.3-7.9 s, not at 10 s in the middle of speech
    first_end = (cut[0][0] + cut[0][1].size) / SAMPLE_RATE
    assert 7.3 <= first_end <= 7.9
    assert np.array_equal(np.concatenate([w for _, w in cut]), audio)
    # resumed at the first cut: the same windows after it
    resumed = list(windows(iter(blocks), options, skip=cut[1][0]))
    assert [s for s, _ in resumed] == [s for s, _ in cut[1:]]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(resumed, cut[1:], strict=True))
    assert quietest_cut(audio, 0, SAMPLE_RATE) < SAMPLE_RATE


def test_webvtt_of_segments_reads_back() -> None:
    segments = [{"start": 0.0, "end": 2.5, "text": " How are you?"},
                {"start": 3.25, "end": 3661.5, "text": " Fine --> thanks.", "speaker": "P1"}]
    vtt = webvtt(segments)
    assert "01:01:01.500" in vtt and "<v P1>" in vtt
    from nlp_theming.ingest.timed import read_vtt

    t = read_vtt(vtt.encode())
    assert [c.start_time for c in t.cues] == [0.0, 3.25]


# ---------------------------------------------------------------------- naming speakers (no model)


def test_speaker_names_spec() -> None:
    labels = [None, None, None, None, None]
    assert speaker_names_applied(labels, "#*=I,P") == ["I", "P", "I", "P", "I"]
    assert speaker_names_applied(labels, "#*=I,P|#4=P|P=P3") == ["I", "P3", "I", "P3", "P3"]
    assert speaker_names_applied(["SPEAKER_00", "SPEAKER_01"], "SPEAKER_01=P3|#9=X") == ["SPEAKER_00", "P3"]
    with pytest.raises(InputError, match="not a turn number"):
        speaker_names_applied(labels, "#x=P")
    assert merge_speaker_names("#*=I,P|#3=I|SPEAKER_00=A", ["#3=P", "#*=A,B"]) == "SPEAKER_00=A|#*=A,B"


def test_name_speakers_of_a_diarised_transcript(tmp_path: Path) -> None:
    """SPEAKER_00 and SPEAKER_01 named after ingest; the naming is kept and carried to a new
    version, and the interviewer is marked as the manifest's column would."""
    segments = [
        {"start": 0.0, "end": 2.0, "text": "What is your role?", "speaker": "SPEAKER_00"},
        {"start": 2.5, "end": 6.0, "text": "I lead the ward team and cover nights.", "speaker": "SPEAKER_01"},
        {"start": 6.5, "end": 8.0, "text": "And the rota?", "speaker": "SPEAKER_00"},
        {"start": 8.5, "end": 12.0, "text": "The rota is always short of nurses.", "speaker": "SPEAKER_01"},
    ]  # SYNTHETIC
    path = tmp_path / "diarised.json"
    path.write_text(json.dumps({"segments": segments}))
    with Project.init(tmp_path / "project") as p:
        p.ingest([path])
        naming = p.name_speakers("diarised", interviewer="Ana", names={"SPEAKER_00": "Ana", "SPEAKER_01": "P3"})
        assert naming.changed == 4 and naming.interviewer == "Ana"
        assert [t.speaker for t in naming.turns] == ["Ana", "P3", "Ana", "P3"]
        seg = p.segments()
        assert seg["speaker"].tolist() == ["Ana", "P3", "Ana", "P3"]
        assert seg["speaker_role"].tolist() == ["interviewer", "participant"] * 2
        attrs = p.documents().iloc[0]
        assert attrs["interviewer"] == "Ana" and attrs["speaker_names"] == "SPEAKER_00=Ana|SPEAKER_01=P3"
        segments[3]["text"] = "The rota is always short of nurses and doctors."
        path.write_text(json.dumps({"segments": segments}))
        assert p.ingest([path]).updated == [str(path)]
        seg = p.segments()
        assert seg["speaker"].tolist() == ["Ana", "P3", "Ana", "P3"]
        assert seg["speaker_role"].tolist() == ["interviewer", "participant"] * 2
        with pytest.raises(InputError, match="no document named"):
            p.name_speakers("nobody")


def test_speakers_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nlp_theming.cli import main

    path = tmp_path / "unlabelled.json"
    path.write_text(json.dumps({"segments": [  # SYNTHETIC: the kind of JSON a recording gives
        {"start": 0.0, "end": 2.0, "text": "What is your role?"},
        {"start": 3.5, "end": 6.0, "text": "I lead the ward team."},
    ], "nlp_theming": {"recording": "x.wav"}}))
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "p")]).exit_code == 0
    assert runner.invoke(main, ["ingest", str(tmp_path / "p"), str(path), "--quiet"]).exit_code == 0
    result = runner.invoke(main, ["speakers", str(tmp_path / "p"), "unlabelled", "--alternate", "Interviewer,P1"])
    assert result.exit_code == 0, result.output
    assert "2 turns renamed; interviewer: Interviewer" in result.output
    assert "#0" in result.output and "P1" in result.output
    bad = runner.invoke(main, ["speakers", str(tmp_path / "p"), "unlabelled", "--turn", "one=P1"])
    assert bad.exit_code != 0 and "the turn must be a number" in bad.output

