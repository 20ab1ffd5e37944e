"""Nothing leaves the machine, as a test.

Each command runs in an empty network namespace (``unshare -rn``: no interface but a loopback
that is down), where a connection to any outside address fails; skipped, saying why, where
namespaces are not available. The HTML they write (the summary report, the agreement report)
is then opened in headless Chromium with every request that is not a local file recorded and
refused: none may be made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlp_theming import Project
from nlp_theming.exchange.coded import write_span_csv
from nlp_theming.store.documents import current_texts
from tests.helpers.paths import CORPUS, ROOT

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
OUTSIDE = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=3)"  # TEST-NET-1


def _namespace() -> list[str]:
    """The command prefix of an empty network namespace, or a skip saying why there is none."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) on this machine: cannot run in an empty network namespace")
    for prefix in (["unshare", "-rn"], ["unshare", "-n"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    pytest.skip("unshare -rn is not permitted here (no user or network namespaces): offline test not run")


def _cli(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*prefix, sys.executable, "-m", "nlp_theming.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)
    assert done.returncode == 0, f"{args[0]}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    prefix = _namespace()
    blocked = subprocess.run([*prefix, sys.executable, "-c", OUTSIDE], capture_output=True, text=True)
    assert blocked.returncode != 0 and "unreachable" in blocked.stderr.lower(), blocked.stderr  # the namespace is real
    root = tmp_path_factory.mktemp("offline")
    project = root / "project"
    transcripts = sorted((CORPUS / "transcripts").iterdir())[:3]  # a small subset of the sample corpus
    _cli(prefix, "init", str(project))
    _cli(prefix, "ingest", str(project), *map(str, transcripts), "--quiet")
    _cli(prefix, "codebook", str(project), str(CORPUS / "codebook.csv"))
    _cli(prefix, "suggest", str(project), "--no-discover", "--quiet")  # the real embedding model, from disk
    with Project(project) as p:  # two coders' spans, so that there is agreement to report
        texts = current_texts(p.con)
        codes = list(p.codebook().query("is_leaf").code)[:2]
    rows = [(doc, a, a + 200, codes[k % 2], coder, text[a:a + 200])
            for doc, text in texts.items() for k, a in enumerate((300, 900, 1500)) if len(text) > a + 200
            for coder in ("ann", "ben") if coder == "ann" or k != 1]
    import pandas as pd

    write_span_csv(pd.DataFrame(rows, columns=["document", "start", "end", "code", "coder", "text"]),
                   root / "spans.csv")
    _cli(prefix, "import", str(project), str(root / "spans.csv"), "--kind", "spans")
    _cli(prefix, "summarize", str(project), "--by", "role", "--out", str(root / "summary"))
    _cli(prefix, "compare", str(project), "--n-boot", "50", "--out", str(root / "agreement"))
    return {"summary": root / "summary" / "index.html", "agreement": root / "agreement" / "report.html"}


def test_ingest_suggest_import_summarize_compare_run_without_a_network(offline_run: dict[str, Path]) -> None:
    assert offline_run["summary"].is_file() and offline_run["agreement"].is_file()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM),
                               args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.mark.browser
@pytest.mark.parametrize("report", ["summary", "agreement"])
def test_html_reports_load_no_remote_resource(offline_run: dict[str, Path], browser, report: str) -> None:
    context = browser.new_context()  # not offline: a request for a remote resource must show here
    page = context.new_page()
    local, remote = [], []

    def route(r) -> None:
        url = r.request.url
        if url.startswith(("file://", "data:", "blob:", "about:")):
            local.append(url)
            r.continue_()
        else:
            remote.append(url)
            r.abort()

    page.route("**/*", route)
    page.goto(offline_run[report].as_uri(), wait_until="load")
    page.wait_for_timeout(500)  # scripts that fetch after load
    context.close()
    assert local and local[0].endswith(offline_run[report].name)  # the interception saw the page itself
    assert remote == []
