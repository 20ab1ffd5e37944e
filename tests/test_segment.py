"""Segmentation: exact offsets, turn boundaries, the fallback for unpunctuated speech."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nlp_theming import Segmenter, read_transcript
from nlp_theming.transcript import TimedPiece, from_timed_pieces


@pytest.mark.parametrize("unit", ["window", "sentence", "turn"])
@pytest.mark.parametrize("name", ["typed.txt", "typed.docx", "voice.vtt", "whisperx.json"])
def test_segments_have_exact_offsets_inside_one_turn(fixture_files: dict[str, Path], unit: str, name: str) -> None:
    t = read_transcript(fixture_files[name])
    segments = Segmenter(unit=unit).segment(t)
    assert segments
    for s in segments:
        turn = t.turns[s.turn_idx]
        assert turn.start <= s.start < s.end <= turn.end
        text = t.text[s.start : s.end]
        assert text == text.strip() and text
    # every word of every turn is in exactly one segment
    covered = "".join(t.text[s.start : s.end] + " " for s in segments).split()
    assert covered == [w for turn in t.turns for w in t.turn_text(turn).split()]


def test_units_differ_in_size(fixture_files: dict[str, Path]) -> None:
    t = read_transcript(fixture_files["typed.txt"])
    n = {unit: len(Segmenter(unit=unit).segment(t)) for unit in ("sentence", "window", "turn")}
    assert n["sentence"] > n["window"] >= n["turn"] == len(t.turns)


def test_window_groups_sentences_within_limits(fixture_files: dict[str, Path]) -> None:
    t = read_transcript(fixture_files["typed.txt"])
    seg = Segmenter(unit="window", max_sentences=2, max_words=80)
    for s in seg.segment(t):
        text = t.text[s.start : s.end]
        assert len(re.findall(r"[.?!](\s|$)", text)) <= 2


def test_unpunctuated_speech_falls_back_to_cues_then_length() -> None:
    words = [f"word{i}" for i in range(300)]
    pieces = [TimedPiece(" ".join(words[i : i + 20]), i / 2.5, (i + 20) / 2.5, "P1") for i in range(0, 300, 20)]
    t = from_timed_pieces(pieces, "vtt")
    segments = Segmenter(max_words=50).segment(t)
    cue_starts = {c.start for c in t.cues}
    for s in segments:
        assert len(t.text[s.start : s.end].split()) <= 50
        assert s.start in cue_starts  # cut where the recogniser paused
        assert s.start_time is not None and s.end_time > s.start_time
    # with no cues at all, cut at even word counts
    plain = from_timed_pieces([TimedPiece(" ".join(words), None, None, "P1")], "srt")
    plain.cues = []
    chunks = Segmenter(max_words=50).segment(plain)
    assert [len(plain.text[s.start : s.end].split()) for s in chunks] == [50] * 6


def test_segment_times_come_from_overlapping_cues(fixture_files: dict[str, Path]) -> None:
    t = read_transcript(fixture_files["voice.vtt"])
    for s in Segmenter().segment(t):
        cues = [c for c in t.cues if c.start < s.end and c.end > s.start]
        assert s.start_time == min(c.start_time for c in cues)
        assert s.end_time == max(c.end_time for c in cues)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown segmentation unit"):
        Segmenter(unit="paragraph")
    with pytest.raises(ValueError):
        Segmenter(max_words=1)


def test_missing_spacy_pipeline_is_a_clear_error(fixture_files: dict[str, Path]) -> None:
    t = read_transcript(fixture_files["typed.txt"])
    with pytest.raises(ValueError, match="not installed"):
        Segmenter(spacy_model="xx_no_such_pipeline").segment(t)


def test_unpunctuated_speech_is_cut_at_the_longest_pause() -> None:
    # eight cues of ten words; the speaker pauses for 1.5 s before the fourth cue
    starts = [0.0, 4.1, 8.2, 13.8, 17.9, 22.0, 26.1, 30.2]
    pieces = [
        TimedPiece(" ".join(f"w{i}x{j}" for j in range(10)), start, start + 4.0, "P1") for i, start in enumerate(starts)
    ]
    timed = from_timed_pieces(pieces, "vtt")
    sizes = [len(timed.text[s.start : s.end].split()) for s in Segmenter(max_words=50).segment(timed)]
    assert sizes == [30, 50]  # greedy packing would give [50, 30], cutting mid-flow
    # without times there is no pause to prefer: greedy packing as before
    untimed = from_timed_pieces([TimedPiece(p.text, None, None, "P1") for p in pieces], "vtt")
    sizes = [len(untimed.text[s.start : s.end].split()) for s in Segmenter(max_words=50).segment(untimed)]
    assert sizes == [50, 30]
