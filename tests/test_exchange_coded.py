"""CSV readers/writers for human coding: happy paths, round trips and one-line errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from nlp_theming.agreement import agreement_report as compare
from nlp_theming.exchange.coded import (
    CodedFileError,
    CodedUnitsWarning,
    coded_units_to_codings,
    read_coded_units_csv,
    read_span_csv,
    write_coded_units_csv,
    write_span_csv,
)


def _write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


# ---------------------------------------------------------------------------------------------
# Span coding
# ---------------------------------------------------------------------------------------------


def test_read_span_csv(tmp_path):
    path = _write(
        tmp_path,
        "spans.csv",
        'Document,Start,End,Code,Coder,Text\nint01,0,12,Workload, alice ,"Hello, world"\n\n'
        'int01,5,40,Support,bob,"two\nlines"\nint02,3.0,9,Workload,alice,\n',
        encoding="utf-8-sig",  # Excel's BOM must not end up in the first column name
    )
    df = read_span_csv(path)
    assert list(df.columns) == ["document", "start", "end", "code", "coder", "text"]
    assert df["start"].tolist() == [0, 5, 3] and df["end"].tolist() == [12, 40, 9]
    assert str(df["start"].dtype) == "int64"
    assert df["coder"].tolist() == ["alice", "bob", "alice"]  # stripped
    assert df["text"].tolist()[:2] == ["Hello, world", "two\nlines"]


def test_read_span_csv_without_text(tmp_path):
    df = read_span_csv(_write(tmp_path, "s.csv", "document,start,end,code,coder\nd,1,2,c,x\n"))
    assert list(df.columns) == ["document", "start", "end", "code", "coder"]


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("d,12,10,c,x", 2, "start 12 is not less than end 10"),
        ("d,5,5,c,x", 2, "start 5 is not less than end 5"),
        ("d,-1,10,c,x", 2, "start -1 is negative"),
        ("d,1.5,10,c,x", 2, "start '1.5' is not an integer"),
        ("d,1,ten,c,x", 2, "end 'ten' is not an integer"),
        ("d,,10,c,x", 2, "start is empty"),
        ("d,1,10,,x", 2, "empty code"),
        ("d,1,10,c,", 2, "empty coder"),
        (",1,10,c,x", 2, "empty document"),
        ("d,1,10,c,x\nd,1,10,c,x,extra", 3, "6 fields but the header has 5"),
    ],
)
def test_span_csv_errors_name_file_line_and_problem(tmp_path, body, line, problem):
    path = _write(tmp_path, "bad.csv", "document,start,end,code,coder\n" + body + "\n")
    with pytest.raises(CodedFileError) as info:
        read_span_csv(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.line == line and err.problem == problem
    assert str(err).startswith(f"{path}: line {line} (row {line - 1}): ")
    assert "\n" not in str(err)


def test_span_csv_line_numbers_survive_multiline_fields(tmp_path):
    path = _write(
        tmp_path,
        "bad.csv",
        'document,start,end,code,coder,text\nd,0,5,c,x,"a\nb\nc"\nd,9,3,c,x,ok\n',
    )
    with pytest.raises(CodedFileError, match=r"line 5 \(row 2\): start 9 is not less than end 3"):
        read_span_csv(path)


def test_span_csv_missing_columns(tmp_path):
    path = _write(tmp_path, "cols.csv", "document,begin,end,code\nd,1,2,c\n")
    with pytest.raises(CodedFileError, match=r"cols\.csv: line 1: missing column\(s\): start, coder") as info:
        read_span_csv(path)
    assert info.value.row is None
    with pytest.raises(CodedFileError, match="empty"):
        read_span_csv(_write(tmp_path, "empty.csv", ""))


def test_span_csv_round_trip(tmp_path):
    spans = pd.DataFrame(
        {
            "document": ["a", "b"],
            "start": [0, 7],
            "end": [4, 19],
            "code": ["X", "Y | Z? no, just a code"],
            "coder": ["p", "q"],
            "text": ['say "hi",\nthen', None],
        }
    )
    path = tmp_path / "out.csv"
    write_span_csv(spans, path)
    back = read_span_csv(path)
    assert back[["document", "start", "end", "code", "coder"]].equals(
        spans[["document", "start", "end", "code", "coder"]]
    )
    assert back["text"].tolist() == ['say "hi",\nthen', ""]
    with pytest.raises(ValueError, match="bad offsets"):
        write_span_csv(spans.assign(end=[0, 19]), path)
    with pytest.raises(ValueError, match="empty code"):
        write_span_csv(spans.assign(code=["X", None]), path)


# ---------------------------------------------------------------------------------------------
# Long-format coded units
# ---------------------------------------------------------------------------------------------

UNITS_CSV = (
    "unit_id,document,coder,text,codes,confidence\n"
    "u1,int01,alice,We never have time.,Workload | Time pressure,0.9\n"
    "u1,int01,bob,We never have time.,Workload,\n"
    "u2,int01,alice,Fine.,,\n"
    "u2,int01,bob,Fine.,Support|Workload|Support,\n"
)


def test_read_coded_units_csv(tmp_path):
    df = read_coded_units_csv(_write(tmp_path, "units.csv", UNITS_CSV))
    assert list(df.columns) == ["unit_id", "document", "coder", "text", "codes"]  # extra column ignored
    assert df["codes"].tolist() == [["Workload", "Time pressure"], ["Workload"], [], ["Support", "Workload"]]
    codings = coded_units_to_codings(df)
    assert codings.values.tolist() == [
        ["u1", "alice", "Workload", "int01"],
        ["u1", "alice", "Time pressure", "int01"],
        ["u1", "bob", "Workload", "int01"],
        ["u2", "alice", None, "int01"],
        ["u2", "bob", "Support", "int01"],
        ["u2", "bob", "Workload", "int01"],
    ]
    rep = compare(codings, n_boot=0)
    per = rep.per_code.set_index("code")
    assert per.loc["Workload", "percent_agreement"] == 0.5
    assert per.loc["Time pressure", "prevalence_alice"] == 0.5


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("u1,d,alice,t,a | | b", 2, "codes 'a | | b' contains an empty code"),
        ("u1,d,alice,t,a |", 2, "codes 'a |' contains an empty code"),
        (",d,alice,t,a", 2, "empty unit_id"),
        ("u1,d,,t,a", 2, "empty coder"),
        ("u1,,alice,t,a", 2, "empty document"),
    ],
)
def test_coded_units_errors(tmp_path, body, line, problem):
    path = _write(tmp_path, "units.csv", "unit_id,document,coder,text,codes\n" + body + "\n")
    with pytest.raises(CodedFileError) as info:
        read_coded_units_csv(path)
    assert info.value.line == line and info.value.problem == problem
    assert str(info.value).startswith(str(path))


def test_duplicate_rows_are_one_coding(tmp_path):
    body = (
        "unit_id,document,coder,text,codes\n"
        "u1,d,alice,t,a\nu1,d,alice,t,a\n"  # pasted twice: dropped silently
        "u2,d,alice,t,a\nu2,d,alice,t,b | a\n"  # conflicting: union, with a note
        "u3,d,alice,t,\nu3,d,alice,t,c\n"
        "u1,d,bob,t,a\n"
    )
    path = _write(tmp_path, "units.csv", body)
    notes: list[str] = []
    df = read_coded_units_csv(path, notes=notes)
    keys = [["u1", "alice"], ["u2", "alice"], ["u3", "alice"], ["u1", "bob"]]
    assert df[["unit_id", "coder"]].values.tolist() == keys
    assert df["codes"].tolist() == [["a"], ["a", "b"], ["c"], ["a"]]
    assert df.attrs["merged_units"] == 2
    assert len(notes) == 1 and "2 units had several rows for one coder; their codes were merged" in notes[0]
    assert "lines 4, 5" in notes[0]
    with pytest.warns(CodedUnitsWarning, match="2 units had several rows"):
        read_coded_units_csv(path)
    exact = _write(tmp_path, "exact.csv", "unit_id,document,coder,text,codes\nu1,d,a,t,x\nu1,d,a,t,x\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_coded_units_csv(exact)["codes"].tolist() == [["x"]]


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_coded_units_encodings_and_header_variants(tmp_path, encoding):
    body = (
        " Unit_ID ;Document; CODER ;Text; codes \r\n"
        "u1;Café interview;Zoë;Il a dit « non » – deux fois;Coût|Santé \r\n"
        ";;;;\r\n"  # a spreadsheet's row of empty cells
        "u2;Café interview;Zoë;ok;\r\n"
    )
    path = tmp_path / "units.csv"
    path.write_bytes(body.encode(encoding))
    df = read_coded_units_csv(path)
    assert df["document"].tolist() == ["Café interview"] * 2 and df["coder"].tolist() == ["Zoë"] * 2
    assert df["text"].tolist() == ["Il a dit « non » – deux fois", "ok"]
    assert df["codes"].tolist() == [["Coût", "Santé"], []]


def test_coded_units_header_aliases(tmp_path):
    path = _write(tmp_path, "units.csv", "Unit ID,Doc,Annotator,Content,Code,codes_count\nu1,d,ann,t,a | b,2\n")
    df = read_coded_units_csv(path)
    assert df.iloc[0].tolist() == ["u1", "d", "ann", "t", ["a", "b"]]


def test_coded_units_missing_columns(tmp_path):
    path = _write(tmp_path, "units.csv", "unit_id,document,coder,codes\nu1,d,a,x\n")
    with pytest.raises(CodedFileError, match=r"line 1: missing column\(s\): text"):
        read_coded_units_csv(path)


def test_coded_units_round_trip_and_unit_keys(tmp_path):
    df = read_coded_units_csv(_write(tmp_path, "units.csv", UNITS_CSV))
    out = tmp_path / "again.csv"
    write_coded_units_csv(df, out)
    assert "Workload | Time pressure" in out.read_text(encoding="utf-8")
    pd.testing.assert_frame_equal(read_coded_units_csv(out), df)
    with pytest.raises(ValueError, match="contains '\\|'"):
        write_coded_units_csv(df.assign(codes=[["a|b"], [], [], []]), out)
    # Ids numbered per document: the unit label must include the document.
    per_doc = pd.concat([df, df.assign(document="int02")], ignore_index=True)
    codings = coded_units_to_codings(per_doc)
    assert set(codings["unit"]) == {"int01/u1", "int01/u2", "int02/u1", "int02/u2"}
    assert set(coded_units_to_codings(df, unit_key="document")["unit"]) == {"int01/u1", "int01/u2"}
    with pytest.raises(ValueError, match="repeat across documents"):
        coded_units_to_codings(per_doc, unit_key="unit_id")


def test_document_and_coder_columns_may_default(tmp_path: Path) -> None:
    path = tmp_path / "one_coder.csv"
    path.write_text("unit_id,text,codes\n1,Money is tight,Cost\n2,Nice lunch,\n", encoding="utf-8")
    with pytest.raises(CodedFileError, match="missing column"):
        read_coded_units_csv(path)
    notes: list[str] = []
    frame = read_coded_units_csv(path, notes=notes, defaults={"document": "all", "coder": "me"})
    assert list(frame.document) == ["all", "all"] and list(frame.coder) == ["me", "me"]
    assert list(frame.codes) == [["Cost"], []]
    assert len(notes) == 2 and "no document column" in notes[0]
    # a column present under another name is not replaced by the default
    path.write_text("unit_id,annotator,text,codes\n1,ana,Money is tight,Cost\n", encoding="utf-8")
    frame = read_coded_units_csv(path, notes=[], defaults={"document": "all", "coder": "me"})
    assert list(frame.coder) == ["ana"]
