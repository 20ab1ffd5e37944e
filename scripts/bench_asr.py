"""Speech recognition on this machine: real-time factor, word error rate and memory.

The speech is SYNTHETIC: a made-up interview spoken by espeak-ng (two voices) from a reference
text, so the word error rate is against that text. Synthetic speech is clean and flat: real
interviews (room noise, overlapping talk, accents) give higher error rates than these.

    .venv/bin/python scripts/bench_asr.py                      # the short interview: RTF and WER
    .venv/bin/python scripts/bench_asr.py --minutes 20         # also a 20-minute recording: peak memory
    .venv/bin/python scripts/bench_asr.py --model PATH --threads 2

Each transcription runs in a child process, which reports its own peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# SYNTHETIC reference interview: (voice, text)
REFERENCE = [
    ("en+m3", "Thank you for talking to me today. Could you tell me about your role on the ward?"),
    ("en+f3", "I am a senior nurse on a medical ward. I look after the rota and I support the newer staff."),
    ("en+m3", "What has changed since you started?"),
    ("en+f3", "We have fewer nurses for the same number of beds, so every shift feels rushed and the "
              "breaks get cut first."),
    ("en+m3", "How does that affect the patients?"),
    ("en+f3", "They wait longer for their medicines and for help to the bathroom, and nobody has time "
              "to sit and talk with them."),
    ("en+m3", "What would help most?"),
    ("en+f3", "Two more nurses on the night shift, and a manager who asks us before the rota is changed."),
]
RATE = 22_050
PAUSE = 1.0


def speak(text: str, voice: str) -> np.ndarray:
    out = subprocess.run(["espeak-ng", "-v", voice, "-w", "/dev/stdout", text], capture_output=True,
                         check=True).stdout
    import io

    with wave.open(io.BytesIO(out)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def make_recording(path: Path, repeats: int = 1) -> tuple[float, str]:
    """The reference interview spoken ``repeats`` times: (seconds, reference text)."""
    silence = np.zeros(int(RATE * PAUSE), dtype=np.int16)
    once = np.concatenate([part for voice, text in REFERENCE for part in (speak(text, voice), silence)])
    samples = np.tile(once, repeats)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return samples.size / RATE, " ".join(text for _, text in REFERENCE * repeats)


def words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance over words."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)


def child(recording: str, out: str, model: str | None, threads: int, mode: str) -> None:
    """Runs in the child process: transcribe (or, with mode whole, only decode and compute the
    features of the whole recording, as faster-whisper would), print timings as JSON."""
    if mode == "whole":
        from faster_whisper.audio import decode_audio
        from faster_whisper.feature_extractor import FeatureExtractor

        start = time.perf_counter()
        features = FeatureExtractor()(decode_audio(recording))
        print(json.dumps({"seconds": time.perf_counter() - start, "features": list(features.shape),
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    from nlp_theming.ingest.asr import AsrOptions, find_asr_model, load_asr_model, transcribe_recording

    options = AsrOptions(model=model, threads=threads)
    start = time.perf_counter()
    load_asr_model(find_asr_model(model), options.compute_type, options.threads)
    loaded = time.perf_counter()
    done = transcribe_recording(recording, out, options=options)
    print(json.dumps({"load": loaded - start, "seconds": time.perf_counter() - loaded, "json": str(done),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))  # KiB on Linux


def run_child(recording: Path, out: Path, model: str | None, threads: int, mode: str = "asr") -> dict:
    cmd = [sys.executable, __file__, "--child", str(recording), "--out", str(out), "--threads", str(threads),
           "--mode", mode] + (["--model", model] if model else [])
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"transcription failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="A CTranslate2 Whisper model folder (default: whisper-base).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=0, help="Also a recording this long: peak memory.")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="asr", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.out, args.model, args.threads, args.mode)
        return
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed to make the synthetic speech (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        folder = Path(tmp)
        seconds, reference = make_recording(folder / "synthetic-interview.wav")
        figures = run_child(folder / "synthetic-interview.wav", folder / "out", args.model, args.threads)
        hypothesis = json.loads(Path(figures["json"]).read_text())["text"]
        print("SYNTHETIC speech (espeak-ng, two voices), int8 on the CPU, "
              f"{args.threads} threads, model {args.model or 'whisper-base'}")
        print(f"short interview: {seconds:.1f} s of audio, transcribed in {figures['seconds']:.1f} s "
              f"(model load {figures['load']:.1f} s): real-time factor {figures['seconds'] / seconds:.2f}; "
              f"word error rate {word_error_rate(reference, hypothesis):.1%} over {len(words(reference))} words; "
              f"peak memory {figures['peak_rss_mb']:.0f} MB")
        if args.minutes:
            repeats = max(1, round(args.minutes * 60 / seconds))
            long_seconds, long_reference = make_recording(folder / "synthetic-long.wav", repeats)
            whole = run_child(folder / "synthetic-long.wav", folder / "whole", None, args.threads, "whole")
            print(f"{long_seconds / 60:.1f} min recording, decoded whole with its spectrogram as faster-whisper "
                  f"does: peak memory {whole['peak_rss_mb']:.0f} MB")
            long = run_child(folder / "synthetic-long.wav", folder / "out-long", args.model, args.threads)
            hypothesis = json.loads(Path(long["json"]).read_text())["text"]
            print(f"{long_seconds / 60:.1f} min recording, streamed in windows: transcribed in {long['seconds']:.0f} s "
                  f"(real-time factor {long['seconds'] / long_seconds:.2f}); word error rate "
                  f"{word_error_rate(long_reference, hypothesis):.1%}; peak memory {long['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
