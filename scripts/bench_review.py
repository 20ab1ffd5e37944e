"""Benchmark: how fast does the transcript view answer a decision? (issue 13: under 100 ms)

Drives a real headless Chromium (Playwright, Debian's /usr/bin/chromium) over the sample corpus
project, opens each document's transcript view in turn and decides its passages by keyboard:
``1`` (accept the best suggestion), ``x`` (reject the rest: the page moves on), ``0`` (no code
applies), in a cycle. Each figure is the time from the key press to the passage's new rendering
being in the page (the decision stored, the fragment fetched and swapped in), measured inside the
page with ``performance.now()``. Prints the median and the 95th percentile over N decisions.

    python scripts/bench_review.py                         # builds the demo project first (a few minutes)
    python scripts/bench_review.py --project demo-project  # reuse one built by `nlp-theming demo`
    python scripts/bench_review.py -n 200
    python scripts/bench_review.py --no-browser            # only the server side (below), no Chromium

Then, on the decisions just made, the server side without the browser: the page's queries (the
transcript view of every document, and the review queue in each order), their median and
maximum over repeats; and the matcher's refit, ``suggest`` again with the same configuration
(every vector cached: the time is the matcher's, which ``scripts/bench_resuggest.py`` also
measures at 100,000 segments).

A measurement, not a test: nothing here asserts a time. The project is copied first, so the
benchmark's decisions never land in yours.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp_theming import Project
from nlp_theming.api import run_demo
from nlp_theming.review.server import create_app

CHROMIUM = "/usr/bin/chromium"
KEYS = ("1", "x", "0")
# Resolves with the milliseconds from now until the passage in focus, or the one after it, is
# replaced by a fresh rendering (the fetch() answer swapped in), or -1 after 5 s.
WATCH = """
(key) => new Promise((resolve) => {
  const t0 = performance.now();
  const old = document.querySelector('.passage.focus');
  const obs = new MutationObserver(() => {
    const now = document.querySelector('.passage.focus');
    const swapped = old && !old.isConnected;
    if (swapped && now) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(document.getElementById('transcript'), {childList: true, subtree: true});
  setTimeout(() => { obs.disconnect(); resolve(-1); }, 5000);
  document.dispatchEvent(new KeyboardEvent('keydown', {key: key, bubbles: true, cancelable: true}));
})
"""


def build(folder: Path) -> Path:
    project = folder / "demo-project"
    print(f"building the demo project in {project} (ingest, codebook, suggest) ...", flush=True)
    t = time.perf_counter()
    run_demo(project)
    print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    return project


def _ms(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def server_side(project: Path, documents: list[str], repeats: int = 5) -> None:
    """The page's queries and the matcher's refit, timed in this process on the decided project."""
    from nlp_theming.review.document import document_view
    from nlp_theming.review.queue import review_queue
    from nlp_theming.store.decisions import reviewed
    from nlp_theming.suggest import rerun_config

    with Project(project) as p:
        n_decisions = len(reviewed(p.con))
        views = [ms for name in documents for ms in _ms(lambda n=name: document_view(p.con, n, "bench"), repeats)]
        print(f"server side, {n_decisions} decisions stored: the transcript view of a document (all its queries), "
              f"median {statistics.median(views):.0f} ms, max {max(views):.0f} ms over {len(views)}")
        for order in ("document", "score", "uncertain"):
            queue = _ms(lambda o=order: review_queue(p.con, "bench", order=o), repeats)
            print(f"  review queue, order {order}: median {statistics.median(queue):.0f} ms, max {max(queue):.0f} ms")
        summary = p.suggest(rerun_config(p.con))
    print(f"matcher refit (suggest again on the decisions, vectors cached): match {summary.timings.get('match', 0):.2f}"
          f" s, whole run {summary.seconds:.2f} s ({summary.n_labeled} confirmed segments learnt from)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", type=Path, default=None, help="a project built by `nlp-theming demo` (copied)")
    ap.add_argument("-n", type=int, default=120, help="decisions to time (default 120)")
    ap.add_argument("--no-browser", action="store_true", help="only the page's queries and the matcher's refit")
    args = ap.parse_args()
    if not args.no_browser and not Path(CHROMIUM).exists():
        print(f"needs Chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.project is None:
            project = build(folder)
        else:
            project = folder / "project"
            shutil.copytree(args.project, project)
        with Project(project) as p:
            documents = p.documents().document.tolist()
            n_segments = len(p.segments())
        print(f"sample corpus: {len(documents)} documents, {n_segments} segments")
        if args.no_browser:
            from nlp_theming.review.actions import accept, reject_rest

            with Project(project) as p:  # the decisions the browser would make: accept the best, reject the rest
                best = p.queue("bench", order="document")
                best = best[best["rank"] == 1].head(args.n)
                for row in best.itertuples(index=False):
                    accept(p.con, "bench", int(row.segment_id), row.code)
                    reject_rest(p.con, "bench", int(row.segment_id))
            server_side(project, documents)
            return 0
        from playwright.sync_api import sync_playwright
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", 0, create_app(project, coder="bench"), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/document/"
        times: list[float] = []
        by_key: dict[str, list[float]] = {k: [] for k in KEYS}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                done = 0
                for name in documents:
                    page.goto(url + name)
                    page.wait_for_selector(".passage.focus", timeout=10_000)
                    for _ in range(12):  # a few decisions per document, spread over the corpus
                        if done >= args.n or page.query_selector(".passage.focus .controls") is None:
                            break
                        key = KEYS[done % len(KEYS)]
                        ms = page.evaluate(WATCH, key)
                        if ms < 0:
                            break  # nothing left to decide here
                        page.wait_for_timeout(30)  # let a "move on" finish before the next key
                        times.append(ms)
                        by_key[key].append(ms)
                        done += 1
                    if done >= args.n:
                        break
                browser.close()
        finally:
            server.shutdown()
        if not times:
            print("no decision was timed (no suggestions to decide?)", file=sys.stderr)
            return 1
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"{len(times)} decisions, key press to the passage re-rendered in the page: "
              f"median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms, max {times[-1]:.0f} ms (target: < 100 ms)")
        for key, values in by_key.items():
            if values:
                what = {"1": "accept", "x": "reject the rest", "0": "no code applies"}[key]
                print(f"  {key} ({what}): n={len(values)}, median {statistics.median(values):.0f} ms")
        server_side(project, documents)
    return 0


if __name__ == "__main__":
    sys.exit(main())
