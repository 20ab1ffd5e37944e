"""Speech made during the test with Debian's espeak-ng, for the speech recognition tests.

Everything here is SYNTHETIC: a made-up interview spoken by two synthetic voices (an
interviewer and a participant), written as WAV files (the word SYNTHETIC is in the file names
and in a README written beside them) or encoded to the other recording formats with PyAV.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

RATE = 22_050  # espeak-ng's sample rate
INTERVIEWER, PARTICIPANT = "en+m3", "en+f3"
# (voice, text): a question and an answer, then another pair
INTERVIEW = [
    (INTERVIEWER, "How long have you worked on the ward, and what has changed for you?"),
    (PARTICIPANT, "I have worked here for six years. The staffing has got worse, and we are always short of nurses."),
    (INTERVIEWER, "How does that affect the patients?"),
    (PARTICIPANT, "They wait longer for help, and nobody has time to sit and talk to them."),
]
PAUSE = 1.5  # seconds between turns


def need_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng; scripts/setup.sh does)")


def need_asr() -> None:
    """Skip unless faster-whisper and a speech recognition model are on this machine."""
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed (the audio extra)")
    from nlp_theming.ingest.asr import AsrUnavailable, find_asr_model

    try:
        find_asr_model()
    except AsrUnavailable as exc:
        pytest.skip(f"no speech recognition model: {exc}")


def speak(text: str, voice: str) -> np.ndarray:
    """``text`` spoken by ``voice`` as int16 samples at :data:`RATE`."""
    out = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        assert w.getframerate() == RATE
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def conversation(turns: list[tuple[str, str]] = INTERVIEW, pause: float = PAUSE) -> np.ndarray:
    silence = np.zeros(int(RATE * pause), dtype=np.int16)
    parts = []
    for voice, text in turns:
        parts += [speak(text, voice), silence]
    return np.concatenate(parts)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype(np.int16).tobytes())
    readme = path.parent / "README.txt"
    if not readme.exists():
        readme.write_text("SYNTHETIC speech made by the tests with espeak-ng: no real person, no real interview.\n")
    return path


def interview_clip(folder: Path, name: str = "synthetic-interview") -> Path:
    """The two-voice interview as a WAV file in ``folder``."""
    return write_wav(folder / f"{name}.wav", conversation())


# extension -> (container format, audio codec); .mp4 also gets a video track
ENCODINGS = {
    ".flac": ("flac", "flac"),
    ".ogg": ("ogg", "libopus"),
    ".mp3": ("mp3", "libmp3lame"),
    ".m4a": ("ipod", "aac"),
    ".mp4": ("mp4", "aac"),
    ".webm": ("webm", "libopus"),
}


def encode(samples: np.ndarray, path: Path, rate: int = RATE) -> Path:
    """Encode mono int16 samples into ``path``'s format with PyAV (a video track too for .mp4)."""
    import av

    fmt, codec = ENCODINGS[path.suffix]
    with av.open(str(path), "w", format=fmt) as container:
        container.metadata["comment"] = "SYNTHETIC speech made by the tests"
        stream_rate = 48_000 if codec == "libopus" else rate
        audio = container.add_stream(codec, rate=stream_rate, layout="mono")
        if path.suffix == ".mp4":
            video = container.add_stream("mpeg4", rate=5)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            frames = int(len(samples) / rate * 5) + 1
            for i in range(frames):
                image = np.full((48, 64, 3), (i * 7) % 255, dtype=np.uint8)
                for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in video.encode(None):
                container.mux(packet)
        resampler = av.AudioResampler(format=audio.format.name, layout="mono", rate=stream_rate)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        size = audio.frame_size or 1024
        fifo = av.AudioFifo()
        for out in resampler.resample(frame) + resampler.resample(None):
            fifo.write(out)
        while fifo.samples:
            chunk = fifo.read(min(size, fifo.samples))
            for packet in audio.encode(chunk):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
    return path
