"""The SYNTHETIC nhs-medical-leadership sample corpus: rendered files are current, everything
ingests through the project's own readers, gold spans point at their text, the two codebook files
agree, and the benchmark generator's output ingests too. No embedding model is loaded."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from nlp_theming.codebook import load_codebook
from nlp_theming.ingest import ingest_paths, read_transcript
from nlp_theming.store import init_project, open_project

# The scripts run in this process (no interpreter start-up, imports shared with the tests).
from scripts import build_corpus, make_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "nhs-medical-leadership"
SCRIPTS = ROOT / "scripts"
FORMATS = {"txt": ".txt", "docx": ".docx", "vtt": ".vtt", "srt": ".srt", "whisper_json": ".json"}
ASR_TEXT = re.compile(r"^[a-z0-9' .]+$")  # lower case, no punctuation but apostrophes (and decimal points)



def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _ingest(folder: Path, manifest: Path, project: Path):
    init_project(project)
    con = open_project(project)
    try:
        report = ingest_paths(con, [folder], manifest)
        counts = con.execute(
            "SELECT d.name, SUM(t.is_interviewer) AS interviewer, COUNT(*) AS turns"
            " FROM documents d JOIN turns t ON t.document_id = d.id GROUP BY d.id"
        ).fetchall()
        return report, [dict(r) for r in counts]
    finally:
        con.close()


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    return _rows(CORPUS / "manifest.csv")


@pytest.fixture(scope="module")
def transcripts(manifest: list[dict[str, str]]) -> dict[str, object]:
    return {Path(r["file"]).stem: read_transcript(CORPUS / r["file"]) for r in manifest}


def test_rendered_files_are_up_to_date() -> None:
    out = io.StringIO()
    assert build_corpus.build(CORPUS, check=True, out=out) == 0, out.getvalue()


def test_manifest_names_every_transcript(manifest: list[dict[str, str]]) -> None:
    named = [r["file"] for r in manifest]
    assert len(named) == len(set(named))
    on_disk = {f"transcripts/{p.name}" for p in (CORPUS / "transcripts").iterdir() if p.is_file()}
    assert set(named) == on_disk
    assert {Path(f).stem for f in named} == {p.stem for p in (CORPUS / "source").glob("*.yaml")}
    for row in manifest:
        assert row["synthetic"] == "yes"
        assert Path(row["file"]).suffix == FORMATS[row["format"]]
        assert row["interviewer"] == ("SPEAKER_00" if row["format"] == "whisper_json" else row["interviewer"])
        assert row["interviewer"] and row["site"] and row["participant"] and row["role"] and row["level"]


def test_corpus_ingests_with_zero_errors(tmp_path: Path, manifest: list[dict[str, str]]) -> None:
    report, counts = _ingest(CORPUS / "transcripts", CORPUS / "manifest.csv", tmp_path / "project")
    assert report.failed == []
    assert len(report.added) == len(manifest)
    # the manifest's interviewer column finds the interviewer in every format, diarised ones included
    assert all(0 < c["interviewer"] < c["turns"] for c in counts), counts


def test_speech_recognition_formats_are_damaged(manifest: list[dict[str, str]], transcripts: dict) -> None:
    for row in manifest:
        if row["format"] in ("vtt", "srt", "whisper_json"):
            t = transcripts[Path(row["file"]).stem]
            for turn in t.turns:
                assert ASR_TEXT.match(t.turn_text(turn)), (row["file"], t.turn_text(turn)[:80])


def test_gold_spans_point_at_their_text(manifest: list[dict[str, str]], transcripts: dict) -> None:
    gold = _rows(CORPUS / "gold_spans.csv")
    assert gold
    codes = {c.code for c in load_codebook(CORPUS / "codebook.csv").leaves}
    interviewer = {Path(r["file"]).stem: r["interviewer"] for r in manifest}
    for row in gold:
        assert row["code"] in codes, row
        t = transcripts[row["document"]]
        start, end = int(row["start"]), int(row["end"])
        assert 0 <= start < end <= len(t.text)
        assert t.text[start:end] == row["text"], row
        turn = next((tr for tr in t.turns if tr.start <= start and end <= tr.end), None)
        assert turn is not None and turn.speaker not in (None, interviewer[row["document"]]), row
    assert {r["document"] for r in gold if r["coder"] == "coder1"} == set(transcripts)


def test_codebook_files_load_and_agree() -> None:
    flat = load_codebook(CORPUS / "codebook.csv")
    nested = load_codebook(CORPUS / "codebook.yaml")
    assert [asdict(c) for c in flat.codes] == [asdict(c) for c in nested.codes]
    assert len(flat) == 33 and len(flat.leaves) == 30
    assert [c.code for c in flat.codes if c.parent is None] == ["Structure", "Process", "Outcomes"]
    lines = (CORPUS / "THEMES.txt").read_text(encoding="utf-8").splitlines()
    themes = [line.strip() for line in lines if line.startswith(" ")]
    assert [c.code for c in flat.leaves] == themes
    for code in flat.leaves:
        assert code.description and code.inclusion and code.exclusion, code.code
        assert 2 <= len(code.examples) <= 3, code.code


def test_sites_table(manifest: list[dict[str, str]]) -> None:
    sites = _rows(CORPUS / "sites.csv")
    assert [s["site"] for s in sites] == list("ABCDEFGHI")
    assert {s["site"] for s in sites if s["trust_type"] == "mental health"} == {"G", "H", "I"}
    # Table 2 of the paper: 105 unit-level interviewees in all
    interviewees = [f"interviewees_{k}" for k in ("doctors", "managers", "nurses", "psychologists")]
    assert sum(int(s[k]) for s in sites for k in interviewees) == 105
    assert {r["site"] for r in manifest} <= {s["site"] for s in sites}


def test_sites_describe_themselves_as_in_the_paper() -> None:
    sites = {s["site"]: s for s in _rows(CORPUS / "sites.csv")}
    models = {k: s["leadership_model"] for k, s in sites.items()}
    assert models == {
        **dict.fromkeys("ABDEF", "medically-led"),
        "C": "managerially-led",
        "G": "clinically-led",
        **dict.fromkeys("HI", "aligned"),
    }
    assert {k for k, s in sites.items() if s["doctor_leadership_programme"] == "yes"} == set("ABCEI")


def test_interviews_have_the_promised_shape(manifest: list[dict[str, str]], transcripts: dict) -> None:
    # 1,200-3,000 words each, at least four per site, board and unit interviews at every site
    for name, transcript in transcripts.items():
        words = len(transcript.text.split())
        assert 1200 <= words <= 3000, (name, words)
    by_site: dict[str, set[str]] = {}
    for row in manifest:
        by_site.setdefault(row["site"], set()).add(row["level"])
    assert set(by_site) == set("ABCDEFGHI")
    assert all(levels == {"board", "unit"} for levels in by_site.values()), by_site
    assert all(sum(r["site"] == s for r in manifest) >= 4 for s in by_site)


@pytest.mark.slow  # 150 files rendered and ingested (~4 s)
def test_make_corpus_writes_files_that_ingest(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert make_corpus.main(["150", "--out", str(out), "--seed", "1"]) == 0
    files = sorted(p for p in out.iterdir() if p.name != "manifest.csv")
    assert len(files) == 150
    rows = _rows(out / "manifest.csv")
    assert sorted(r["file"] for r in rows) == [p.name for p in files]
    assert all(r["synthetic"] == "yes" and "SYNTHETIC" in r["note"] for r in rows)
    assert {r["format"] for r in rows} == set(FORMATS) and {r["site"] for r in rows} == set("ABCDEFGHI")
    report, counts = _ingest(out, out / "manifest.csv", tmp_path / "project")
    assert report.failed == []
    assert len(report.added) == 150
    assert all(0 < c["interviewer"] < c["turns"] for c in counts)


def test_make_corpus_refuses_sizes_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_corpus.make_corpus(10, tmp_path / "small")
    with pytest.raises(ValueError):
        make_corpus.make_corpus(2001, tmp_path / "large")
    assert not (tmp_path / "small").exists() and not (tmp_path / "large").exists()
