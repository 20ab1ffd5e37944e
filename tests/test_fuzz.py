"""Hostile and broken input, fuzzed: every reader and importer ends in a result or one clean line.

Hypothesis mutates a seed file of each format (tests/helpers/fuzzing.py: truncation, bit flips,
inserted bytes, huge lines and numbers, deep nesting, wrong encodings, control characters in
names, zip member bombs and duplicates, DOCTYPEs, damaged SQLite pages, NULLs and BLOBs in
Taguette tables) and runs it through its target here, in-process: a few examples each, a few
seconds in all. ``scripts/fuzz.py`` runs thousands under time and memory limits; the slow test
at the end runs it for a minute. The inputs that once failed are the regression tests below,
built in the test (SYNTHETIC) from the same seeds.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp_theming import Project
from nlp_theming.exchange.coded import read_span_csv
from nlp_theming.exchange.qda_tables import read_qda_table
from nlp_theming.exchange.refi_import import read_qdpx
from nlp_theming.exchange.refi_qda import check_qdpx
from nlp_theming.exchange.taguette import TaguetteError, read_taguette
from nlp_theming.ingest import read_transcript
from nlp_theming.review.sheet import read_sheet
from nlp_theming.segment import Segmenter
from nlp_theming.store.codebooks import latest_version
from nlp_theming.textio import InputError, clean_name, terminal_safe
from tests.helpers.fuzzing import HOSTILE_NAME, ROOT, UNSAFE, mutate, run_target

READERS = ["transcript", "manifest", "codebook", "spans", "units", "qda-table", "taguette", "qdpx", "check-qdpx",
           "qdc", "sheet"]
IMPORTERS = ["ingest", "import-spans", "import-units", "import-qda", "import-taguette", "import-qdpx", "import-qdc",
             "import-sheet", "taguette-units"]


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The fuzzing seeds (with a real suggest run, for the review sheets) and the base project."""
    from tests.helpers.fuzzing import build_seeds

    found, base = build_seeds(tmp_path_factory.mktemp("fuzz-seeds"))
    by_target: dict[str, list[Path]] = {}
    for seed in found:
        for target in seed.targets:
            by_target.setdefault(target, []).append(seed.path)
    return {"targets": by_target, "base": base, "work": tmp_path_factory.mktemp("fuzz-work")}


def _fuzz(seeds: dict, target: str, choice: int, rng_seed: int) -> None:
    paths = seeds["targets"][target]
    seed = paths[choice % len(paths)]
    data, how = mutate(seed.read_bytes(), seed, random.Random(rng_seed))
    path = seeds["work"] / f"input{seed.suffix}"
    path.write_bytes(data)
    outcome, detail = run_target(target, path, seeds["base"], seeds["work"])
    assert outcome in ("clean", "ok"), f"{target} on {seed.name} mutated by {', '.join(how)}: {outcome}\n{detail}"


FUZZ = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.mark.parametrize("target", READERS)
@FUZZ
@given(choice=st.integers(0, 50), rng_seed=st.integers(0, 2**32))
def test_every_reader_gives_a_result_or_one_clean_line(seeds: dict, target: str, choice: int, rng_seed: int) -> None:
    _fuzz(seeds, target, choice, rng_seed)


@pytest.mark.parametrize("target", IMPORTERS)
@settings(FUZZ, max_examples=3)
@given(choice=st.integers(0, 50), rng_seed=st.integers(0, 2**32))
def test_every_importer_imports_or_refuses_whole(seeds: dict, target: str, choice: int, rng_seed: int) -> None:
    """Refused: one clean line and the project as it was; imported: no control character in a stored name."""
    _fuzz(seeds, target, choice, rng_seed)


def test_the_outcomes_can_be_told_apart(seeds: dict, tmp_path: Path) -> None:
    """The harness itself: a clean refusal, a success and a traceback are each recognised."""
    ok = seeds["targets"]["transcript"][0]
    assert run_target("transcript", ok, None, tmp_path)[0] == "ok"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert run_target("transcript", empty, None, tmp_path) == ("clean", "file is empty")
    assert run_target("transcript", tmp_path / "missing.txt", None, tmp_path)[0] == "clean"
    assert run_target("no-such-target", ok, None, tmp_path)[0] == "traceback"


# ---------------------------------------------------------------------------- what the fuzzer found


def _taguette(seeds: dict, tmp_path: Path, *sql: str) -> Path:
    path = tmp_path / "edited.sqlite3"
    path.write_bytes(seeds["targets"]["taguette"][0].read_bytes())
    con = sqlite3.connect(path)
    for statement in sql:
        con.execute(statement)
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize(("sql", "expect"), [
    ("ALTER TABLE documents DROP COLUMN contents", "documents cannot be read"),
    ("ALTER TABLE highlights DROP COLUMN end_offset", "highlights cannot be read"),
    ("UPDATE documents SET contents = X'ff00fe41c328' WHERE id = 10",
     "document 10 ('interview-10.docx'): its contents"),
    ("DROP TABLE highlight_tags", "missing table"),
])
def test_taguette_files_that_cannot_be_read_are_one_line(seeds: dict, tmp_path: Path, sql: str, expect: str) -> None:
    with pytest.raises(TaguetteError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        read_taguette(_taguette(seeds, tmp_path, sql))


def test_taguette_rows_that_cannot_be_used_are_problems(seeds: dict, tmp_path: Path) -> None:
    path = _taguette(
        seeds, tmp_path,
        "UPDATE highlights SET start_offset = NULL WHERE id = 1",
        "UPDATE highlights SET end_offset = 'abc' WHERE id = 2",
        "UPDATE tags SET path = NULL WHERE id = 2",
        "UPDATE documents SET name = X'00ff' WHERE id = 11",
        f"UPDATE commands SET user_login = '{HOSTILE_NAME}' WHERE id = 1",
        "UPDATE commands SET payload = '{\"type\": \"highlight_add\", \"highlight_id\": 1e999}' WHERE id = 3",
        "UPDATE commands SET payload = '" + "[" * 50_000 + "' WHERE id = 4",
    )
    project = read_taguette(path)
    assert any("highlight 1" in p and "not whole numbers" in p for p in project.problems)
    assert any("highlight 2" in p for p in project.problems)
    assert list(project.documents.name) == ["interview-10.docx", "document 11"]  # a name that is not text
    assert set(project.highlights.highlight_id) == {4}  # 3 lost its only tag; 1 and 2 their offsets
    assert not any(UNSAFE.search(c) for c in project.highlights.coder)


def test_a_damaged_taguette_database_is_one_line(seeds: dict, tmp_path: Path) -> None:
    raw = seeds["targets"]["taguette"][0].read_bytes()
    page = int.from_bytes(raw[16:18], "big")
    for cut, data in (("cut", raw[: page * 2]), ("overwritten", raw[:page] + b"\xff" * page + raw[2 * page:])):
        path = tmp_path / f"{cut}.sqlite3"
        path.write_bytes(data)
        with pytest.raises(TaguetteError):
            read_taguette(path)


def test_taguette_import_is_all_or_nothing(seeds: dict, tmp_path: Path) -> None:
    """One document that cannot be read: named, and the project stays as it was (defect 8)."""
    path = _taguette(seeds, tmp_path, "UPDATE documents SET contents = '   ' WHERE id = 11")
    with Project.init(tmp_path / "project") as p:
        with pytest.raises(TaguetteError, match=r"document 11 \('interview-11.docx'\): file is empty; nothing"):
            p.import_coding(path, "taguette")
        assert p.documents().empty and latest_version(p.con) is None
    twice = _taguette(seeds, tmp_path, "UPDATE documents SET name = 'same.docx'")
    with Project.init(tmp_path / "again") as p:
        with pytest.raises(TaguetteError, match="both named 'same'"):
            p.import_coding(twice, "taguette")
        assert p.documents().empty


def test_names_from_an_import_are_stored_clean(seeds: dict, tmp_path: Path) -> None:
    """Coder, document and code names with ESC, BEL and U+202E lose them on the way in (defect 9)."""
    path = _taguette(seeds, tmp_path, f"UPDATE commands SET user_login = '{HOSTILE_NAME}'",
                     f"UPDATE documents SET name = '{HOSTILE_NAME}.docx' WHERE id = 10",
                     f"UPDATE tags SET path = '{HOSTILE_NAME} tag' WHERE id = 1")
    with Project.init(tmp_path / "project") as p:
        p.import_coding(path, "taguette")
        from tests.helpers.fuzzing import stored_names

        names = stored_names(p.con)
    assert clean_name(HOSTILE_NAME) in names and f"{clean_name(HOSTILE_NAME)} tag" in names
    assert not [n for n in names if UNSAFE.search(n)]


def _evil_vtt(path: Path) -> Path:
    path.write_text(f"WEBVTT\n\nNOTE SYNTHETIC\n\n1\n00:00:01.000 --> 00:00:02.000\n<v Interviewer>How are you?</v>\n\n"
                    f"2\n00:00:02.000 --> 00:00:04.000\n<v {HOSTILE_NAME}>Fine, thanks.</v>\n", encoding="utf-8")
    return path


def test_speaker_labels_lose_control_characters(tmp_path: Path) -> None:
    speakers = [t.speaker for t in read_transcript(_evil_vtt(tmp_path / "evil.vtt")).turns]
    assert speakers == ["Interviewer", clean_name(HOSTILE_NAME)]


def test_terminal_output_carries_no_escape(project: Path) -> None:
    """summarize, status and ingest print names from files: never ESC, BEL or U+202E, even when a
    project made before names were cleaned holds them."""
    from nlp_theming import store
    from nlp_theming.store.decisions import Decision, record
    from nlp_theming.store.documents import segment_spans

    con = store.open_project(project)
    seg = segment_spans(con, "window:3:80").iloc[0]
    record(con, Decision(coder=HOSTILE_NAME, action="import", segment_id=int(seg.segment_id),
                         document_id=int(seg.document_id), code="Time and workload", start=int(seg.start),
                         end=int(seg.end)))
    con.commit()
    con.close()
    evil = _evil_vtt(project.parent / "evil.vtt")
    for args in (["summarize", str(project), "--format", "md"], ["status", str(project)],
                 ["ingest", str(project), str(evil), "--quiet"]):
        done = subprocess.run([sys.executable, "-m", "nlp_theming.cli", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr
        shown = done.stdout + done.stderr
        assert "Evil" in shown, args  # the name is shown...
        assert not UNSAFE.search(shown.replace("\n", "").replace("\t", "")), args  # ...without its escapes


def test_terminal_safe_and_clean_name() -> None:
    assert terminal_safe("a\x1b[2Jb\x07\u202ec\nd\te") == "a\\x1b[2Jb\\x07\\u202ec\nd\te"
    assert clean_name(" Dr\x1b[31m\tA\u202e\nB ") == "Dr[31m A B"
    assert clean_name("Dr Shah") == "Dr Shah"  # a clean name comes back as it was


def test_damaged_workbooks_are_one_line(seeds: dict, tmp_path: Path) -> None:
    table = next(p for p in seeds["targets"]["qda-table"] if p.suffix == ".xlsx")
    sheet = next(p for p in seeds["targets"]["sheet"] if p.suffix == ".xlsx")
    for source, reader in ((table, read_qda_table), (sheet, read_sheet)):
        with zipfile.ZipFile(source) as z:
            items = [(i.filename, z.read(i)) for i in z.infolist()]
        broken = tmp_path / f"broken-{source.name}"
        bomb = tmp_path / f"bomb-{source.name}"
        with zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as z:
            for name, body in items:
                z.writestr(name, body.replace(b"<row", b"<row <", 1) if "worksheets/" in name else body)
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            for name, body in items:
                z.writestr(name, body)
            z.writestr("xl/bomb.xml", b" " * (8 << 20))
        with pytest.raises(InputError, match="damaged"):
            reader(broken)
        with pytest.raises(InputError, match="zip bomb"):
            reader(bomb)


def test_a_sheet_row_of_a_million_cells_is_one_line(seeds: dict, tmp_path: Path) -> None:
    """A huge line of commas once made a frame of a million columns (minutes); now it is refused by row."""
    sheet = next(p for p in seeds["targets"]["sheet"] if p.suffix == ".csv")
    lines = sheet.read_text(encoding="utf-8-sig").splitlines()
    path = tmp_path / "wide.csv"
    path.write_text("\n".join([lines[0], lines[1] + "a," * 1_000_000, *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2 has 10000\d\d cells but the header has \d+"):
        read_sheet(path)


def test_offsets_of_thousands_of_digits_are_one_line(seeds: dict, tmp_path: Path) -> None:
    lines = seeds["targets"]["spans"][0].read_text(encoding="utf-8").splitlines()
    head, first = lines[0], lines[1].split(",")
    for number, expect in (("9" * 25, "too large"), ("9" * 5000, "not an integer"), ("1e400", "not an integer")):
        first[2] = number
        path = tmp_path / "spans.csv"
        path.write_text(head + "\n" + ",".join(first) + "\n", encoding="utf-8")
        with pytest.raises(InputError, match=expect) as caught:
            read_span_csv(path)
        assert len(str(caught.value)) < 300  # the number is not echoed in full


def test_qda_positions_of_thousands_of_digits_are_no_position(tmp_path: Path) -> None:
    """A paragraph range of 100,000 digits: past Python's int conversion limit, a ValueError once."""
    source = ROOT / "tests" / "fixtures" / "qda" / "nvivo_coded_content.csv"
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    path = tmp_path / "nvivo.csv"
    huge = "\t" + "9" * 100_000 + " - "  # the Paragraphs column: "5 - 6"
    path.write_text("\n".join([lines[0], *(re.sub(r"\t\d+ - ", huge, line) for line in lines[1:])]), encoding="utf-8")
    table = read_qda_table(path)
    assert table.passages or table.problems


def test_check_qdpx_reports_damage_rather_than_raising(seeds: dict, tmp_path: Path) -> None:
    source = seeds["targets"]["qdpx"][0]
    raw = source.read_bytes()
    cut = tmp_path / "cut.qdpx"
    cut.write_bytes(raw[: len(raw) // 2])
    assert check_qdpx(cut) and "not a valid .qdpx" in check_qdpx(cut)[0]
    with zipfile.ZipFile(source) as z:
        items = [(i.filename, z.read(i)) for i in z.infolist()]
    odd = tmp_path / "odd.qdpx"
    with zipfile.ZipFile(odd, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in items:
            odd_body = body.replace(b'startPosition="', b'startPosition="x', 1)
            z.writestr(name, odd_body if name == "project.qde" else body)
    assert any("outside the text" in p for p in check_qdpx(odd))


def test_malformed_qdc_is_one_line(seeds: dict, tmp_path: Path) -> None:
    """libxml2's message ends in a line break: the error was two lines once."""
    from nlp_theming.exchange.refi_import import read_qdc_file

    path = tmp_path / "nul.qdc"
    path.write_bytes(seeds["targets"]["qdc"][0].read_bytes().replace(b"<Code ", b"\x00<Code ", 1))
    with pytest.raises(InputError, match="not well-formed XML") as caught:
        read_qdc_file(path)
    assert "\n" not in str(caught.value)


def test_kept_fuzz_findings_are_one_line() -> None:
    """The inputs kept under tests/fixtures/fuzz (README there says what each did)."""
    kept = ROOT / "tests" / "fixtures" / "fuzz"
    assert check_qdpx(kept / "zip-version-17.qdpx") == [f"{kept / 'zip-version-17.qdpx'}: not a valid .qdpx file"
                                                         " (it is not a zip archive, or the archive is damaged)"]
    with pytest.raises(InputError, match=r"not a zip archive, as a \.qdpx must be"):
        read_qdpx(kept / "zip-version-15.qdpx")


def test_broken_odt_and_damaged_members_are_one_line(fixture_files: dict, tmp_path: Path) -> None:
    with zipfile.ZipFile(fixture_files["typed.odt"]) as z:
        items = [(i.filename, z.read(i)) for i in z.infolist()]
    bodyless = tmp_path / "bodyless.odt"
    with zipfile.ZipFile(bodyless, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in items:
            z.writestr(name, body.replace(b"office:body", b"office:bodx") if name == "content.xml" else body)
    with pytest.raises(InputError, match="odt"):
        read_transcript(bodyless)
    raw = bytearray(fixture_files["typed.docx"].read_bytes())
    raw[raw.index(b"word/document.xml") + 40] ^= 0xFF  # inside the member's deflate stream
    damaged = tmp_path / "damaged.docx"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(InputError):
        read_transcript(damaged)


def test_a_run_of_brackets_segments_in_linear_time(tmp_path: Path) -> None:
    """spaCy peels a bracket at a time off a token: 20,000 of them took minutes; now one token."""
    path = tmp_path / "brackets.txt"
    path.write_text("SYNTHETIC\n\nInterviewer: Hi?\n\nDr A: " + "[" * 20_000 + " and then we spoke.\n",
                    encoding="utf-8")
    transcript = read_transcript(path)
    segments = Segmenter().segment(transcript)
    assert segments and segments[-1].end == len(transcript.text.rstrip())


def test_json_of_deep_nesting_and_huge_numbers(fixture_files: dict, tmp_path: Path) -> None:
    whisper = tmp_path / "deep.json"
    whisper.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(InputError):
        read_transcript(whisper)
    data = json.loads(fixture_files["whisperx.json"].read_text(encoding="utf-8"))
    data["segments"][0]["words"][0]["score"] = 10**300  # a score of 300 digits: an OverflowError once
    path = tmp_path / "score.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_transcript(path).turns  # the word's score is left out, the rest read
    data["segments"][1]["start"] = 10**300
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match="segment 1: start and end must be finite"):
        read_transcript(path)


# ---------------------------------------------------------------------------- the long run


@pytest.mark.slow
def test_a_minute_of_fuzzing_finds_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz.py"), "--minutes", "1", "--seed", "7", "--no-run",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )
    figures = json.loads((tmp_path / "out" / "figures.json").read_text(encoding="utf-8"))
    assert figures["inputs"] > 50, done.stdout
    bad = {k: figures[k] for k in ("traceback", "partial", "unclean", "timeout", "memory") if figures[k]}
    assert not bad and done.returncode == 0, done.stdout[-3000:]
