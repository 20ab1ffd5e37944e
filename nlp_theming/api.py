"""The Python API: a :class:`Project` with the same verbs as the CLI, returning DataFrames."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from . import store
from .agreement.coders import Comparison, compare_coders
from .codebook import load_codebook, load_stored_codebook, store_codebook
from .exchange.imports import ImportResult, TaguetteUnits, import_coding, taguette_units, write_project_units
from .exchange.refi_import import read_qdc_file
from .exchange.refi_qda import QdcReport, QdpxReport, export_qdc, export_qdpx
from .exchange.tidy import export_memos, export_suggestions, memos_table, suggestions_with_memos
from .ingest import AsrOptions, IngestReport, ingest_paths, speaker_warnings
from .ingest.naming import SpeakerNaming, name_speakers
from .match.themes import DEFAULT_REDUCTION
from .review import ReviewStatus, SheetReport, export_sheet, import_sheet, review_queue, review_status
from .segment import Segmenter, project_segmenter, segment_documents
from .store.coders import add_key, key_coders, revoke_keys
from .store.decisions import MACHINE_CODERS
from .store.documents import document_table, segment_table
from .suggest import DiscoverySummary, RunSummary, SuggestConfig, run_discover, run_suggest
from .summarize import Freshness, Summary, check_summary, summarize


class Project:
    """An nlp-theming project folder. ``Project.init(path)`` creates one; ``Project(path)`` opens it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.con = store.open_project(self.path)

    @classmethod
    def init(cls, path: str | Path) -> Project:
        store.init_project(path)
        return cls(path)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ingest -> segment
    def ingest(
        self,
        paths: Iterable[str | Path] = (),
        manifest: str | Path | None = None,
        segmenter: Segmenter | None = None,
        progress: bool = False,
        asr: AsrOptions | None = None,
    ) -> IngestReport:
        """Read transcripts (and a manifest of their metadata) and segment new documents.

        ``segmenter``: None for the project's scheme (the default one for a new project); one
        given becomes the project's scheme, which every later command reads. ``asr``: how
        recordings are transcribed (the default model, language detected).
        """
        report = ingest_paths(self.con, paths, manifest, progress=progress, asr=asr)
        paths_of = {doc_id: f.path for doc_id, f in zip(report.document_ids, report.files, strict=False)}
        for doc_id, name, problem in segment_documents(
            self.con, segmenter, None if segmenter is not None else report.document_ids, progress=progress
        ):
            report.failed.append((paths_of.get(doc_id, f"document {name}"), problem))
        return report

    def load_codebook(self, path: str | Path, name: str | None = None) -> tuple[int, bool]:
        """Load a codebook file (CSV, YAML, or a REFI-QDA .qdc); returns (version, whether it is a new version).

        What a .qdc holds that a codebook cannot (code sets) is reported by :meth:`import_coding` with kind qdc.
        """
        if Path(path).suffix.lower() == ".qdc":
            book, _ = read_qdc_file(path)
            book.name = name or book.name
        else:
            book = load_codebook(path, name)
        return store_codebook(self.con, book, Path(path).resolve())

    # match
    def suggest(self, config: SuggestConfig | None = None, progress: bool = False, **kwargs: object) -> RunSummary:
        """Suggest codes for every segment. Keyword arguments set :class:`SuggestConfig` fields."""
        if config is None:
            config = SuggestConfig(**kwargs)  # type: ignore[arg-type]
        return run_suggest(self.con, config, progress=progress)

    def discover(self, run_id: int | None = None, seed: int | None = None, reduction: str = DEFAULT_REDUCTION,
                 progress: bool = False) -> DiscoverySummary:
        """Cluster the segments a run (default: the latest) matched to no code into candidate new
        themes, stored with that run (see :func:`~nlp_theming.suggest.run_discover`)."""
        return run_discover(self.con, run_id, seed, reduction, progress)

    # tables
    def documents(self, all_versions: bool = False) -> pd.DataFrame:
        return document_table(self.con, all_versions)

    def segments(self, scheme: str | None = None) -> pd.DataFrame:
        return segment_table(self.con, scheme or self.segmenter().scheme)

    def segmenter(self) -> Segmenter:
        """The project's segmenter (its recorded scheme)."""
        return project_segmenter(self.con)

    def codebook(self, version: int | None = None) -> pd.DataFrame:
        return load_stored_codebook(self.con, version)[1].to_frame()

    def suggestions(self, run_id: int | None = None) -> pd.DataFrame:
        """One row per segment and suggested code (the tidy table ``export`` writes, memos included)."""
        return suggestions_with_memos(self.con, run_id)

    def export(self, out: str | Path, fmt: str | None = None, run_id: int | None = None,
               progress: bool = False) -> Path:
        """Write the suggestions table (csv, xlsx, parquet); ``qdpx`` writes :meth:`export_qdpx` instead."""
        if (fmt or Path(out).suffix.lstrip(".")).lower() == "qdc":
            return self.export_qdc(out).path
        if (fmt or Path(out).suffix.lstrip(".")).lower() == "qdpx":
            if run_id is not None:
                raise ValueError("a qdpx export holds the confirmed coding, not a run's suggestions: drop the run")
            return self.export_qdpx(out).path
        return export_suggestions(self.con, out, fmt, run_id, progress)

    def export_qdpx(
        self, path: str | Path, coders: list[str] | None = None, case_by: str | None = "site"
    ) -> QdpxReport:
        """Write the confirmed human coding as a REFI-QDA project (.qdpx) for NVivo, ATLAS.ti and MAXQDA.

        ``coders``: whose coding (default: every human coder); ``case_by``: the document attribute
        whose values become cases (None for none). Returns an
        :class:`~nlp_theming.exchange.refi_qda.QdpxReport` (``.path``, counts, ``.warnings``).
        """
        return export_qdpx(self.con, path, coders, project_name=self.path.resolve().name, case_by=case_by)

    def export_qdc(self, path: str | Path, version: int | None = None) -> QdcReport:
        """Write a codebook version (default: the latest) as a REFI-QDA codebook (.qdc)."""
        return export_qdc(self.con, path, version)

    # review: people decide (see nlp_theming.review for accept, reject, change, add, adjust, undo)
    def queue(self, coder: str | None = None, **kwargs: object) -> pd.DataFrame:
        """Suggestions to review, least certain first; keyword arguments as :func:`review.review_queue`."""
        return review_queue(self.con, coder, **kwargs)  # type: ignore[arg-type]

    def name_speakers(
        self,
        document: str,
        interviewer: str | None = None,
        names: dict[str, str] | None = None,
        turns: dict[int, str] | None = None,
        alternate: list[str] | None = None,
    ) -> SpeakerNaming:
        """Name a document's speakers (``names``: old label to new; ``turns``: turn number to
        name; ``alternate``: names for the turns in turn) and mark the interviewer, kept like
        the manifest's ``interviewer`` column. Without arguments: its turns, to decide from."""
        return name_speakers(self.con, document, interviewer, names, turns, alternate)

    def memos(self, q: str = "", history: bool = False, out: str | Path | None = None) -> pd.DataFrame:
        """Memos (notes by coders on the project, documents, passages, codes and decisions), newest
        first: those holding every word of ``q``; ``history``: every version; ``out``: also written
        to that CSV, XLSX or Parquet file."""
        if out is not None:
            export_memos(self.con, out, q, history)
        return memos_table(self.con, q, history)

    # who may sign in to a review server served beyond this machine
    def add_coder_key(self, coder: str) -> str:
        """A new sign-in key for ``coder`` (returned once; the store keeps only its hash)."""
        name = coder.strip()
        if not name or len(name) > 80 or name.lower() in MACHINE_CODERS:
            raise ValueError(f"{coder!r} cannot be a coder's name (1-80 characters, not one reserved for the machine)")
        return add_key(self.con, name)

    def revoke_coder_keys(self, coder: str) -> int:
        return revoke_keys(self.con, coder.strip())

    def coders_with_keys(self) -> list[str]:
        return key_coders(self.con)

    def speaker_warnings(self) -> list[str]:
        """Documents ingested with no speaker or only one, a line each."""
        return speaker_warnings(self.con)

    def review_status(self, coder: str | None = None, blind: bool = False) -> ReviewStatus:
        """Review progress as figures (documents, segments, suggestions per status, per coder and theme)."""
        return review_status(self.con, coder, blind=blind)

    def export_sheet(self, coder: str, out: str | Path, **kwargs: object) -> Path:
        """Write the coder's queue to a .xlsx/.csv sheet with a blank decision column."""
        return export_sheet(self.con, coder, out, **kwargs)[0]  # type: ignore[arg-type]

    def import_sheet(self, path: str | Path, coder: str) -> SheetReport:
        """Record a filled sheet's decisions for ``coder``; bad rows are reported, the rest count."""
        return import_sheet(self.con, path, coder)

    # summarize: site-level (or any grouping) summaries of the confirmed coding only
    def summarize(
        self,
        by: str = "site",
        coder: str | None = None,
        sites: str | Path | pd.DataFrame | None = None,
        out: str | Path | None = None,
        progress: bool = False,
        **kwargs: object,
    ) -> Summary:
        """Framework matrix, quotes and comparisons by ``by`` from confirmed codes; written to ``out`` if given.

        Keyword arguments as :func:`nlp_theming.summarize.summarize` (compare, quotes, keywords, model).
        """
        summary = summarize(self.con, by=by, coder=coder, sites=sites, progress=progress,  # type: ignore[arg-type]
                            **kwargs)
        # the folder's name only: summary.json and the XLSX travel, the machine's paths need not
        summary.meta["project"] = self.path.resolve().name
        if out is not None:
            summary.write(out, progress=progress)
        return summary

    def open_summary(self, out: str | Path) -> Summary:
        """Reopen a written summary; its ``freshness`` says whether new decisions have made it stale."""
        return Summary.load(out, self.con)

    def check_summary(self, out: str | Path) -> Freshness:
        """Whether the summary written in ``out`` is out of date with the decision log."""
        return check_summary(self.con, out)

    # agreement between coders (the machine included on request)
    def compare(
        self,
        coders: list[str] | None = None,
        machine: bool = False,
        reference: str | None = None,
        unit: str = "segment",
        out: str | Path | None = None,
        **kwargs: object,
    ) -> Comparison:
        """Agreement between coders on segments, sentences or characters; written to ``out`` if given.

        Keyword arguments as :func:`nlp_theming.agreement.coders.compare_coders` (n_boot, seed, threshold, run_id).
        """
        result = compare_coders(self.con, coders, machine, reference, unit, **kwargs)  # type: ignore[arg-type]
        result.settings["project"] = str(self.path.resolve())
        if out is not None:
            result.write(out)
        return result

    # coding made elsewhere, in and out
    def import_coding(self, path: str | Path, kind: str = "auto", coder: str | None = None) -> ImportResult:
        """Record existing human coding (span CSV, coded-units CSV, Taguette or REFI-QDA project,
        MAXQDA / ATLAS.ti / NVivo coded-segment table) as decisions of the coders who made it, or a
        .qdc as a codebook version; see
        :func:`nlp_theming.exchange.imports.import_coding`."""
        return import_coding(self.con, path, kind, coder)

    def coded_units(self, out: str | Path, coders: list[str] | None = None) -> pd.DataFrame:
        """Write the project's human coding as a coded-units CSV (the file ``evaluate`` reads)."""
        return write_project_units(self.con, out, coders)

    @staticmethod
    def taguette_units(path: str | Path, out: str | Path, spans_out: str | Path | None = None,
                       segmenter: Segmenter | None = None) -> TaguetteUnits:
        """A Taguette project as coded units for ``evaluate`` (no project needed)."""
        return taguette_units(path, out, spans_out, segmenter)


def sample_corpus() -> Path:
    """The bundled sample corpus (synthetic NHS interviews) of a source checkout."""
    here = Path(__file__).resolve().parent.parent / "corpora" / "nhs-medical-leadership"
    if not here.is_dir():
        raise FileNotFoundError(f"sample corpus not found at {here} (run from a source checkout)")
    return here


def run_demo(
    project: str | Path, out: str | Path | None = None, progress: bool = False
) -> tuple[IngestReport, RunSummary, Path]:
    """The whole pipeline on the sample corpus: ingest, codebook, suggest, export the suggestions
    (default ``PROJECT/suggestions.csv``). Returns the ingest report, the run and the file."""
    corpus = sample_corpus()
    with Project.init(project) as p:
        report = p.ingest([corpus / "transcripts"], corpus / "manifest.csv", progress=progress)
        p.load_codebook(corpus / "codebook.csv")
        summary = p.suggest(progress=progress)
        path = p.export(Path(out) if out else Path(project) / "suggestions.csv")
    return report, summary, path
