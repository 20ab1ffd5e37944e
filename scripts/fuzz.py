"""Fuzz every reader and importer with mutated copies of the fixture files of every format.

    python scripts/fuzz.py --minutes 10 [--seed 0] [--out fuzz-out] [--jobs 1] [--no-run]

Seeds are written fresh (tests/helpers/fuzzing.py: transcripts in every format, the layout
fixtures, QDA tables, codebooks CSV/YAML, span and unit CSVs, a Taguette database, a .qdpx and a
.qdc exported by the tool, review sheets). Each input is a seed with one to three mutations
(truncation, bit flips, byte insertion, huge lines, numbers of thousands of digits, deep nesting,
wrong encodings, control characters in names, zip member bombs, duplicate and climbing members,
DOCTYPE and entities, damaged SQLite pages, NULLs, BLOBs and odd ids in Taguette tables). It goes
through its target in a worker process whose address space may grow by --memory-mb over what its
libraries take once loaded (RLIMIT_AS), and is killed past --timeout seconds.

Printed at the end: inputs, outcomes (clean error, ok, traceback, partial import, unclean names,
timeout, memory), peak RSS of a worker, the slowest input. Every input that was not a clean error
or a success is kept under --out/failures with a .txt saying what happened. The exit status is the
number of such inputs (at most 100).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------- the worker


def worker(memory_mb: int, base: str, fd: int) -> None:
    """Read "target<TAB>path" lines from stdin; write one JSON line per input to ``fd``."""
    out = os.fdopen(fd, "w", buffering=1)
    sys.stdout = sys.stderr  # whatever a library prints must not mix with the results
    from tests.helpers.fuzzing import run_target

    work = Path(tempfile.mkdtemp(prefix="fuzz-work-"))
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        target, path = line.rstrip("\n").split("\t", 1)
        if target == "limit":
            # after the warm-up (every target once on its seed: every lazy import done, spaCy loaded),
            # so the limit is on what an input costs: this much address space over what is loaded
            limit = int((_vm_mb() + memory_mb) * 1024 * 1024)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            out.write(json.dumps({"vm_mb": _vm_mb()}) + "\n")
            continue
        t = time.perf_counter()
        outcome, detail = run_target(target, Path(path), Path(base) if base else None, work)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.write(json.dumps({"outcome": outcome, "detail": detail, "seconds": time.perf_counter() - t,
                              "rss_mb": rss}) + "\n")
        if outcome == "memory":
            return  # a process that ran out of memory is not trusted with the next input


def _vm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Worker:
    def __init__(self, memory_mb: int, base: Path | None, log: Path, warm: list[tuple[str, Path]]) -> None:
        read, write = os.pipe()
        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--memory-mb", str(memory_mb), "--base", str(base or ""),
             "--result-fd", str(write)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log.open("a"), pass_fds=(write,),
            env=env, text=True,
        )
        os.close(write)
        self.results = os.fdopen(read, "r")
        self.peak_mb = 0.0
        if self._next(120) is None:
            raise RuntimeError("the fuzz worker did not start")
        for target, path in warm:
            result = self.run(target, path, 120)
            if result["outcome"] != "ok":
                raise RuntimeError(f"a seed fails before any mutation: {target} {path}: {result['detail']}")
        self.proc.stdin.write("limit\t\n")
        self.proc.stdin.flush()
        self.vm_mb = self._next(60)["vm_mb"]

    def _next(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.results], [], [], timeout)
        if not ready:
            return None
        line = self.results.readline()
        return json.loads(line) if line else None

    def run(self, target: str, path: Path, timeout: float) -> dict:
        start = time.perf_counter()
        self.proc.stdin.write(f"{target}\t{path}\n")
        self.proc.stdin.flush()
        result = self._next(timeout)
        if result is None:
            seconds = time.perf_counter() - start
            self.kill()
            died = seconds < timeout
            return {"outcome": "memory" if died else "timeout", "seconds": seconds,
                    "detail": "the worker died (out of memory, or a crash in C code)" if died
                    else f"killed after {timeout:.0f} s"}
        self.peak_mb = max(self.peak_mb, result["rss_mb"])
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.results.close()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


# ---------------------------------------------------------------------------- the run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--inputs", type=int, default=0, help="Stop after this many inputs (0: only the time limit).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("fuzz-out"))
    ap.add_argument("--timeout", type=float, default=10.0, help="Seconds one input may take.")
    ap.add_argument("--memory-mb", type=int, default=1024,
                    help="Address space an input may add to a loaded worker (RLIMIT_AS).")
    ap.add_argument("--targets", default="", help="Only these targets, comma-separated.")
    ap.add_argument("--no-run", action="store_true", help="No suggest run in the base project: no sheet seeds.")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--base", default="", help=argparse.SUPPRESS)
    ap.add_argument("--result-fd", type=int, default=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.memory_mb, args.base, args.result_fd)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tests.helpers.fuzzing import mutate

    out: Path = args.out
    failures = out / "failures"
    shutil.rmtree(out / "seeds", ignore_errors=True)
    failures.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from tests.helpers.fuzzing import build_seeds

    seeds, base = build_seeds(out / "seeds", with_run=not args.no_run)
    wanted = set(filter(None, args.targets.split(",")))
    jobs = [(seed, target) for seed in seeds for target in seed.targets if not wanted or target in wanted]
    print(f"{len(seeds)} seeds, {len(jobs)} seed x target pairs; built in {time.perf_counter() - t0:.0f} s",
          flush=True)
    rng = random.Random(args.seed)
    warm = list({target: seed.path for seed, target in jobs}.items())
    inputs = Path(tempfile.mkdtemp(prefix="fuzz-inputs-"))
    counts: Counter[str] = Counter()
    by_target: dict[str, Counter[str]] = {}
    slowest = (0.0, "")
    over = 0
    peak, peak_input = 0.0, ""
    deadline = time.monotonic() + args.minutes * 60
    current = Worker(args.memory_mb, base, out / "worker.log", warm)
    print(f"worker ready: {current.vm_mb:.0f} MB of address space after loading; an input may add {args.memory_mb} MB",
          flush=True)
    n = 0
    try:
        while time.monotonic() < deadline and (not args.inputs or n < args.inputs):
            seed, target = rng.choice(jobs)
            data, how = mutate(seed.path.read_bytes(), seed.path, rng)
            path = inputs / f"{n:06d}-{seed.path.stem}{seed.path.suffix}"
            path.write_bytes(data)
            if not current.alive:
                current = Worker(args.memory_mb, base, out / "worker.log", warm)
            result = current.run(target, path, args.timeout)
            if current.peak_mb > peak:
                # the input that raised the peak (a worker's peak only grows, so this is what cost most)
                peak, peak_input = current.peak_mb, f"{target} {seed.path.name} ({', '.join(how)})"
            if result["outcome"] == "memory":
                current.kill()
            n += 1
            outcome = result["outcome"]
            counts[outcome] += 1
            by_target.setdefault(target, Counter())[outcome] += 1
            if result["seconds"] > args.timeout:
                over += 1
            if result["seconds"] > slowest[0]:
                slowest = (result["seconds"], f"{target} {seed.path.name} ({', '.join(how)})")
            if outcome not in ("clean", "ok"):
                keep = failures / f"{n:06d}-{target}-{outcome}{seed.path.suffix}"
                shutil.copyfile(path, keep)
                keep.with_suffix(keep.suffix + ".why").write_text(
                    f"target: {target}\nseed: {seed.path.name}\nmutations: {', '.join(how)}\noutcome: {outcome}\n"
                    f"seconds: {result['seconds']:.2f}\n\n{result['detail']}\n", encoding="utf-8")
                print(f"  {outcome}: {target} {seed.path.name} ({', '.join(how)}) -> {keep.name}", flush=True)
            path.unlink(missing_ok=True)
            if n % 500 == 0:
                print(f"  {n} inputs: {dict(counts)}", flush=True)
    finally:
        current.kill()
        shutil.rmtree(inputs, ignore_errors=True)
    bad = sum(v for k, v in counts.items() if k not in ("clean", "ok"))
    elapsed = time.perf_counter() - t0
    figures = {"inputs": n, **{k: counts.get(k, 0) for k in ("clean", "ok", "traceback", "partial", "unclean",
                                                             "timeout", "memory")},
               "over_time_limit": over, "peak_rss_mb": round(peak), "peak_input": peak_input,
               "minutes": round(elapsed / 60, 1),
               "slowest_s": round(slowest[0], 2), "slowest": slowest[1], "seed": args.seed,
               "by_target": {t: dict(c) for t, c in sorted(by_target.items())}}
    (out / "figures.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(f"{n} inputs in {elapsed / 60:.1f} min: {counts['clean']} clean errors, {counts['ok']} read or imported,"
          f" {counts['traceback']} tracebacks, {counts['partial']} partial imports, {counts['unclean']} unclean names,"
          f" {counts['timeout']} over {args.timeout:.0f} s, {counts['memory']} out of memory;"
          f" peak RSS {peak:.0f} MB ({peak_input}); slowest {slowest[0]:.1f} s ({slowest[1]})")
    for t, c in sorted(by_target.items()):
        print(f"  {t:<16} {dict(c)}")
    print(f"figures in {out / 'figures.json'}" + (f"; failing inputs in {failures}" if bad else ""))
    return min(bad, 100)


if __name__ == "__main__":
    sys.exit(main())
