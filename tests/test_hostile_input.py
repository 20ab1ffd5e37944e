"""Hostile and broken input: refused fast, with one line naming the file and the problem.

Every file here is built in the test (synthetic), from the real fixture files of each format.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from nlp_theming import Project, read_transcript
from nlp_theming.ingest import IngestError
from nlp_theming.textio import Limits, open_archive


def _rezip(source: Path, out: Path, extra: dict[str, bytes] | None = None,
           replace: dict[str, bytes] | None = None, duplicate: str | None = None) -> Path:
    """A copy of a .docx/.odt with members added or replaced (or one written twice)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = (replace or {}).get(item.filename, src.read(item.filename))
            dst.writestr(item.filename, data)
            if item.filename == duplicate:
                with pytest.warns(UserWarning):  # zipfile warns about the duplicate name
                    dst.writestr(item.filename, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return out


@pytest.mark.parametrize("fmt", ["docx", "odt"])
def test_zip_bomb_member_is_refused_before_any_parser_sees_it(
    tmp_path: Path, fixture_files: dict[str, Path], fmt: str
) -> None:
    bomb = _rezip(fixture_files[f"typed.{fmt}"], tmp_path / f"bomb.{fmt}", extra={"bomb.xml": b" " * (8 << 20)})
    assert bomb.stat().st_size < 100_000  # 8 MB of XML in a few KB
    with pytest.raises(IngestError, match="zip bomb"):
        read_transcript(bomb)


def test_archive_limits_are_checked_on_declared_sizes(fixture_files: dict[str, Path]) -> None:
    raw = fixture_files["typed.docx"].read_bytes()
    open_archive(raw, ".docx")  # the real file passes
    with pytest.raises(IngestError, match="unpacks to"):
        open_archive(raw, ".docx", Limits(unzipped_bytes=1000))
    with pytest.raises(IngestError, match="members"):
        open_archive(raw, ".docx", Limits(zip_members=2))


def test_doctype_and_entities_are_refused(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    source = fixture_files["typed.docx"]
    with zipfile.ZipFile(source) as z:
        body = z.read("word/document.xml")
    laughs = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
              + body.split(b"?>", 1)[1])
    evil = _rezip(source, tmp_path / "laughs.docx", replace={"word/document.xml": laughs})
    with pytest.raises(IngestError, match="DOCTYPE"):
        read_transcript(evil)


def test_duplicate_and_climbing_members_are_refused(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    twice = _rezip(fixture_files["typed.odt"], tmp_path / "twice.odt", duplicate="content.xml")
    with pytest.raises(IngestError, match="twice"):
        read_transcript(twice)
    climb = _rezip(fixture_files["typed.docx"], tmp_path / "climb.docx", extra={"../../evil.txt": b"x"})
    with pytest.raises(IngestError, match="outside the archive"):
        read_transcript(climb)
    truncated = fixture_files["typed.docx"].read_bytes()[:300]
    with pytest.raises(IngestError, match=r"not a valid \.docx"):
        open_archive(truncated, ".docx")


def test_a_batch_with_hostile_files_goes_on(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    _rezip(fixture_files["typed.docx"], folder / "bomb.docx", extra={"bomb.xml": b"\0" * (4 << 20)})
    (folder / "good.txt").write_bytes(fixture_files["typed.txt"].read_bytes())
    with Project.init(tmp_path / "proj") as p:
        report = p.ingest([folder])
        assert list(p.documents().document) == ["good"]
    assert len(report.failed) == 1 and "bomb.docx" in report.failed[0][0] and "zip bomb" in report.failed[0][1]


def test_a_doctype_after_a_long_comment_is_still_found(tmp_path: Path, fixture_files: dict[str, Path]) -> None:
    source = fixture_files["typed.odt"]
    with zipfile.ZipFile(source) as z:
        body = z.read("content.xml")
    declaration, rest = body.split(b"?>", 1)
    hidden = (declaration + b"?>\n<!-- " + b"padding " * 2000 + b"-->\n"
              + b'<!DOCTYPE x [<!ENTITY lol "lol">]>\n' + rest)
    evil = _rezip(source, tmp_path / "late.odt", replace={"content.xml": hidden})
    with pytest.raises(IngestError, match="DOCTYPE"):
        read_transcript(evil)


def test_many_members_are_checked_in_linear_time(fixture_files: dict[str, Path]) -> None:
    """Duplicate names are found with a set, not by counting each name (20,000 members)."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for i in range(20_000):
            z.writestr(f"m{i}.bin", b"")
        with pytest.warns(UserWarning):
            z.writestr("m0.bin", b"")
    with pytest.raises(IngestError, match="twice"):
        open_archive(buffer.getvalue(), ".docx")


def test_limits_from_the_environment_ignore_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("nan", "inf", "-5", "0", "lots"):
        monkeypatch.setenv("NLP_THEMING_MAX_FILE_MB", value)
        assert Limits.from_env().file_bytes == Limits().file_bytes
    monkeypatch.setenv("NLP_THEMING_MAX_FILE_MB", "2")
    assert Limits.from_env().file_bytes == 2 * 1024 * 1024


def test_cues_a_little_out_of_order_are_kept_and_a_clock_running_back_is_refused(tmp_path: Path) -> None:
    jitter = tmp_path / "jitter.srt"
    jitter.write_text("1\n00:00:05,000 --> 00:00:06,000\nA: one\n\n2\n00:00:04,900 --> 00:00:07,000\nB: two\n")
    assert len(read_transcript(jitter).cues) == 2
    back = tmp_path / "back.srt"
    back.write_text("1\n00:00:05,000 --> 00:00:06,000\nA: one\n\n2\n00:00:01,000 --> 00:00:02,000\nB: two\n")
    with pytest.raises(IngestError, match=r"subtitle 2 \(line 6\): starts at 1 s"):
        read_transcript(back)


def test_a_workbook_bomb_is_refused_by_the_table_importers(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from nlp_theming.exchange.qda_tables import read_qda_table
    from nlp_theming.review.sheet import read_sheet

    book = Workbook()
    book.active.append(["Document name", "Code", "Beginning", "End", "Segment"])
    book.active.append(["Interview 1", "Rota", "1", "1", "a" * 1000])
    plain = tmp_path / "plain.xlsx"
    book.save(plain)
    with zipfile.ZipFile(plain) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    # the cell grown to 4 MB in the file itself (spreadsheet programs stop at 32,767 characters)
    bomb = _rezip(plain, tmp_path / "Coded_Segments.xlsx",
                  replace={"xl/worksheets/sheet1.xml": sheet.replace(b"a" * 1000, b"a" * (4 << 20))})
    assert bomb.stat().st_size < 200_000
    with pytest.raises(IngestError, match="zip bomb"):
        read_qda_table(bomb)
    with pytest.raises(ValueError, match="zip bomb"):
        read_sheet(bomb)
