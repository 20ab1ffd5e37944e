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
CODEBOOK = Path(__file__).resolve().parent.parent / "corpora" / "nhs-medical-leadership" / "codebook.csv"
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


def synthetic_run(project: Path, decisions: int = 3000, top_k: int = 5, seed: int = 0) -> int:
    """SYNTHETIC: a suggestion run made with the store's own functions, no encoder: seeded random
    scores, the top ``top_k`` codes of the sample codebook per participant segment, then
    ``decisions`` accepts and rejects by two coders. For timing the queue at any size only:
    the scores mean nothing."""
    import numpy as np

    from nlp_theming.codebook import load_codebook, store_codebook
    from nlp_theming.review.actions import accept, reject
    from nlp_theming.store.documents import current_document_ids, recorded_scheme, segment_spans
    from nlp_theming.store.runs import RunSpec, claim_run, complete_run

    rng = np.random.default_rng(seed)
    with Project(project) as p:
        con = p.con
        version, _ = store_codebook(con, load_codebook(CODEBOOK), CODEBOOK)
        book = load_codebook(CODEBOOK)
        codes = np.array([c.code for c in book.leaves])
        scheme = recorded_scheme(con)
        spans = segment_spans(con, scheme)
        current = set(current_document_ids(con))
        ids = spans[(spans.role == "participant") & spans.document_id.isin(current)].segment_id.to_numpy()
        spec = RunSpec(model_id="SYNTHETIC", codebook_version=version, matcher="synthetic", scheme=scheme,
                       params={"synthetic": True, "seed": seed}, config_hash=f"synthetic-{seed}", seed=seed,
                       decision_mark=0)
        run_id = claim_run(con, spec)
        rows = []
        for start in range(0, len(ids), 100_000):
            block = ids[start:start + 100_000]
            picks = np.argsort(rng.random((len(block), len(codes))), axis=1)[:, :top_k]
            scores = np.sort(rng.beta(2, 3, (len(block), top_k)), axis=1)[:, ::-1]
            for seg, pick, score in zip(block.tolist(), picks, scores, strict=True):
                rows.extend((seg, str(codes[c]), round(float(s), 6), r + 1, "synthetic")
                            for r, (c, s) in enumerate(zip(pick, score, strict=True)))
        complete_run(con, run_id, rows, [], len(ids))
        del rows
        chosen = rng.choice(ids, size=min(decisions, len(ids)), replace=False)
        for i, seg in enumerate(chosen.tolist()):
            code = con.execute("SELECT code FROM suggestions WHERE run_id = ? AND segment_id = ? AND rank = 1",
                               (run_id, seg)).fetchone()[0]
            (accept if i % 3 else reject)(con, ("ana", "ben")[i % 2], seg, code, run_id)
    print(f"SYNTHETIC run {run_id}: {len(ids)} segments x top-{top_k}, {len(chosen)} decisions", flush=True)
    return run_id


#: the page's queries the --pages mode times: each order, then a few filters (query strings of /review)
PAGE_QUERIES = [*(f"order={o}" for o in ("uncertain", "teach", "theme", "site", "document", "score")),
                "order=uncertain&per=suggestion", "order=uncertain&site=B", "order=score&theme={theme}",
                "order=uncertain&status=accepted", "order=uncertain&unreviewed=1", "order=document&document={document}",
                "order=uncertain&min=0.4&max=0.6&role={role}"]


def pages(project: Path, repeats: int, coder: str = "ana") -> None:
    """The review page's requests timed server-side (Flask's test client, the server's own code in
    this process): each order and a few filters, the transcript view, the status page; then the
    queue's queries alone; median and p95 over ``repeats`` after one warm-up, and this process's
    peak RSS. Reads only (the first use of a run derives its teach order and figures, once)."""
    import resource

    from nlp_theming.review.queue import filter_values

    app = create_app(project, coder=coder)
    client = app.test_client()
    with Project(project) as p:
        options = filter_values(p.con)
    fill = {"theme": (options["theme"] or [""])[-1], "document": (options["document"] or [""])[0],
            "role": (options["role"] or [""])[0]}
    paths = [f"/review?{q.format(**fill)}" for q in PAGE_QUERIES]
    paths += [f"/document/{fill['document']}", "/status"]
    for path in paths:
        times = []
        for i in range(repeats + 1):
            t = time.perf_counter()
            answer = client.get(path)
            ms = (time.perf_counter() - t) * 1000
            if answer.status_code != 200:
                print(f"  {path}: HTTP {answer.status_code}", flush=True)
                break
            if i:
                times.append(ms)  # the first is a warm-up (the server's caches, SQLite's pages)
        if times:
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"  {path}: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms", flush=True)
    # the queue's queries alone (what the page asks of the store: a window of passages with its
    # counts, then the rows of the passage in focus), without the rest of the page and its rendering
    from urllib.parse import parse_qsl

    from nlp_theming.review.queue import QueueFilter, passage_rows, queue_page

    print("the queue's queries alone (queue_page: 30 passages and the counts, passage_rows):", flush=True)
    with Project(project) as p:
        cache: dict = {}
        for q in PAGE_QUERIES:
            qf = QueueFilter.from_query(dict(parse_qsl(q.format(**fill))))
            times = []
            for i in range(repeats + 1):
                t = time.perf_counter()
                page = queue_page(p.con, coder, qf, limit=30, cache=cache, count=True)
                if not page.items.empty:
                    passage_rows(p.con, coder, int(page.items.segment_id.iloc[0]), cache=cache)
                if i:
                    times.append((time.perf_counter() - t) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"  {q.format(**fill)}: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"server process peak RSS: {peak:.0f} MB (target: < 4096 MB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", type=Path, default=None, help="a project built by `nlp-theming demo` (copied)")
    ap.add_argument("-n", type=int, default=120, help="decisions to time (default 120)")
    ap.add_argument("--no-browser", action="store_true", help="only the page's queries and the matcher's refit")
    ap.add_argument("--synthetic-run", type=Path, default=None, metavar="PROJECT",
                    help="SYNTHETIC: add a run of seeded random scores (top-5 per participant segment) and 3000"
                         " decisions to PROJECT, in place (copy it first), then stop")
    ap.add_argument("--pages", type=Path, default=None, metavar="PROJECT",
                    help="time the review page's queries server-side at PROJECT (read only: no copy), then stop")
    ap.add_argument("--repeats", type=int, default=5, help="repeats per query in --pages (default 5)")
    args = ap.parse_args()
    if args.pages is not None:
        pages(args.pages, args.repeats)
        return 0
    if args.synthetic_run is not None:
        synthetic_run(args.synthetic_run)
        return 0
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
