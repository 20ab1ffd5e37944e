"""Screenshots for the README and docs/review.md: the review queue and the transcript view.

Builds the demo project (the sample corpus: ingest, codebook, suggest), or copies one given with
``--project``, records a few decisions, a freely coded selection and memos as a coder would, and
saves PNGs with a real headless Chromium (Debian's /usr/bin/chromium, through Playwright):

    docs/img/review.png      the queue: a passage with its suggestions, the code's definition
    docs/img/document.png    the transcript view: speakers as people, codes in the margin,
                             a coded selection, a memo, the passage in focus

    python scripts/screenshots.py                          # builds the demo project (a few minutes)
    python scripts/screenshots.py --project demo-project   # reuse one built by `nlp-theming demo`
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp_theming import Project  # noqa: E402
from nlp_theming.api import run_demo  # noqa: E402
from nlp_theming.review import actions  # noqa: E402
from nlp_theming.review.memos import memo  # noqa: E402
from nlp_theming.review.server import create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CODER = "ana"
DOCUMENT = "A-03"  # a timed interview of the sample corpus; any other with --document


def prepare(project: Path, document: str) -> int:
    """A coder's first minutes on one transcript; returns the passage to show in focus."""
    with Project(project) as p:
        segs = p.segments().query(f"document == '{document}' and speaker_role == 'participant'")
        sugg = p.suggestions()
        sugg = sugg[sugg.segment_id.isin(segs.segment_id)].sort_values(["segment_id", "rank"])
        ids = list(dict.fromkeys(sugg.segment_id.astype(int)))
        if len(ids) < 4:
            raise SystemExit(f"{document}: too few passages with suggestions for a screenshot")
        first, second, third, focus = ids[:4]
        top = sugg[sugg.segment_id == first].code.iloc[0]
        actions.accept(p.con, CODER, first, top)
        actions.reject_rest(p.con, CODER, first)
        actions.no_code(p.con, CODER, second)
        row = segs[segs.segment_id == third].iloc[0]
        text = p.con.execute("SELECT text FROM current_documents WHERE name = ?", (document,)).fetchone()[0]
        words = text[int(row.start):int(row.end)].split()
        piece = " ".join(words[2:9]) if len(words) > 10 else " ".join(words)
        start = text.index(piece, int(row.start))
        book = actions.applicable_codes(actions.latest_codebook(p.con))
        suggested = set(sugg[sugg.segment_id == third].code)
        free = next(c for c in book if c not in suggested)
        actions.code_span(p.con, CODER, third, start, start + len(piece), free)
        memo(p.con, CODER, "segment", "Says this twice in the interview: compare with the site's other directors.",
             segment_id=third)
        memo(p.con, CODER, "document", "Interview cut short: the director was called to the ward.", document=document)
        return focus


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", type=Path, default=None, help="a project built by `nlp-theming demo` (copied)")
    ap.add_argument("--document", default=DOCUMENT)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        if args.project is None:
            run_demo(project)
        else:
            shutil.copytree(args.project, project)
        focus = prepare(project, args.document)
        server = make_server("127.0.0.1", 0, create_app(project, coder=CODER), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        args.out.mkdir(parents=True, exist_ok=True)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
                page = browser.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
                page.goto(f"{url}/review?document={args.document}")
                page.wait_for_selector(".layout")
                page.screenshot(path=str(args.out / "review.png"))
                page.goto(f"{url}/document/{args.document}?segment={focus}#s-{focus}")
                page.wait_for_selector(".passage.focus")
                page.evaluate("document.querySelector('.passage.focus').scrollIntoView({block: 'end'})")
                page.screenshot(path=str(args.out / "document.png"))
                browser.close()
        finally:
            server.shutdown()
    for name in ("review.png", "document.png"):
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
