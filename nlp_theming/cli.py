"""Command-line interface: a thin click layer over the same functions as the Python API."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
import numpy as np

from . import store
from .api import Project, run_demo
from .codebook import CodebookError
from .dask_cluster import DaskUnavailable
from .embed import DEFAULT_MODEL, ModelNotFound
from .evaluate import evaluate as run_evaluation
from .evaluate_discovery import evaluate_discovery as run_discovery_evaluation
from .exchange.imports import KINDS as IMPORT_KINDS
from .exchange.refi_qda import NOT_EXPORTED
from .ingest import AsrOptions
from .match import MATCHER_ALIASES, MATCHER_NAMES, MATCHERS, resolve_methods
from .match.themes import DEFAULT_REDUCTION, DEFAULT_STRATEGY, REDUCTIONS, STRATEGIES
from .onnx_encoder import ENCODERS, EncoderUnavailable
from .review.queue import ORDERS, PER, QueueFilter
from .review.server import serve as run_server
from .review.sheet import export_sheet
from .review.terminal import terminal_review
from .segment import UNITS, Segmenter
from .suggest import SuggestConfig
from .textio import InputError, terminal_safe

KNOWN_ERRORS = (store.ProjectError, CodebookError, InputError, ModelNotFound, EncoderUnavailable, ValueError,
                FileNotFoundError, DaskUnavailable)
ENCODER_HELP = ("Sentence encoder: torch (sentence-transformers), onnx (an int8 ONNX export of the same model, made"
                " locally on first use; pip install 'nlp-theming[onnx]'), or auto: onnx when ONNX Runtime is"
                " installed.")


def echo(message: object = "", err: bool = False) -> None:
    """Print a line; what came from a file (names, text, a problem quoting a cell) cannot carry
    terminal escapes or bidi overrides to the terminal."""
    click.echo(terminal_safe(message), err=err)


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def friendly(func):
    """Problems end in one line on stderr and exit status 1, not a traceback (unless --debug)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors are click's to report (exit status 2)
        except KNOWN_ERRORS as exc:
            if _debug():
                raise
            echo(f"error: {' '.join(str(exc).split())}", err=True)
            sys.exit(1)
        except Exception as exc:  # a bug or an input no check foresaw: still one line
            if _debug():
                raise
            echo(f"error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                 " (run again with --debug for the traceback)", err=True)
            sys.exit(1)

    return wrapper


def _project(path: str) -> Project:
    return Project(path)


def segmenter_options(func):
    # None everywhere: the project's recorded scheme (window:3:80 for a new project); any option
    # given makes a new scheme, which becomes the project's
    func = click.option(
        "--unit",
        type=click.Choice(UNITS),
        default=None,
        help="Coding unit: window of sentences within a turn (the default), sentence, or whole turn.",
    )(func)
    func = click.option("--max-sentences", type=int, default=None, help="Sentences per window [default: 3].")(func)
    func = click.option("--max-words", type=int, default=None, help="Longest unit, in words [default: 80].")(func)
    func = click.option("--spacy-model", default=None, help="An installed spaCy pipeline for sentence boundaries.")(
        func
    )
    return func


def _segmenter(
    unit: str | None, max_sentences: int | None, max_words: int | None, spacy_model: str | None
) -> Segmenter | None:
    """The segmenter the options ask for; None when none was given (the project's scheme)."""
    if unit is None and max_sentences is None and max_words is None and spacy_model is None:
        return None
    default = Segmenter()
    return Segmenter(unit=unit or default.unit, max_sentences=max_sentences or default.max_sentences,
                     max_words=max_words or default.max_words, spacy_model=spacy_model)


@click.group()
@click.version_option(package_name="nlp-theming")
@click.option("--debug", is_flag=True, help="Show the traceback of an error instead of one line.")
def main(debug: bool) -> None:
    """nlp-theming: suggest codes for interview transcripts; people confirm them.

    Everything runs on this machine. Typical use: init, ingest, codebook, suggest, export.

    Exit status: 0 done; for ingest, import and sheet import, the number of files or rows that
    failed (at most 100); 1 an error (one line on stderr); 2 a usage error.
    """


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@friendly
def init(project: str) -> None:
    """Create a project folder with its SQLite store."""
    path = store.init_project(project)
    echo(f"created {path}")


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--manifest", type=click.Path(dir_okay=False), help="CSV: file, site, participant, role, ...")
@segmenter_options
@click.option("--asr-model", type=click.Path(file_okay=False), default=None,
              help="Recordings: a CTranslate2 Whisper model folder [default: whisper-base, installed locally].")
@click.option("--language", default=None, help="Recordings: the language spoken, e.g. en [default: detected].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly
def ingest(
    project: str,
    paths: tuple[str, ...],
    manifest: str | None,
    unit: str,
    max_sentences: int,
    max_words: int,
    spacy_model: str | None,
    asr_model: str | None,
    language: str | None,
    quiet: bool,
) -> None:
    """Read transcripts and recordings (files or folders) into PROJECT.

    Formats: .txt .md .docx .odt .vtt .srt, Whisper JSON (.json), CSV of turns (.csv); recordings
    .wav .mp3 .m4a .ogg .flac .mp4 .webm are transcribed on this machine first, into
    PROJECT/transcripts/ (Whisper JSON and WebVTT, to correct and ingest again).
    The exit status is the number of files that failed (at most 100).
    """
    if not paths and not manifest:
        raise click.UsageError("give transcript files or folders, or --manifest")
    asr = AsrOptions(model=asr_model, language=language)
    with _project(project) as p:
        report = p.ingest(paths, manifest, _segmenter(unit, max_sentences, max_words, spacy_model),
                          progress=not quiet, asr=asr)
    for line in report.skipped_lines():
        echo(f"note: {line}")
    for line in report.file_lines():
        echo(line)
    for line in report.warnings():
        echo(f"warning: {line}", err=True)
    for line in report.lines():
        echo(f"error: {line}", err=True)
    echo(
        f"{len(report.added)} added, {len(report.updated)} updated (new version), "
        f"{len(report.unchanged)} unchanged, {len(report.failed)} failed"
        + (f", {len(report.skipped)} skipped" if report.skipped else "")
    )
    sys.exit(min(len(report.failed), 100))


def _pairs(values: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, name = value.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise click.UsageError(f"{what} {value!r}: expected KEY=NAME")
        pairs.append((key.strip(), name.strip()))
    return pairs


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("document")
@click.option("--interviewer", default=None, help="The interviewer's speaker label(s), separated by |.")
@click.option("--name", "names", multiple=True, help="Rename a speaker: SPEAKER_01=P3 (repeatable).")
@click.option("--turn", "turns", multiple=True, help="Name one turn: 4=P3, turn numbers as listed (repeatable).")
@click.option("--alternate", default=None, help="Name the turns in turn: Interviewer,P3 (then fix with --turn).")
@friendly
def speakers(project: str, document: str, interviewer: str | None, names: tuple[str, ...],
             turns: tuple[str, ...], alternate: str | None) -> None:
    """Name DOCUMENT's speakers and mark its interviewer; lists its turns.

    For a recording transcribed without a diariser, turns are unnamed: --alternate
    Interviewer,P3 --interviewer Interviewer names a question-and-answer interview in one go.
    The naming is kept with the document and carried to its new versions.
    """
    turn_names = {}
    for key, name in _pairs(turns, "--turn"):
        if not key.isdigit():
            raise click.UsageError(f"--turn {key}={name}: the turn must be a number")
        turn_names[int(key)] = name
    with _project(project) as p:
        naming = p.name_speakers(document, interviewer, dict(_pairs(names, "--name")), turn_names,
                                 alternate.split(",") if alternate else None)
    for turn in naming.turns:
        click.echo(turn.line())
    click.echo(f"{naming.document}: {naming.changed} turns renamed; interviewer: {naming.interviewer or 'none'}")


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
    echo(
        f"codebook {state} {version}: {int(frame.is_leaf.sum())} codes under {int((~frame.is_leaf).sum())} groups"
    )


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="sentence-transformers model: name or path.")
@click.option(
    "--matcher",
    type=click.Choice(MATCHER_NAMES, case_sensitive=False),
    default="semisupervised",
    show_default=True,
    help="zeroshot, semisupervised or classifier (aliases as for evaluate --method).",
)
@click.option("-k", "--top-k", type=int, default=5, show_default=True, help="Suggestions kept per segment.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--include-interviewer", is_flag=True, help="Also suggest codes for interviewer turns.")
@click.option("--discover/--no-discover", default=False, show_default=True,
              help="Also cluster the segments that match no code into candidate new themes (else: the discover"
              " command, when you want them).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option(
    "--context",
    default="all",
    show_default=True,
    help="What the matcher sees of a segment's place in its interview: all, none, or parts joined by commas"
    " (neighbours, question, role).",
)
@click.option(
    "--fine-tune",
    "fine_tune",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to fine-tune a copy of the encoder on the segments people confirmed (SetFit-style), stored in"
    " the project as models/tuned-N; every segment is then embedded again with it. 0: off.",
)
@click.option("--encoder", type=click.Choice(ENCODERS, case_sensitive=False), default="auto", show_default=True,
              help=ENCODER_HELP)
@click.option("--dask", "dask", metavar="ADDRESS", default=None,
              help="Embed on a Dask cluster: a scheduler's address (tcp://host:8786), its scheduler file (.json),"
              " or 'local' for worker processes on this machine. Same suggestions; see docs/scale.md.")
@click.option("--block-segments", type=int, default=SuggestConfig.block_segments, show_default=True,
              help="Segments read, embedded and scored at a time (whole documents): what bounds memory on a large"
              " project. The same suggestions at any size.")
@segmenter_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly
def suggest(
    project: str,
    model: str,
    matcher: str,
    top_k: int,
    seed: int,
    include_interviewer: bool,
    discover: bool,
    batch_size: int,
    context: str,
    fine_tune: float,
    encoder: str,
    dask: str | None,
    block_segments: int,
    unit: str,
    max_sentences: int,
    max_words: int,
    spacy_model: str | None,
    quiet: bool,
) -> None:
    """Embed segments and suggest codes from the codebook (nothing is coded until confirmed)."""
    config = SuggestConfig(
        dask=dask,
        block_segments=block_segments,
        context=context,
        fine_tune=fine_tune,
        encoder=encoder,
        model=model,
        matcher=matcher,
        top_k=top_k,
        seed=seed,
        include_interviewer=include_interviewer,
        discover=discover,
        batch_size=batch_size,
        segmenter=_segmenter(unit, max_sentences, max_words, spacy_model),
    )
    with _project(project) as p:
        summary = p.suggest(config, progress=not quiet)
    for line in summary.warnings:
        echo(f"warning: {line}", err=True)
    for line in summary.lines():
        echo(line)


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--run", "run_id", type=int, default=None, help="A complete run (default: the latest).")
@click.option("--seed", type=int, default=None, help="Default: the run's seed.")
@click.option("--reduction", type=click.Choice(REDUCTIONS), default=DEFAULT_REDUCTION, show_default=True,
              help="umap (better themes) or pca (seconds, nothing to compile); see docs/evaluation.md.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@friendly
def discover(project: str, run_id: int | None, seed: int | None, reduction: str, quiet: bool) -> None:
    """Cluster the segments that matched no code into candidate new themes (proposals, never codes)."""
    with _project(project) as p:
        summary = p.discover(run_id, seed, reduction, progress=not quiet)
    for line in summary.lines():
        click.echo(line)


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "parquet", "qdpx", "qdc"]),
    default=None,
    help="Default: from the --out extension. qdpx: the confirmed coding as a REFI-QDA project (NVivo, ATLAS.ti, "
    "MAXQDA); qdc: the latest codebook as a REFI-QDA codebook.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--run", "run_id", type=int, default=None, help="A run id (default: the latest).")
@click.option("--coder", "coders", multiple=True, help="qdpx: only this coder's coding (repeatable; default: all).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly
def export(project: str, fmt: str | None, out: str, run_id: int | None, coders: tuple[str, ...], quiet: bool) -> None:
    """Write suggestions as a tidy long table (one row per segment and suggested code).

    With --format qdpx (or an --out ending in .qdpx): the confirmed human coding, never the
    machine's suggestions, as a REFI-QDA project for NVivo, ATLAS.ti and MAXQDA.
    """
    fmt = (fmt or Path(out).suffix.lstrip(".")).lower()
    if fmt == "qdc":
        if run_id is not None or coders:
            raise click.UsageError("--run and --coder do not apply to a codebook (--format qdc)")
        with _project(project) as p:
            echo(p.export_qdc(out).summary())
        return
    qdpx = fmt == "qdpx"
    if qdpx and run_id is not None:
        raise click.UsageError("--run chooses suggestions; a qdpx export holds the confirmed coding")
    if coders and not qdpx:
        raise click.UsageError("--coder applies to --format qdpx")
    with _project(project) as p:
        if not qdpx:
            echo(f"wrote {p.export(out, fmt, run_id, progress=not quiet)}")
            return
        report = p.export_qdpx(out, coders=list(coders) or None)
    echo(report.summary())
    for warning in report.warnings:
        echo(f"warning: {warning}", err=True)
    echo(f"note: {NOT_EXPORTED}", err=True)


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write them to a .csv, .xlsx or .parquet.")
@click.option("-q", "--search", "q", default="", help="Only memos holding every word of this.")
@click.option("--history", is_flag=True, help="Every version of every memo, not just those in force.")
@friendly
def memos(project: str, out: str | None, q: str, history: bool) -> None:
    """List the memos (coders' notes on the project, documents, passages, codes and decisions)."""
    with _project(project) as p:
        table = p.memos(q, history, out)
    if out:
        click.echo(f"wrote {len(table)} memos to {out}")
        return
    if table.empty:
        click.echo("no memos" + (f" holding {q!r}" if q else ""))
    for m in table.itertuples(index=False):
        click.echo(f"{m.at}  {m.coder} on {m.about}: {' '.join(str(m.text).split())}")


@main.command("import")
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--kind",
    type=click.Choice(IMPORT_KINDS),
    default="auto",
    show_default=True,
    help="spans: document,start,end,code,coder; units: unit_id,document,coder,text,codes; "
    "taguette: a Taguette .sqlite3 project (its documents are added too); "
    "qda: a coded-segment table (CSV/XLSX) exported by MAXQDA, ATLAS.ti or NVivo; qdpx: a REFI-QDA project "
    "(documents, codebook, attributes, each user's coding); qdc: a REFI-QDA codebook. "
    "auto: from the extension or columns.",
)
@click.option("--coder", default=None, help="Import only this coder's coding.")
@friendly
def import_(project: str, file: str, kind: str, coder: str | None) -> None:
    """Import existing human coding as decisions of the coders who made it.

    Spans map onto the project's own segmentation scheme. Importing the same file again records
    nothing new. The exit status is the number of rows that could not be used (at most 100).
    """
    with _project(project) as p:
        result = p.import_coding(file, kind, coder)
    for note in result.notes:
        echo(f"note: {note}")
    for line in result.warnings:
        echo(f"warning: {line}", err=True)
    for line in result.problems:
        echo(f"error: {line}", err=True)
    if result.kind != "qdc":
        again = f" ({result.already} already recorded by an earlier import)" if result.already else ""
        echo(
            f"imported {result.spans} spans as {result.decisions} decisions{again}; {len(result.problems)} problems"
        )
    sys.exit(min(len(result.problems), 100))


@main.command("coded-units")
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--coder", "coders", multiple=True, help="Only these coders (repeatable).")
@friendly
def coded_units(project: str, out: str, coders: tuple[str, ...]) -> None:
    """Write the project's human coding as long-format units (the file `evaluate` reads)."""
    with _project(project) as p:
        units = p.coded_units(out, list(coders) or None)
    echo(
        f"{len(units)} units from {units.document.nunique()} documents by {units.coder.nunique()} coders; wrote {out}"
    )


@main.command("compare")
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--coders", default=None, help="Coders to compare, separated by commas (default: every human coder).")
@click.option("--machine", is_flag=True, help="Add the latest run's suggestions with score >= 0.5 as a coder.")
@click.option("--reference", default=None, help="Score the other coders against this one (precision, recall, F1).")
@click.option(
    "--unit",
    type=click.Choice(["segment", "sentence", "character"]),
    default="segment",
    show_default=True,
    help="Unit of analysis.",
)
@click.option("--n-boot", type=int, default=1000, show_default=True, help="Bootstrap resamples (0: no intervals).")
@click.option(
    "--bootstrap-by",
    type=click.Choice(["unit", "document"]),
    default="unit",
    show_default=True,
    help="Resample units, or whole documents (wider, honest intervals when units of one interview are alike).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Report folder (default: PROJECT/agreement)."
)
@friendly
def compare_command(
    project: str,
    coders: str | None,
    machine: bool,
    reference: str | None,
    unit: str,
    n_boot: int,
    bootstrap_by: str,
    seed: int,
    out: str | None,
) -> None:
    """Agreement between coders (kappa, alpha, AC1, F1 with bootstrap intervals) and their disagreements."""
    names = [c.strip() for c in coders.split(",") if c.strip()] if coders else None
    folder = Path(out) if out else Path(project) / "agreement"
    with _project(project) as p:
        result = p.compare(
            names, machine=machine, reference=reference, unit=unit, n_boot=n_boot, seed=seed, bootstrap_by=bootstrap_by
        )
    paths = result.write(folder)
    for line in result.summary_lines():
        echo(line)
    echo(f"wrote {paths['report.html']} and the tables in {folder}")


@main.command()
@click.argument("project", type=click.Path(file_okay=False), default="demo-project")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Default: PROJECT/suggestions.csv")
@click.option("--quiet", is_flag=True)
@friendly
def demo(project: str, out: str | None, quiet: bool) -> None:
    """Run the whole pipeline on the bundled sample corpus (synthetic NHS interviews)."""
    report, summary, path = run_demo(project, out, progress=not quiet)
    for line in report.lines():
        echo(f"error: {line}", err=True)
    for line in summary.lines():
        echo(line)
    echo(f"wrote {path}")
    # the bundled corpus must ingest cleanly: a failure means a broken install, not bad data
    sys.exit(min(len(report.failed), 100))


@main.command()
@click.option(
    "--codebook",
    "codebook_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="CSV with at least code, description, group.",
)
@click.option(
    "--coded",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Long format: unit_id, document, coder, text, codes (joined by ' | ').",
)
@click.option(
    "--train-fraction",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of units counted as hand-coded (confirmed) before the machine suggests.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--coder",
    default=None,
    help="Reference coder on units several people coded; units coded by one person keep that person's coding"
    " (default: the first coder of each unit, in file order).",
)
@click.option("--only-coder", is_flag=True, help="With --coder: evaluate only the units that coder coded.")
@click.option(
    "--method",
    "methods",
    default="semisupervised",
    show_default=True,
    help=f"Matcher, or several separated by commas, compared side by side ({', '.join(MATCHERS)};"
    f" also {', '.join(MATCHER_ALIASES)}).",
)
@click.option("--learning-curve", default=None, help="Fractions to run, e.g. 0,0.1,0.2,0.3,0.5; plots agreement.")
@click.option(
    "--train-labels",
    default="full",
    show_default=True,
    help="What is learnt from the hand-coded units: full (every code of a unit), decisions (a simulated "
    "reviewer's accept/reject of the first 5 suggestions, as partial labels), decisions-as-full (the same, "
    "undecided codes counted absent); several separated by commas are compared side by side.",
)
@click.option(
    "--split",
    type=click.Choice(["unit", "document", "both"]),
    default="unit",
    show_default=True,
    help="Hold out random units, or whole documents (people code transcript by transcript), or report both.",
)
@click.option(
    "--context",
    "contexts",
    multiple=True,
    default=("all",),
    show_default=True,
    help="What the matcher sees of a unit's place in its interview: all, none, or parts joined by commas"
    " (neighbours, question, role; question and role need the optional speaker/role columns). Repeat the option"
    " to compare settings side by side.",
)
@click.option(
    "--strategy",
    "strategies",
    default=None,
    help="Also simulate a reviewer who codes --train-fraction of the units in rounds, choosing them at random"
    " or actively (the units the matcher is least sure of, spread over topics): random, active, or random,active"
    " to compare how many units each needs.",
)
@click.option("--model", default=DEFAULT_MODEL, show_default=True)
@click.option("--encoder", type=click.Choice(ENCODERS, case_sensitive=False), default="auto", show_default=True,
              help=ENCODER_HELP)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--quiet", is_flag=True)
@friendly
def evaluate(
    codebook_file: str,
    coded: str,
    train_fraction: float,
    seed: int,
    coder: str | None,
    only_coder: bool,
    methods: str,
    learning_curve: str | None,
    train_labels: str,
    split: str,
    contexts: tuple[str, ...],
    strategies: str | None,
    model: str,
    encoder: str,
    out: str,
    quiet: bool,
) -> None:
    """Simulate pre-coding on units people already coded; write predictions.csv and metrics.json."""
    method_list = resolve_methods(methods.split(","))
    if only_coder and coder is None:
        raise click.UsageError("--only-coder needs --coder NAME")
    curve = [float(x) for x in learning_curve.split(",") if x.strip()] if learning_curve else None
    metrics = run_evaluation(
        codebook_file, coded, out, train_fraction, seed, coder, method_list, curve, model, progress=not quiet,
        only_coder=only_coder, splits=["unit", "document"] if split == "both" else [split],
        train_labels=[x.strip() for x in train_labels.split(",") if x.strip()], contexts=list(contexts),
        strategies=[x.strip() for x in strategies.split(",") if x.strip()] if strategies else (), encoder=encoder,
    )
    rows = metrics.get("learning_curve") or metrics.get("methods") or [metrics]
    for note in metrics["notes"]:
        echo(f"note: {note}")
    left = metrics["units_left_out"]
    if left["n_units"]:
        top = sorted(left["codes"].items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{c!r} ({n})" for c, n in top[:5]) + (", ..." if len(top) > 5 else "")
        echo(f"note: {left['n_units']} units left out: none of their codes is in the codebook: {shown}")
    if metrics["codes_matched_loosely"]:
        pairs = ", ".join(f"{a!r} as {b!r}" for a, b in list(metrics["codes_matched_loosely"].items())[:5])
        echo(f"note: codes read ignoring case or spacing: {pairs}")
    refs = metrics["reference_coders"]
    who = ", ".join(f"{c} on {n}" for c, n in refs.items())
    echo(
        f"{metrics['n_units']} units, {metrics['n_codes']} codes, reference coder {metrics['coder']!r}"
        + (f" ({who} units)" if len(refs) > 1 else "") + f"; encoder {metrics['encoder']}"
    )
    echo(
        f"  {'method':<15} {'context':<24} {'labels':<17} {'split':<8} {'train':>6} {'test':>6}"
        f" {'top1':>6} {'top5rec':>7}"
        f" {'microF1':>7} {'macroF1':>7} {'kappa':>6} {'ECE':>6}"
    )
    for r in rows:
        echo(
            f"  {r['method']:<15} {r['context']:<24} {r['train_labels']:<17} {r['split']:<8}"
            f" {r['n_train']:>6} {r['n_test']:>6}"
            f" {_fmt(r['top1_hit_rate'])}"
            f" {_fmt(r['top5_recall'], 7)}"
            f" {_fmt(r['micro_f1'], 7)} {_fmt(r['macro_f1'], 7)} {_fmt(r['mean_kappa'])}"
            f" {_fmt(r['calibration']['ece'])}"
        )
    per_code = metrics.get("calibration_per_code") or {}
    if per_code:
        worst = max(per_code, key=lambda c: per_code[c]["ece"])
        echo(f"  calibration per code ({len(per_code)} codes with enough held-out units): median ECE"
                   f" {_fmt(float(np.median([v['ece'] for v in per_code.values()])))}, worst {worst!r}"
                   f" {_fmt(per_code[worst]['ece'])}")
    for other, c in (metrics.get("human_ceiling") or {}).items():
        echo(
            f"  human ceiling vs {other} on {c['n_units']} shared test units:"
            f" human kappa {_fmt(c['human']['mean_kappa'])}"
            f", machine kappa {_fmt(c['machine']['mean_kappa'])}; human micro F1 {_fmt(c['human']['micro_f1'])}"
            f", machine {_fmt(c['machine']['micro_f1'])}"
        )
    if "strategies" in metrics:
        st = metrics["strategies"]
        for point in st["curves"]:
            echo(f"  {point['strategy']:<7} {point['n_coded']:>6} units coded: kappa {_fmt(point['mean_kappa'])},"
                       f" top-1 {_fmt(point['top1_hit_rate'])}")
        if "active_units_to_match" in st:
            need = st["active_units_to_match"]
            echo(f"  active reached random's kappa at the full budget ({_fmt(st['random_kappa_at_budget'])})"
                       + (f" with {need} units ({st['active_share_of_random']:.0%} of random's)" if need else
                          " with none of its budgets"))
    echo(f"wrote {Path(out) / 'predictions.csv'}, {Path(out) / 'metrics.json'} and"
               f" {Path(out) / 'reliability.png'}")


def _fmt(value: float | None, width: int = 6) -> str:
    return f"{'-':>{width}}" if value is None or value != value else f"{value:>{width}.3f}"


@main.command("evaluate-discovery")
@click.option("--codebook", "codebook_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help="CSV with at least code, description.")
@click.option("--coded", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Long format: unit_id, document, coder, text, codes (joined by ' | ').")
@click.option("--hold-out", type=int, default=3, show_default=True, help="Codes removed from the codebook per set.")
@click.option("--repeats", type=int, default=5, show_default=True, help="Held-out sets (seeds seed, seed+1, ...).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train-fraction", type=float, default=0.0, show_default=True,
              help="Share of units whose coding with the remaining codes counts as confirmed.")
@click.option("--min-units", type=int, default=20, show_default=True,
              help="Only codes with at least this many coded units are held out.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=DEFAULT_STRATEGY, show_default=True,
              help="unmatched: cluster the segments that fit no code (as suggest does); zeroshot: the earlier way.")
@click.option("--min-topic-size", type=int, default=None, help="Smallest proposal [default: relative to the data].")
@click.option("--reduction", type=click.Choice(REDUCTIONS), default=DEFAULT_REDUCTION, show_default=True,
              help="How unmatched segments are reduced before clustering (unmatched strategy): pca or umap.")
@click.option("--coder", default=None, help="Reference coder on units several people coded.")
@click.option("--model", default=DEFAULT_MODEL, show_default=True)
@click.option("--encoder", type=click.Choice(ENCODERS, case_sensitive=False), default="auto", show_default=True,
              help=ENCODER_HELP)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--quiet", is_flag=True)
@friendly
def evaluate_discovery_command(codebook_file: str, coded: str, hold_out: int, repeats: int, seed: int,
                               train_fraction: float, min_units: int, strategy: str,
                               min_topic_size: int | None, reduction: str, coder: str | None, model: str,
                               encoder: str, out: str, quiet: bool) -> None:
    """Remove codes from a codebook and measure how well candidate new themes recover them."""
    metrics = run_discovery_evaluation(codebook_file, coded, out, hold_out, repeats, seed, train_fraction,
                                       min_units=min_units, strategy=strategy, min_topic_size=min_topic_size,
                                       coder=coder, model=model, progress=not quiet, reduction=reduction,
                                       encoder=encoder)
    s = metrics["summary"]
    echo(f"{metrics['n_units']} units, {metrics['n_codes']} codes; {repeats} sets of {hold_out} held-out codes"
               f" from {len(metrics['eligible_codes'])} with >= {min_units} units")
    for run in metrics["runs"]:
        echo(f"  set {run['repeat']}: {run['n_proposals']} proposals over {run['units_in_proposals']}"
                   f" of {run['n_unmatched']} unmatched units" + (f" ({run['note']})" if run["note"] else ""))
    echo(f"best proposal per removed code, mean: precision {_fmt(s['precision'])}, recall {_fmt(s['recall'])},"
               f" F1 {_fmt(s['f1'])} (chance {_fmt(s['baseline_f1'])}); reachable {_fmt(s['reachable'])}")
    echo(f"wrote {Path(out) / 'recovery.csv'} and {Path(out) / 'metrics.json'}")


@main.command("taguette-units")
@click.argument("taguette", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Long-format coded units CSV.")
@click.option("--spans", type=click.Path(dir_okay=False), default=None, help="Also write the highlights as span CSV.")
@segmenter_options
@friendly
def taguette_units(
    taguette: str, out: str, spans: str | None, unit: str, max_sentences: int, max_words: int, spacy_model: str | None
) -> None:
    """Turn a Taguette project (its .sqlite3 file) into coded units for `evaluate`."""
    result = Project.taguette_units(
        taguette, out, spans, _segmenter(unit, max_sentences, max_words, spacy_model) or Segmenter()
    )
    for problem in result.problems:
        echo(f"warning: {problem}", err=True)
    if result.unhighlighted:
        left = result.unhighlighted
        echo(f"note: {len(left)} documents without highlights left out: {', '.join(left)}")
    echo(
        f"{len(result.units)} rows (unit x coder; a coder only on documents they highlighted) from"
        f" {len(result.documents) - len(result.unhighlighted)} documents ({result.n_coded} with codes); wrote {out}"
    )


@main.command("summarize")
@click.argument("project", type=click.Path(file_okay=False))
@click.option(
    "--by",
    default="site",
    show_default=True,
    help="Group by this document attribute: site, role, or any manifest or --sites column.",
)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Report folder (default: PROJECT/summary).")
@click.option("--coder", default=None, help="Only this coder's confirmed codes (default: all coders, union).")
@click.option(
    "--sites",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="CSV of site attributes (a 'site' column and e.g. trust_type), joined on the documents' site.",
)
@click.option(
    "--compare",
    multiple=True,
    help="Group attribute to compare groups by (repeatable; default: every categorical one).",
)
@click.option("--quotes", type=int, default=3, show_default=True, help="Representative quotes per cell.")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["html", "md", "xlsx", "csv", "parquet"]),
    help="Outputs to write (repeatable; default: all).",
)
@click.option(
    "--check",
    "check_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write nothing; say whether the summary in DIR is out of date (exit status 1 if it is).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly
def summarize_command(
    project: str,
    by: str,
    out: str | None,
    coder: str | None,
    sites: str | None,
    compare: tuple[str, ...],
    quotes: int,
    formats: tuple[str, ...],
    check_dir: str | None,
    quiet: bool,
) -> None:
    """Summarise confirmed codes by site (or any attribute): matrix, quotes, comparisons, HTML report."""
    with _project(project) as p:
        if check_dir:
            fresh = p.check_summary(check_dir)
            echo(f"{check_dir}: {fresh.message}")
            sys.exit(0 if fresh.up_to_date else 1)
        summary = p.summarize(by=by, coder=coder, sites=sites, compare=list(compare) or None, quotes=quotes,
                              progress=not quiet)
        folder = Path(out) if out else Path(project) / "summary"
        summary.write(folder, tuple(formats) or ("html", "md", "xlsx", "csv", "parquet"), progress=not quiet)
    c = summary.meta["counts"]
    echo(
        f"summary by {by}: {c['groups']} groups x {c['themes']} themes ({c['meta_themes']} meta-themes); "
        f"{c['cells_present']} of {c['cells']} cells coded; {c['coded_segments']} confirmed coded segments"
        f" ({'coder ' + coder if coder else 'coders: ' + (', '.join(summary.meta['coders']) or 'none')})"
    )
    if c["unreviewed"]:
        echo(f"{c['unreviewed']} suggestions with score >= 0.5 are not yet reviewed (flagged in the matrix)")
    for note in summary.notes:
        echo(f"note: {note}")
    echo(f"wrote {folder / 'index.html' if (folder / 'index.html').exists() else folder}")


# ---- review: people confirm suggestions (web page, terminal, spreadsheet) ----


def queue_options(func):
    """Which suggestions, in which order: the fields of :class:`QueueFilter`, as on the review page."""
    help_of = QueueFilter.HELP
    for opt in reversed(
        [
            click.option("--order", type=click.Choice(ORDERS), default=None, help=help_of["order"]),
            click.option("--theme", default=None, help=help_of["theme"]),
            click.option("--site", default=None, help=help_of["site"]),
            click.option("--role", default=None, help=help_of["role"]),
            click.option("--document", default=None, help=help_of["document"]),
            click.option("--min-score", type=float, default=None, help=help_of["min_score"]),
            click.option("--max-score", type=float, default=None, help=help_of["max_score"]),
            click.option("--unreviewed", is_flag=True, default=None, help=help_of["unreviewed"]),
            click.option("--per", type=click.Choice(PER), default=None, help=help_of["per"]),
            click.option("--max-confidence", type=float, default=None, help=help_of["max_confidence"]),
        ]
    ):
        func = opt(func)
    return func


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but localhost makes transcripts reachable from other machines.",
)
@click.option("--port", type=int, default=0, help="Port to listen on (default: a free one).")
@click.option("--coder", default=None, help="Review as NAME; nobody is asked for a name.")
@click.option("--blind", is_flag=True, help="Coders do not see each other's decisions.")
@click.option("--document", default=None, help="Open this document's transcript view (its URL is printed).")
@friendly
def serve(project: str, host: str, port: int, coder: str | None, blind: bool, document: str | None) -> None:
    """Review suggestions in a local web page (keyboard first; prints the URL).

    On this machine (the default) nobody signs in. With --host beyond it, every coder signs in
    with a key from `nlp-theming coders add`, and the server refuses to start without any.
    """
    run_server(project, host=host, port=port, coder=coder, blind=blind, document=document)


@main.group()
def coders() -> None:
    """Sign-in keys for coders, when the review server is reachable from other machines."""


@coders.command("add")
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("name")
@friendly
def coders_add(project: str, name: str) -> None:
    """Give coder NAME a new sign-in key (shown once; only its hash is kept)."""
    with _project(project) as p:
        key = p.add_coder_key(name)
    click.echo(f"{name}'s key (give it to them; it is not shown again): {key}")


@coders.command("remove")
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("name")
@friendly
def coders_remove(project: str, name: str) -> None:
    """Revoke every key of coder NAME (a signed-in session ends at its next request)."""
    with _project(project) as p:
        n = p.revoke_coder_keys(name)
    click.echo(f"revoked {n} key(s) of {name}")


@coders.command("list")
@click.argument("project", type=click.Path(file_okay=False))
@friendly
def coders_list(project: str) -> None:
    """Coders who hold a key."""
    with _project(project) as p:
        for name in p.coders_with_keys():
            click.echo(name)


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--coder", required=True, help="Your name: decisions are recorded under it.")
@click.option("--blind", is_flag=True, help="Do not show other coders' confirmations as examples.")
@queue_options
@friendly
def review(project: str, coder: str, blind: bool, order: str | None, **filters: object) -> None:
    """Review suggestions in the terminal: a accept, r reject, c change, + add, n next, u undo, q quit."""
    with _project(project) as p:
        terminal_review(p.con, coder, blind=blind, queue_filter=QueueFilter.of(order, **filters))


@main.group()
def sheet() -> None:
    """Review in a spreadsheet: export the queue, fill in the decision column, import it back."""


@sheet.command("export")
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--coder", required=True, help="Whose queue (their pending suggestions).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="A .xlsx or .csv file.")
@click.option("--all", "everything", is_flag=True, help="Also rows the coder already decided (to revise them).")
@queue_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly
def sheet_export(
    project: str, coder: str, out: str, everything: bool, order: str | None, quiet: bool, **filters: object
) -> None:
    """Write the review queue with a blank decision column (accept, reject, change:<code>, add:<code>)."""
    queue_filter = QueueFilter.of(order or "document", status=None if everything else "pending", **filters)
    with _project(project) as p:
        path, n = export_sheet(p.con, coder, out, queue_filter=queue_filter, progress=not quiet)
    echo(f"wrote {n} rows to {path}")


@sheet.command("import")
@click.argument("project", type=click.Path(file_okay=False))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--coder", required=True, help="Whose decisions these are.")
@friendly
def sheet_import(project: str, file: str, coder: str) -> None:
    """Record the decisions of a filled sheet. Bad rows are named and skipped; the exit status is their number."""
    with _project(project) as p:
        report = p.import_sheet(file, coder)
    for line in report.problems:
        echo(f"error: {line}", err=True)
    echo(
        f"{report.recorded} decisions recorded for {coder}, {report.unchanged} already so, "
        f"{report.blank} rows left blank, {len(report.problems)} rows with problems"
    )
    sys.exit(min(len(report.problems), 100))


@main.command()
@click.argument("project", type=click.Path(file_okay=False))
@click.option("--coder", default=None, help="Only this coder's figures.")
@click.option("--blind", is_flag=True, help="With --coder: nothing of other coders' decisions shows through.")
@friendly
def status(project: str, coder: str | None, blind: bool) -> None:
    """Review progress: documents, segments, suggestions pending/accepted/rejected, per coder and theme.

    Documents with no speaker or only one are listed first."""
    with _project(project) as p:
        for line in p.speaker_warnings():
            echo(f"warning: {line}")
        for line in p.review_status(coder, blind=blind).lines():
            echo(line)


if __name__ == "__main__":
    main()
