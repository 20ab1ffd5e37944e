"""REFI-QDA import (.qdpx, .qdc) and the .qdc export.

The round trip starts from the real project of ``test_refi_qda`` (SYNTHETIC transcripts, a
codebook with meta-themes, definitions, criteria and examples, three human coders' accept, add,
change, adjust and import decisions): exported, imported into a fresh project, it must give back
the same codebook, texts, attributes, offsets and coding, and the same agreement figures.
Every other .qdpx and .qdc here is written by the test itself (SYNTHETIC), hostile ones included.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from lxml import etree

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.codebook import Code, load_stored_codebook
from nlp_theming.exchange.refi_codebook import QDC_NAMESPACE, code_description, split_description
from nlp_theming.exchange.refi_import import RefiImportError, read_qdpx
from nlp_theming.exchange.refi_qda import NAMESPACE, check_qdpx, validate_qde
from nlp_theming.review import coding
from nlp_theming.store.documents import current_attributes
from nlp_theming.textio import LIMITS, OffsetMap, clean_text
from tests.helpers.paths import SHARED
from tests.test_refi_qda import _build

REFI = SHARED / "refi-qda"
XSD = REFI / "Project-mrt2019.xsd"
needs_xsd = pytest.mark.skipif(not XSD.exists(), reason="REFI-QDA schema (shared/refi-qda) not available")
NS = {"q": NAMESPACE}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The source project and its .qdpx export."""
    folder = tmp_path_factory.mktemp("refi-import")
    project, _ = _build(folder)
    out = folder / "study.qdpx"
    with Project(project) as p:
        assert p.export_qdpx(out).warnings == []
    return project, out


@pytest.fixture(scope="module")
def imported(study: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fresh") / "fresh"
    with Project.init(target) as p:
        result = p.import_coding(study[1])
    assert result.kind == "qdpx" and result.problems == [] and result.warnings == []
    assert result.decisions > 0
    return target


def _state(project: Path) -> dict:
    """What a round trip must keep: codebook, texts, attributes, coding per coder (by document name)."""
    with Project(project) as p:
        _, book = load_stored_codebook(p.con)
        names = {int(k): v for k, v in p.con.execute("SELECT id, name FROM current_documents").fetchall()}
        attrs = current_attributes(p.con)
        current = coding(p.con)
        return {
            "codes": sorted((c.code, c.parent, c.description, c.inclusion, c.exclusion, tuple(c.examples))
                            for c in book.codes),
            "attrs": sorted((names[int(r.document_id)], r.key, r.value) for r in attrs.itertuples(index=False)),
            "coding": sorted({(r.coder, names[int(r.document_id)], int(r.start), int(r.end), r.code)
                              for r in current.itertuples(index=False)}),
        }


def _texts(project: Path) -> dict[str, str]:
    with Project(project) as p:
        return dict(p.con.execute("SELECT name, text FROM current_documents").fetchall())


def _fingerprint(project: Path) -> tuple:
    """Everything an import could change: codebook versions, document versions, attributes, decisions."""
    with Project(project) as p:
        con = p.con
        return (
            con.execute("SELECT COUNT(*) FROM codebooks").fetchone()[0],
            tuple(map(tuple, con.execute("SELECT name, version FROM documents ORDER BY name, version").fetchall())),
            tuple(map(tuple, con.execute("SELECT * FROM document_attributes ORDER BY 1, 2").fetchall())),
            con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0],
            con.execute("SELECT COUNT(*) FROM segments").fetchone()[0],
        )


# ---------------------------------------------------------------------------- round trip


def test_round_trip_gives_back_the_same_project(study: tuple[Path, Path], imported: Path) -> None:
    before, after = _state(study[0]), _state(imported)
    assert after["codes"] == before["codes"]  # hierarchy, definitions, criteria, examples
    assert _texts(imported) == _texts(study[0])
    assert after["attrs"] == before["attrs"]  # site, participant, role, age; cases added nothing
    assert after["coding"] == before["coding"]  # same coders, documents, offsets, codes
    assert {c for c, *_ in after["coding"]} == {"ana", "bo", "Zoë"}


def test_round_trip_compares_identical(study: tuple[Path, Path], imported: Path) -> None:
    results = []
    for project in (study[0], imported):
        with Project(project) as p:
            # every coder: Zoë coded only a document nobody else did, so she is left out, named
            result = p.compare(n_boot=50, seed=0)
        left_out = [line for line in result.summary_lines() if line.startswith("left out")]
        assert left_out and "Zoë" in left_out[0]
        results.append(result)
    a, b = results
    assert json.dumps(a.report.to_dict(), sort_keys=True, default=str) == json.dumps(
        b.report.to_dict(), sort_keys=True, default=str)
    pd.testing.assert_frame_equal(a.disagreements.reset_index(drop=True), b.disagreements.reset_index(drop=True))
    assert len(a.disagreements) > 0  # the coders do disagree: the comparison has something to compare


@needs_xsd
def test_re_export_of_the_imported_project_is_valid_and_the_same(study: tuple[Path, Path], imported: Path,
                                                                  tmp_path: Path) -> None:
    from tests.test_refi_qda import Qdpx

    with Project(imported) as p:
        out = p.export_qdpx(tmp_path / "again.qdpx").path
    assert check_qdpx(out, XSD) == [] and validate_qde(Qdpx(out).qde, XSD) == []
    assert Qdpx(out).codings() == Qdpx(study[1]).codings()


def test_a_second_import_adds_no_document_or_codebook_version(study: tuple[Path, Path], tmp_path: Path) -> None:
    target = tmp_path / "twice"
    with Project.init(target) as p:
        first = p.import_coding(study[1])
        versions = p.con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        logged = len(p.con.execute("SELECT id FROM decisions").fetchall())
        again = p.import_coding(study[1])
        assert p.con.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == versions
        # and no coding twice: the log holds what the first import recorded, no more
        assert first.decisions == logged > 0
        assert again.decisions == 0 and again.already == first.decisions
        assert len(p.con.execute("SELECT id FROM decisions").fetchall()) == logged
        assert p.con.execute("SELECT COUNT(*) FROM codebooks").fetchone()[0] == 1
    assert "codebook unchanged, still version 1" in again.notes[0]
    assert "0 added, 0 updated (new version), 5 unchanged" in again.notes[1]


def test_import_into_the_project_it_came_from_keeps_its_documents(study: tuple[Path, Path], tmp_path: Path) -> None:
    """Documents ingested from files (other bytes, same text) are the same documents: no new version."""
    copy = shutil.copytree(study[0], tmp_path / "copy")
    before = _fingerprint(copy)
    with Project(copy) as p:
        result = p.import_coding(study[1])
    after = _fingerprint(copy)
    assert after[:3] == before[:3]  # codebook versions, document versions and attributes as they were
    assert "5 unchanged" in result.notes[1]


def test_cli_round_trip_and_compare(study: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "cli"
    assert runner.invoke(main, ["init", str(target)]).exit_code == 0
    result = runner.invoke(main, ["import", str(target), str(study[1])])
    assert result.exit_code == 0, result.output
    assert "users: Zoë, ana, bo; codebook stored as version 1" in result.output
    assert re.search(r"imported \d+ spans as \d+ decisions; 0 problems", result.output)
    metrics = []
    for project in (study[0], target):
        out = tmp_path / f"agreement-{project.name}"
        done = runner.invoke(main, ["compare", str(project), "--n-boot", "20", "--out", str(out)])
        assert done.exit_code == 0, done.output
        figures = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        figures["settings"].pop("project")
        metrics.append(figures)
        assert (out / "disagreements.csv").read_text(encoding="utf-8")
    assert metrics[0] == metrics[1]
    assert (tmp_path / "agreement-study" / "disagreements.csv").read_bytes() == (
        tmp_path / "agreement-cli" / "disagreements.csv").read_bytes()


# ---------------------------------------------------------------------------- .qdc


def _codebook_schema() -> etree.XMLSchema:
    """The REFI-QDA codebook schema, derived here from the shared project schema.

    REFI-QDA 1.5, 5.2 defines Codebook.xsd as the project schema's CodeBook, Codes and Code types
    in the ``urn:QDA-XML:codebook:1.0`` namespace, with ``CodeBook`` as the root element and an
    optional ``origin`` attribute; that is what is built from Project-mrt2019.xsd.
    """
    text = XSD.read_text(encoding="utf-8").replace(NAMESPACE, QDC_NAMESPACE)
    tree = etree.fromstring(text.encode("utf-8"))
    xs = "http://www.w3.org/2001/XMLSchema"
    root_el = etree.Element(f"{{{xs}}}element", name="CodeBook", type="CodeBookType")
    tree.insert(0, root_el)
    book_type = tree.find(f"{{{xs}}}complexType[@name='CodeBookType']")
    etree.SubElement(book_type, f"{{{xs}}}attribute", name="origin", type="xsd:string")
    return etree.XMLSchema(tree)


@needs_xsd
def test_qdc_export_validates_and_imports_as_the_same_codebook(study: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "book.qdc"
    result = runner.invoke(main, ["export", str(study[0]), "--out", str(out)])  # the format from the extension
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "9 codes" in result.output
    schema = _codebook_schema()
    doc = etree.parse(str(out))
    assert schema.validate(doc), schema.error_log
    assert doc.getroot().tag == f"{{{QDC_NAMESPACE}}}CodeBook"
    # the same GUIDs as the project's .qdpx, one codebook in one place
    qdpx_guids = set(etree.fromstring(zipfile.ZipFile(study[1]).read("project.qde")).xpath(
        "//q:Code/@guid", namespaces=NS))
    assert set(doc.xpath("//c:Code/@guid", namespaces={"c": QDC_NAMESPACE})) == qdpx_guids
    bad = etree.fromstring(out.read_bytes())
    bad.find(f"{{{QDC_NAMESPACE}}}Codes/{{{QDC_NAMESPACE}}}Code").set("isCodable", "maybe")
    assert not schema.validate(bad)  # the derived schema does check

    other = tmp_path / "explicit.qdc"
    assert runner.invoke(main, ["export", str(study[0]), "--format", "qdc", "--out", str(other)]).exit_code == 0
    assert other.read_bytes() == out.read_bytes()

    fresh = tmp_path / "fresh"
    assert runner.invoke(main, ["init", str(fresh)]).exit_code == 0
    result = runner.invoke(main, ["import", str(fresh), str(out)])
    assert result.exit_code == 0, result.output
    assert "codebook stored as version 1: 9 codes" in result.output
    assert _state(fresh)["codes"] == _state(study[0])["codes"]
    result = runner.invoke(main, ["codebook", str(fresh), str(out)])  # where a codebook is loaded, too
    assert result.exit_code == 0 and "unchanged, still version 1" in result.output, result.output


def test_foreign_qdc_descriptions_sets_and_names(tmp_path: Path) -> None:
    """A codebook as another tool writes it (the spec's example shape): braces in GUIDs, plain
    descriptions, a code folder, a set, a repeated name."""
    path = tmp_path / "foreign.qdc"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- SYNTHETIC test codebook -->\n'
        f'<CodeBook xmlns="{QDC_NAMESPACE}" origin="SomeTool 1.0"><Codes>'
        '<Code guid="{5215CC69-B628-4E02-AFB9-9BEEAEE55808}" name="Topics" isCodable="false">'
        '<Code guid="d7aa29da-519b-4946-9b90-253b6db8fd0a" name="Economy" isCodable="true" color="#ffff00">'
        "<Description>Anything about jobs or taxes.\n\nOr business.</Description></Code>"
        '<Code guid="0dcef2f5-e55c-49da-8c33-9b0803c7aeb4" name="Health" isCodable="true"/></Code>'
        '<Code guid="1dcef2f5-e55c-49da-8c33-9b0803c7aeb4" name="Health" isCodable="true"/>'
        '</Codes><Sets><Set guid="2dcef2f5-e55c-49da-8c33-9b0803c7aeb4" name="S">'
        '<MemberCode guid="0dcef2f5-e55c-49da-8c33-9b0803c7aeb4"/></Set></Sets></CodeBook>',
        encoding="utf-8",
    )
    with Project.init(tmp_path / "p") as p:
        result = p.import_coding(path)
        _, book = load_stored_codebook(p.con)
    assert [(c.code, c.parent) for c in book.codes] == [
        ("Topics", None), ("Economy", "Topics"), ("Health", "Topics"), ("Health (2)", None)]
    assert book["Economy"].description == "Anything about jobs or taxes.\n\nOr business."
    assert book["Economy"].inclusion == "" and book["Economy"].examples == []
    warnings = "\n".join(result.warnings)
    assert "'Health' is used more than once" in warnings and "'Health (2)'" in warnings
    assert "1 code sets are not carried" in warnings


def test_descriptions_pack_and_split_back() -> None:
    code = Code("x", None, "First paragraph.\n\nSecond paragraph.", "Use it\n\nacross lines.", "Never this.",
                ["one", "two: with a colon"])
    assert split_description(code_description(code)) == {
        "description": code.description, "inclusion": code.inclusion, "exclusion": code.exclusion,
        "examples": code.examples}
    only = Code("y", None, "", "", "Not here.", [])
    assert split_description(code_description(only))["exclusion"] == "Not here."
    # a label inside a paragraph is text, not a label
    assert split_description("See the memo. Use when: later.")["description"] == "See the memo. Use when: later."


# ---------------------------------------------------------------------------- shared samples


@pytest.mark.skipif(not REFI.exists(), reason="shared/refi-qda not available")
def test_the_shared_atlas_samples_import(tmp_path: Path) -> None:
    with Project.init(tmp_path / "blank") as p:
        blank = p.import_coding(REFI / "blank-atlas-project.qdpx")
        assert p.con.execute("SELECT COUNT(*) FROM codebooks").fetchone()[0] == 0
    assert blank.warnings == [] and blank.problems == [] and blank.decisions == 0
    assert blank.notes[0] == "users: ATLAS.ti, Enric Llagostera; no codebook in the file"
    with Project.init(tmp_path / "target") as p:
        target = p.import_coding(REFI / "target-atlas-project.qdpx")
        version, book = load_stored_codebook(p.con)
    assert version == 1 and target.problems == []
    assert [(c.code, c.parent) for c in book.codes] == [
        ("Commits", None), ("2022-05-10T02:05:59Z 19e4dce", "Commits"), ("2022-02-11T10:39:25Z cdbfd92", "Commits")]
    assert book.name == "target-atlas-project"


# ---------------------------------------------------------------------------- foreign projects


def _qdpx(path: Path, qde: str | bytes, files: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", qde.encode("utf-8") if isinstance(qde, str) else qde)
        for name, data in (files or {}).items():
            zf.writestr(name, data)
    return path


G = "{:08x}-0000-4000-8000-000000000000".format  # readable GUIDs: G(1), G(2), ...
HEAD = f'<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="{NAMESPACE}" name="SYNTHETIC test project">'
USERS = f'<Users><User guid="{G(1)}" name="Kim"/><User guid="{G(2)}"/><User guid="{G(3)}" name="machine"/></Users>'
BOOK = (f'<CodeBook><Codes><Code guid="{G(10)}" name="Care" isCodable="true">'
        f'<Code guid="{G(11)}" name="Waiting" isCodable="true"><Code guid="{G(12)}" name="Queues" isCodable="true"/>'
        f'</Code></Code><Code guid="{G(13)}" name="Money" isCodable="true"/></Codes></CodeBook>')
# SYNTHETIC source text: a byte-order mark, CRLF line ends and a decomposed "é" (e + U+0301)
RAW = "Interviewer: How was it?\r\nKim: The cafe\u0301 queue was long.\r\nKim: We paid twice.\r\n"
PASSAGES = {"queue": "cafe\u0301 queue was long", "paid": "We paid twice.", "it": "How was it?"}


def _coding(guid: int, user: int, code: int) -> str:
    return f'<Coding guid="{G(guid)}" creatingUser="{G(user)}"><CodeRef targetGUID="{G(code)}"/></Coding>'


def _selection(guid: int, start: int, end: int, codings: str, user: int = 1, extra: str = "") -> str:
    return (f'<PlainTextSelection guid="{G(guid)}" startPosition="{start}" endPosition="{end}"'
            f' creatingUser="{G(user)}">{extra}{codings}</PlainTextSelection>')


def _foreign(tmp_path: Path) -> Path:
    text = RAW
    a, b = text.index(PASSAGES["queue"]), text.index(PASSAGES["queue"]) + len(PASSAGES["queue"])
    c, d = text.index(PASSAGES["paid"]), text.index(PASSAGES["paid"]) + len(PASSAGES["paid"])
    e, f = text.index(PASSAGES["it"]), text.index(PASSAGES["it"]) + len(PASSAGES["it"])
    qde = (
        HEAD + USERS + BOOK
        + f'<Variables><Variable guid="{G(20)}" name="age" typeOfVariable="Integer"/>'
        f'<Variable guid="{G(21)}" name="ward" typeOfVariable="Text"/></Variables>'
        f'<Cases><Case guid="{G(30)}" name="Kim"><VariableValue><VariableRef targetGUID="{G(21)}"/>'
        f'<TextValue>B2</TextValue></VariableValue><SourceRef targetGUID="{G(40)}"/></Case></Cases>'
        f'<Sources><TextSource guid="{G(40)}" name="kim.txt" plainTextPath="internal://{G(41)}.txt">'
        + _selection(50, a, b, _coding(51, 1, 12) + _coding(52, 2, 13), extra="<Description>a memo</Description>")
        + _selection(53, c, d, _coding(54, 1, 13) + _coding(55, 3, 13) + _coding(56, 1, 99))
        + _selection(57, e, f, _coding(58, 1, 11))
        + _selection(59, 10, 9999, _coding(60, 1, 13))
        + _selection(61, 0, 5, f'<Coding guid="{G(62)}" creatingUser="{G(77)}"><CodeRef targetGUID="{G(13)}"/>'
                     "</Coding>")
        + _coding(63, 1, 13)
        + f'<VariableValue><VariableRef targetGUID="{G(20)}"/><IntegerValue>41</IntegerValue></VariableValue>'
        + "</TextSource>"
        f'<TextSource guid="{G(42)}" name="inline"><PlainTextContent>Kim: inline text here.</PlainTextContent>'
        + _selection(64, 5, 11, _coding(65, 1, 13)) + "</TextSource>"
        f'<PDFSource guid="{G(43)}" name="scan.pdf" path="internal://{G(44)}.pdf">'
        f'<PDFSelection guid="{G(45)}" page="1" firstX="0" firstY="0" secondX="1" secondY="1">'
        + _coding(46, 1, 13) + "</PDFSelection></PDFSource>"
        f'<AudioSource guid="{G(47)}" name="talk.m4a" path="relative://talk.m4a"/>'
        "</Sources>"
        f'<Notes><TextSource guid="{G(70)}" name="memo"><PlainTextContent>note</PlainTextContent></TextSource></Notes>'
        "</Project>"
    )
    return _qdpx(tmp_path / "foreign.qdpx", qde, {f"sources/{G(41)}.txt": "\ufeff".encode() + RAW.encode("utf-8"),
                                                   f"sources/{G(44)}.pdf": b"%PDF-1.4 SYNTHETIC"})


def test_a_foreign_project_imports_what_it_can_and_warns_of_the_rest(tmp_path: Path) -> None:
    path = _foreign(tmp_path)
    with Project.init(tmp_path / "p") as p:
        result = p.import_coding(path)
        _, book = load_stored_codebook(p.con)
        texts = _texts_of(p)
        attrs = {(r.key, r.value) for r in current_attributes(p.con).itertuples(index=False)}
        current = coding(p.con)
        docs = dict(p.con.execute("SELECT id, name FROM current_documents").fetchall())
    assert result.problems == []
    # the codebook, three levels kept
    assert [(c.code, c.parent) for c in book.codes] == [
        ("Care", None), ("Waiting", "Care"), ("Queues", "Waiting"), ("Money", None)]
    # the text as the store keeps it: no BOM, LF line ends, NFC
    kim = texts["kim.txt"]
    assert kim == unicodedata.normalize("NFC", RAW.replace("\r\n", "\n"))
    assert texts["inline"] == "Kim: inline text here."
    assert set(texts) == {"kim.txt", "inline"}
    # attributes: the source's variables, the case's variables, the case's name
    assert {("age", "41"), ("ward", "B2"), ("case", "Kim")} <= attrs
    # codings: positions mapped through CRLF, the BOM and NFC onto the stored text
    got = {(r.coder, docs[int(r.document_id)], texts[docs[int(r.document_id)]][int(r.start):int(r.end)], r.code)
           for r in current.itertuples(index=False)}
    queue = unicodedata.normalize("NFC", PASSAGES["queue"])
    assert got == {
        ("Kim", "kim.txt", queue, "Queues"),
        (G(2), "kim.txt", queue, "Money"),  # a user with no name is known by the GUID
        ("Kim", "kim.txt", "We paid twice.", "Money"),
        ("Kim", "kim.txt", "How was it?", "Waiting"),  # on a code with sub-codes: recorded, and said
        ("Kim", "inline", "inline", "Money"),
    }
    warnings = "\n".join(result.warnings)
    for expected in (
        "nested deeper than two levels ('Queues')",
        "PDFSource 'scan.pdf': not a text source, skipped (1 selections, 1 codings not carried)",
        "AudioSource 'talk.m4a'",
        f"selection {G(59)}: 10-9999 lies outside the text",
        f"1 codings by a user not in the file ({G(77)}): not carried",
        "1 codings by 'machine', a name reserved for the machine: not carried",
        "1 codings of a code not in the file's codebook: not carried",
        "1 codings of a whole source (only passages are carried): not carried",
            "1 descriptions of selections: not carried",
            "1 notes with no inline text or on nothing carried: not carried",
        "codings of codes that have sub-codes ('Waiting')",
    ):
        assert expected in warnings, expected
    assert "sources skipped" in result.notes[1] and "2 sources skipped" in result.notes[1]


def _texts_of(p: Project) -> dict[str, str]:
    return dict(p.con.execute("SELECT name, text FROM current_documents").fetchall())


def test_positions_with_crlf_and_bom_land_on_the_same_words() -> None:
    """The offset map: a passage of the raw text is the same passage of the stored text."""
    raw = "\ufeffAna: one\r\ntwo\rthree\r\n\r\nZoe\u0308 said cafe\u0301\ufeff ok \U0001F600 end\r\n"
    offsets = OffsetMap(raw)
    clean = clean_text(raw)
    assert offsets.text == clean and offsets(0) == 0 and offsets(len(raw)) == len(clean)
    def norm(text: str) -> str:  # what cleaning does to a passage on its own
        return unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")

    # every passage that starts and ends between whole characters (not inside a CRLF pair, not
    # before a combining mark) is, after the map, the same words in the stored text
    cuts = [i for i in range(len(raw) + 1)
            if not (0 < i < len(raw) and raw[i - 1] == "\r" and raw[i] == "\n")
            and not (i < len(raw) and unicodedata.combining(raw[i]))]
    assert len(cuts) < len(raw) + 1
    for a in cuts:
        for b in cuts:
            if a <= b:
                assert clean[offsets(a):offsets(b)] == norm(raw[a:b]), (a, b, raw[a:b])
    positions = [offsets(i) for i in range(len(raw) + 1)]
    assert positions == sorted(positions)
    plain = "no change here"
    assert [OffsetMap(plain)(i) for i in range(len(plain) + 1)] == list(range(len(plain) + 1))


# ---------------------------------------------------------------------------- hostile and broken files


def _valid_qde(extra_source: str = "", path: str = f"internal://{G(41)}.txt") -> str:
    return (HEAD + USERS + BOOK + f'<Sources><TextSource guid="{G(40)}" name="kim.txt" plainTextPath="{path}">'
            + _selection(50, 5, 10, _coding(51, 1, 13)) + "</TextSource>" + extra_source + "</Sources></Project>")


def _hostile(tmp_path: Path, case: str) -> Path:
    """One SYNTHETIC broken or hostile .qdpx per case."""
    good = {f"sources/{G(41)}.txt": b"Kim: hello there."}
    path = tmp_path / f"{case}.qdpx"
    if case == "not-a-zip":
        path.write_bytes(b"<Project>just XML, not a zip</Project>")
    elif case == "truncated":
        whole = io.BytesIO()
        with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("project.qde", _valid_qde())
            zf.writestr(*next(iter(good.items())))
        path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    elif case == "corrupt-member":
        _qdpx(path, _valid_qde(), {f"sources/{G(41)}.txt": b"Kim: hello there. " * 200})
        data = bytearray(path.read_bytes())
        at = data.index(f"sources/{G(41)}.txt".encode()) + 60  # inside the member's compressed data
        data[at:at + 8] = b"\xff" * 8
        path.write_bytes(bytes(data))
    elif case == "zip-bomb":
        _qdpx(path, _valid_qde(), {f"sources/{G(41)}.txt": b"\x00" * (int(LIMITS.zip_ratio) * 20_000)})
    elif case == "billion-laughs":
        lol = ('<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY lol "lol">'
               + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
                         for i in range(9))
               + f']><Project xmlns="{NAMESPACE}" name="&lol8;"/>')
        _qdpx(path, lol)
    elif case == "external-entity":
        _qdpx(path, f'<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    f'<Project xmlns="{NAMESPACE}" name="&x;"/>')
    elif case == "climbing-path":
        _qdpx(path, _valid_qde(path="internal://../../etc/passwd"), good)
    elif case == "absolute-path":
        _qdpx(path, _valid_qde(path="/etc/passwd"), good)
    elif case == "missing-member":
        _qdpx(path, _valid_qde(path=f"internal://{G(99)}.txt"), good)
    elif case == "not-utf8":
        _qdpx(path, _valid_qde(), {f"sources/{G(41)}.txt": "Kim: caf\u00e9 \u00e0 la cr\u00e8me".encode("cp1252")})
    elif case == "duplicate-guid":
        _qdpx(path, _valid_qde().replace('name="Money" isCodable="true"/>',
                                         f'name="Money" isCodable="true"/><Code guid="{G(13)}" name="Again"'
                                         ' isCodable="true"/>'), good)
    elif case == "reversed-selection":
        _qdpx(path, _valid_qde(extra_source="").replace('startPosition="5" endPosition="10"',
                                                        'startPosition="5" endPosition="2"'), good)
    elif case == "not-a-project":
        _qdpx(path, f'<?xml version="1.0"?><CodeBook xmlns="{QDC_NAMESPACE}"/>')
    else:
        raise AssertionError(case)
    return path


HOSTILE = {
    "not-a-zip": "not a zip archive",
    "truncated": "not a zip archive",
    "corrupt-member": "cannot be read: damaged",
    "zip-bomb": "zip bomb",
    "billion-laughs": "DOCTYPE",
    "external-entity": "DOCTYPE",
    "climbing-path": "climbs out of the archive",
    "absolute-path": "is not inside the archive",
    "missing-member": "names no file in the archive",
    "not-utf8": "plain text is not UTF-8",
    "duplicate-guid": f"GUID {G(13)} names both a Code and a Code",
    "reversed-selection": "startPosition 5 is after endPosition 2",
    "not-a-project": "not Project",
}


@pytest.fixture(scope="module")
def occupied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a codebook, a document and decisions: what a refused import must leave alone."""
    folder = tmp_path_factory.mktemp("occupied")
    good = _qdpx(folder / "good.qdpx", _valid_qde(), {f"sources/{G(41)}.txt": b"Kim: hello there."})
    with Project.init(folder / "p") as p:
        result = p.import_coding(good)
        assert result.decisions == 1 and result.problems == []
    return folder / "p"


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_and_broken_files_are_refused_and_change_nothing(case: str, occupied: Path, tmp_path: Path) -> None:
    path = _hostile(tmp_path, case)
    before = _fingerprint(occupied)
    with Project(occupied) as p, pytest.raises(RefiImportError) as caught:
        p.import_coding(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and HOSTILE[case] in message, message
    assert "\n" not in message
    assert _fingerprint(occupied) == before


def test_the_cli_refuses_a_hostile_file_in_one_line(occupied: Path, tmp_path: Path) -> None:
    path = _hostile(tmp_path, "climbing-path")
    result = CliRunner().invoke(main, ["import", str(occupied), str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}") and "climbs out" in lines[0]


def test_reading_alone_stores_nothing_and_keeps_one_coder(tmp_path: Path) -> None:
    content = read_qdpx(_foreign(tmp_path), coder="Kim")
    assert set(content.spans.coder) == {"Kim"}
    assert [s.name for s in content.sources] == ["kim.txt", "inline"]


def test_a_fresh_project_takes_the_exported_projects_coding_units(tmp_path: Path) -> None:
    """A project cut into sentences, exported and imported into a fresh project: the same units,
    so `compare` gives the same figures per segment (typed transcripts: their units depend on the
    text alone, while a timed transcript's also depend on cue times, which REFI-QDA does not carry)."""
    from nlp_theming.segment import Segmenter
    from tests.helpers.paths import CORPUS

    typed = [f for f in sorted((CORPUS / "transcripts").iterdir()) if f.suffix in (".txt", ".docx", ".odt")][:8]
    source = tmp_path / "source"
    with Project.init(source) as p:
        assert not p.ingest(typed, CORPUS / "manifest.csv", Segmenter(unit="sentence")).failed
        p.load_codebook(CORPUS / "codebook.csv")
        names = set(p.documents().document)
        gold = pd.read_csv(CORPUS / "gold_spans.csv")
        spans = tmp_path / "spans.csv"
        gold[gold.document.isin(names)].to_csv(spans, index=False)
        assert p.import_coding(spans).decisions > 0
        p.export_qdpx(tmp_path / "study.qdpx")
    fresh = tmp_path / "fresh"
    with Project.init(fresh) as p:
        result = p.import_coding(tmp_path / "study.qdpx")
        assert p.segmenter().scheme == Segmenter(unit="sentence").scheme
    assert any("coding units sentence" in n for n in result.notes)
    figures = []
    for project in (source, fresh):
        with Project(project) as p:
            figures.append(p.compare(n_boot=0, seed=0))
    a, b = figures
    assert json.dumps(a.report.to_dict(), sort_keys=True, default=str) == json.dumps(
        b.report.to_dict(), sort_keys=True, default=str)
    pd.testing.assert_frame_equal(a.disagreements.reset_index(drop=True), b.disagreements.reset_index(drop=True))


# ---------------------------------------------------------------------------- found in review


def test_positions_in_long_decomposed_text_map_exactly() -> None:
    """Japanese written decomposed (as some Macs save it) has no ASCII for whole paragraphs; every
    position must still land on the same characters after NFC (no proportional guessing)."""
    para = "がぎぐげごだぢづでどばびぶべぼ" * 40  # SYNTHETIC
    raw = unicodedata.normalize("NFD", "はじめに、" + para + "おわり。\r\n한국어 텍스트")
    mapping, clean = OffsetMap(raw), clean_text(raw)
    for word in ("おわり", "ぶべぼがぎ", "한국어"):
        target = unicodedata.normalize("NFD", word)
        for a in (raw.index(target), raw.rindex(target)):
            b = a + len(target)
            assert clean[mapping(a):mapping(b)] == unicodedata.normalize("NFC", raw[a:b]), word


def test_inline_text_keeps_the_line_ends_its_positions_count(tmp_path: Path) -> None:
    """An XML parser turns CRLF inside PlainTextContent into LF; the exporter counted the CRs."""
    raw = "Kim: one.\r\nAna: two.\r\nKim: three four.\r\n"
    a = raw.index("three four")
    qde = (HEAD + USERS + BOOK + f'<Sources><TextSource guid="{G(40)}" name="inline">'
           f"<PlainTextContent>{raw}</PlainTextContent>" + _selection(50, a, a + 10, _coding(51, 1, 13))
           + "</TextSource></Sources></Project>")
    content = read_qdpx(_qdpx(tmp_path / "inline.qdpx", qde.encode("utf-8")))
    span = content.spans.iloc[0]
    assert content.sources[0].text[span.start:span.end] == "three four"


def test_a_source_that_cannot_be_stored_is_skipped_before_anything_is_stored(tmp_path: Path) -> None:
    files = {f"sources/{G(41)}.txt": b"Kim: hello there.", f"sources/{G(43)}.txt": b"[00:75:00] Kim: bad clock."}
    bad = (f'<TextSource guid="{G(42)}" name="clock.txt" plainTextPath="internal://{G(43)}.txt"/>')
    path = _qdpx(tmp_path / "clock.qdpx", _valid_qde(extra_source=bad), files)
    with Project.init(tmp_path / "proj") as p:
        result = p.import_coding(path)
        assert list(p.documents().document) == ["kim.txt"]
    assert any("clock.txt" in w and "bad timestamp" in w and "skipped" in w for w in result.warnings)
