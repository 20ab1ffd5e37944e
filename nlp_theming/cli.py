"""Command-line interface: a thin click layer over the same functions as the Python API."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import store
from .codebook import CodebookError
from .embed import DEFAULT_MODEL, ModelNotFound
from .ingest import IngestError
from .match import MATCHERS
from .segment import UNITS, Segmenter

KNOWN_ERRORS = (store.ProjectError, CodebookError, IngestError, ModelNotFound, ValueError, FileNotFoundError)


def friendly(func):  # noqa: ANN001, ANN201
    """Known problems end in one line on stderr and exit status 1, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return func(*args, **kwargs)
        except KNOWN_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def _project(path: str):  # noqa: ANN202
    from .api import Project

    return Project(path)


def segmenter_options(func):  # noqa: ANN001, ANN201
    func = click.option("--unit", type=click.Choice(UNITS), default="window", show_default=True,
                        help="Coding unit: window of sentences within a turn, sentence, or whole turn.")(func)
    func = click.option("--max-sentences", type=int, default=3, show_default=True, help="Sentences per window.")(func)
    func = click.option("--max-words", type=int, default=80, show_default=True, help="Longest unit, in words.")(func)
    func = click.option("--spacy-model", default=None, help="An installed spaCy pipeline for sentence boundaries.")(func)
    return func


def _segmenter(unit: str, max_sentences: int, max_words: int, spacy_model: str | None) -> Segmenter:
    return Segmenter(unit=unit, max_sentences=max_sentences, max_words=max_words, spacy_model=spacy_model)


@click.group()
@click.version_option(package_name="nlp-theming")
def main() -> None:
    """nlp-theming: suggest codes for interview transcripts; people confirm them.

    Everything runs on this machine. Typical use: init, ingest, codebook, suggest, export.
    """


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@friendly
def init(project: str) -> None:
    """Create a project folder with its SQLite store."""
    path = store.init_project(project)
    click.echo(f"created {path}")


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--manifest", type=click.Path(dir_okay=False), help="CSV: file, site, participant, role, ...")
@segmenter_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly
def ingest(project: str, paths: tuple[str, ...], manifest: str | None, unit: str, max_sentences: int,
           max_words: int, spacy_model: str | None, quiet: bool) -> None:
    """Read transcripts (files or folders) into PROJECT.

    Formats: .txt .md .docx .odt .vtt .srt, Whisper JSON (.json), CSV of turns (.csv).
    The exit status is the number of files that failed (at most 100).
    """
    if not paths and not manifest:
        raise click.UsageError("give transcript files or folders, or --manifest")
    with _project(project) as p:
        report = p.ingest(paths, manifest, _segmenter(unit, max_sentences, max_words, spacy_model), progress=not quiet)
    for line in report.lines():
        click.echo(f"error: {line}", err=True)
    click.echo(
        f"{len(report.added)} added, {len(report.updated)} updated (new version), "
        f"{len(report.unchanged)} unchanged, {len(report.failed)} failed"
    )
    sys.exit(min(len(report.failed), 100))


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="Codebook name (default: the file name).")
@friendly
def codebook(project: str, file: str, name: str | None) -> None:
    """Load a codebook (CSV or YAML); a changed codebook becomes a new version."""
    with _project(project) as p:
        version, created = p.load_codebook(file, name)
        frame = p.codebook(version)
    state = "stored as version" if created else "unchanged, still version"
    click.echo(f"codebook {state} {version}: {int(frame.is_leaf.sum())} codes under {int((~frame.is_leaf).sum())} groups")


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="sentence-transformers model: name or path.")
@click.option("--matcher", type=click.Choice(list(MATCHERS)), default="semisupervised", show_default=True)
@click.option("-k", "--top-k", type=int, default=5, show_default=True, help="Suggestions kept per segment.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--include-interviewer", is_flag=True, help="Also suggest codes for interviewer turns.")
@click.option("--no-discover", is_flag=True, help="Skip clustering unmatched segments into candidate themes.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@segmenter_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly
def suggest(project: str, model: str, matcher: str, top_k: int, seed: int, include_interviewer: bool,
            no_discover: bool, batch_size: int, unit: str, max_sentences: int, max_words: int,
            spacy_model: str | None, quiet: bool) -> None:
    """Embed segments and suggest codes from the codebook (nothing is coded until confirmed)."""
    from .suggest import SuggestConfig

    config = SuggestConfig(
        model=model, matcher=matcher, top_k=top_k, seed=seed, include_interviewer=include_interviewer,
        discover=not no_discover, batch_size=batch_size,
        segmenter=_segmenter(unit, max_sentences, max_words, spacy_model),
    )
    with _project(project) as p:
        summary = p.suggest(config, progress=not quiet)
        _print_summary(p, summary)


def _print_summary(p, summary) -> None:  # noqa: ANN001
    docs = len(p.documents())
    click.echo(
        f"run {summary.run_id} ({summary.status}): {docs} documents, {summary.n_segments} segments, "
        f"{summary.n_suggestions} suggestions, {summary.n_proposals} candidate new themes"
        + (f", learned from {summary.n_labeled} confirmed segments" if summary.n_labeled else "")
        + f" [{summary.seconds:.1f}s]"
    )
    table = p.suggestions(summary.run_id)
    likely = table[table.score >= 0.5].groupby("code").size()
    top = table[table["rank"] == 1].groupby("code").size()
    width = max((len(c) for c in top.index), default=10)
    click.echo(f"  {'theme':<{width}}  top-1  score>=0.5")
    for code in top.sort_values(ascending=False).index:
        click.echo(f"  {code:<{width}}  {top[code]:>5}  {int(likely.get(code, 0)):>10}")


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "parquet"]), default=None,
              help="Default: from the --out extension.")
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--run", "run_id", type=int, default=None, help="A run id (default: the latest).")
@friendly
def export(project: str, fmt: str | None, out: str, run_id: int | None) -> None:
    """Write suggestions as a tidy long table (one row per segment and suggested code)."""
    with _project(project) as p:
        path = p.export(out, fmt, run_id)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("project", type=click.Path(file_okay=False), default="demo-project")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Default: PROJECT/suggestions.csv")
@click.option("--quiet", is_flag=True)
@friendly
def demo(project: str, out: str | None, quiet: bool) -> None:
    """Run the whole pipeline on the bundled sample corpus (synthetic NHS interviews)."""
    from .api import Project

    corpus = _corpus_dir()
    p = Project.init(project)
    with p:
        report = p.ingest([corpus / "transcripts"], corpus / "manifest.csv", progress=not quiet)
        for line in report.lines():
            click.echo(f"error: {line}", err=True)
        version, _ = p.load_codebook(corpus / "codebook.csv")
        summary = p.suggest(progress=not quiet)
        _print_summary(p, summary)
        path = p.export(Path(out) if out else Path(project) / "suggestions.csv")
    click.echo(f"wrote {path}")


@main.command()
@click.option("--codebook", "codebook_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help="CSV with at least code, description, group.")
@click.option("--coded", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Long format: unit_id, document, coder, text, codes (joined by ' | ').")
@click.option("--train-fraction", type=float, default=0.0, show_default=True,
              help="Share of units counted as hand-coded (confirmed) before the machine suggests.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--coder", default=None, help="Whose coding is the reference (default: the first coder in the file).")
@click.option("--method", "methods", default="semisupervised", show_default=True,
              help=f"Matcher, or several separated by commas, compared side by side ({', '.join(MATCHERS)}).")
@click.option("--learning-curve", default=None, help="Fractions to run, e.g. 0,0.1,0.2,0.3,0.5; plots agreement.")
@click.option("--model", default=DEFAULT_MODEL, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--quiet", is_flag=True)
@friendly
def evaluate(codebook_file: str, coded: str, train_fraction: float, seed: int, coder: str | None, methods: str,
             learning_curve: str | None, model: str, out: str, quiet: bool) -> None:
    """Simulate pre-coding on units people already coded; write predictions.csv and metrics.json."""
    from .evaluate import evaluate as run

    method_list = [m.strip() for m in methods.split(",") if m.strip()]
    for m in method_list:
        if m not in MATCHERS:
            raise ValueError(f"unknown method {m!r}; choose from {', '.join(MATCHERS)}")
    curve = [float(x) for x in learning_curve.split(",")] if learning_curve else None
    metrics = run(codebook_file, coded, out, train_fraction, seed, coder, method_list, curve, model, progress=not quiet)
    rows = metrics.get("learning_curve") or metrics.get("methods") or [metrics]
    click.echo(f"{metrics['n_units']} units, {metrics['n_codes']} codes, reference coder {metrics['coder']!r}")
    click.echo(f"  {'method':<15} {'train':>6} {'test':>6} {'top1':>6} {'top5rec':>7} {'microF1':>7} {'macroF1':>7} {'kappa':>6}")
    for r in rows:
        click.echo(
            f"  {r['method']:<15} {r['n_train']:>6} {r['n_test']:>6} {_fmt(r['top1_hit_rate'])} {_fmt(r['top5_recall'], 7)}"
            f" {_fmt(r['micro_f1'], 7)} {_fmt(r['macro_f1'], 7)} {_fmt(r['mean_kappa'])}"
        )
    for other, c in (metrics.get("human_ceiling") or {}).items():
        click.echo(
            f"  human ceiling vs {other} on {c['n_units']} shared test units: human kappa {_fmt(c['human']['mean_kappa'])}"
            f", machine kappa {_fmt(c['machine']['mean_kappa'])}; human micro F1 {_fmt(c['human']['micro_f1'])}"
            f", machine {_fmt(c['machine']['micro_f1'])}"
        )
    click.echo(f"wrote {Path(out) / 'predictions.csv'} and {Path(out) / 'metrics.json'}")


def _fmt(value: float | None, width: int = 6) -> str:
    return f"{'-':>{width}}" if value is None or value != value else f"{value:>{width}.3f}"


@main.command("taguette-units")
@click.argument("taguette", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Long-format coded units CSV.")
@click.option("--spans", type=click.Path(dir_okay=False), default=None, help="Also write the highlights as span CSV.")
@segmenter_options
@friendly
def taguette_units(taguette: str, out: str, spans: str | None, unit: str, max_sentences: int, max_words: int,
                   spacy_model: str | None) -> None:
    """Turn a Taguette project (its .sqlite3 file) into coded units for `evaluate`."""
    from .exchange.coded import write_coded_units_csv, write_span_csv
    from .exchange.taguette import read_taguette
    from .exchange.units import units_from_spans

    project = read_taguette(taguette)
    for problem in project.problems:
        click.echo(f"warning: {problem}", err=True)
    units = units_from_spans(project.documents, project.highlights, _segmenter(unit, max_sentences, max_words, spacy_model))
    write_coded_units_csv(units, out)
    if spans:
        names = project.documents.set_index("document").name.map(lambda n: Path(str(n)).stem)
        frame = project.highlights.assign(document=project.highlights.document.map(names))
        write_span_csv(frame[["document", "start", "end", "code", "coder", "text"]], spans)
    coded = int((units.codes.str.len() > 0).sum())
    click.echo(f"{len(units)} units from {len(project.documents)} documents ({coded} with codes); wrote {out}")


def _corpus_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "corpora" / "nhs-medical-leadership"
    if not here.is_dir():
        raise FileNotFoundError(f"sample corpus not found at {here} (run from a source checkout)")
    return here


if __name__ == "__main__":
    main()
