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


def test_a_turn_over_spacys_limit_is_segmented_in_chunks() -> None:
    """One turn of 1.2 million characters (a caption file with no speakers, a huge paragraph) is
    cut like any other, never handed to spaCy whole (its max_length is 1,000,000)."""
    sentence = "We talked about the rota for a long time. "
    text = sentence * 29_000 + "And then\n" + sentence * 200
    from nlp_theming.transcript import Transcript, Turn

    t = Transcript(text, "txt", [Turn("P1", 0, len(text))])
    segments = Segmenter().segment(t)
    assert len(text) > 1_000_000
    assert segments[-1].end == len(text.rstrip())
    # units tile the turn's sentences: no text lost at a chunk boundary, none taken twice
    covered = "".join(text[s.start : s.end] for s in segments)
    assert covered.replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    assert all(len(text[s.start : s.end].split()) <= 80 for s in segments)


def test_cue_times_match_a_plain_scan_of_every_cue() -> None:
    """Segment times and confidences are looked up by bisection; they must equal what scanning
    every cue gives (the definition), including overlapping cues and cues out of step with turns."""
    import random

    rng = random.Random(0)
    words = "the rota was hard and we coped somehow with the staff we had".split()
    pieces, clock = [], 0.0
    for i in range(400):
        clock += rng.uniform(0.0, 2.0)
        length = rng.uniform(0.5, 4.0)
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) + rng.choice([".", "", "?"])
        pieces.append(TimedPiece(text, clock, clock + length, "A" if i % 7 < 4 else "B", rng.uniform(0.3, 1.0)))
        clock += length * rng.choice([1.0, 0.5])  # some cues overlap the next
    t = from_timed_pieces(pieces, "vtt")
    for unit in ("window", "sentence", "turn"):
        for seg in Segmenter(unit=unit, max_words=25).segment(t):
            cues = [c for c in t.cues if c.start < seg.end and c.end > seg.start]
            assert cues
            assert seg.start_time == min(c.start_time for c in cues)
            assert seg.end_time == max(c.end_time for c in cues)
            assert seg.confidence == pytest.approx(sum(c.confidence for c in cues) / len(cues))
