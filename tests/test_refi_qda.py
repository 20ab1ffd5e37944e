"""REFI-QDA export (.qdpx): the confirmed human coding, valid against the standard's schema.

A small real project (the review fixtures' SYNTHETIC transcripts plus one with non-ASCII text,
an emoji and markup characters), real decisions through the review actions and a span import,
and a suggestion run recorded in the store (no embedding model: suggestions are rows, and the
export must leave the undecided ones out whatever produced them).
"""

from __future__ import annotations

import csv
import io
import shutil
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from lxml import etree

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.codebook import load_stored_codebook
from nlp_theming.exchange.refi_qda import NAMESPACE, check_qdpx, validate_qde
from nlp_theming.review import accept, add, adjust, change, coding, import_spans, reject, undo
from nlp_theming.segment import Segmenter
from tests.helpers.paths import SHARED

REFI = SHARED / "refi-qda"
XSD = REFI / "Project-mrt2019.xsd"
needs_xsd = pytest.mark.skipif(not XSD.exists(), reason="REFI-QDA schema (shared/refi-qda) not available")
NS = {"q": NAMESPACE}

RISK = "Risk & <safety> 🚑"
EXTRA_NAME = "malmö-nurse"
EXTRA_TEXT = (
    "SYNTHETIC interview for tests — naïve café notes 😀\n\n"
    "Interviewer: Any worries about safety?\n\n"
    "Zoë Ek: Yes 😀 risk & <safety> matter more than targets. In Malmö we say “säkerhet först”. "
    "Patients < staff? Never & always.\n"
)
ADJUSTED = "risk & <safety> matter more than targets."


def _write_inputs(folder: Path) -> tuple[Path, Path, Path, Path]:
    from tests.helpers.review import CODEBOOK, write_sources

    transcripts, manifest, _ = write_sources(folder)
    extra = folder / "extra"
    extra.mkdir()
    (extra / f"{EXTRA_NAME}.txt").write_text(EXTRA_TEXT, encoding="utf-8")
    extra_manifest = extra / "manifest.csv"
    extra_manifest.write_text(f"file,site,participant,role,age\n{EXTRA_NAME}.txt,Malmö,P05,nurse,41\n", "utf-8")
    codebook = folder / "codebook.csv"
    with codebook.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["code", "group", "description", "inclusion", "exclusion", "examples"])
        w.writerows(CODEBOOK)
        w.writerow([RISK, "Organisational culture", 'Safety & "risk" when <targets> press.', "", "", ""])
    return transcripts, manifest, extra_manifest, codebook


def _segment(segs: pd.DataFrame, document: str, n: int) -> tuple[int, int, int]:
    """The n-th participant segment of a document: (segment_id, start, end)."""
    rows = segs[(segs.document == document) & (segs.speaker_role == "participant")].sort_values("start")
    row = rows.iloc[n]
    return int(row.segment_id), int(row.start), int(row.end)


def _build(folder: Path) -> tuple[Path, dict]:
    transcripts, manifest, extra_manifest, codebook = _write_inputs(folder / "inputs")
    path = folder / "study"
    facts: dict = {}
    with Project.init(path) as p:
        assert not p.ingest([transcripts], manifest).failed
        assert not p.ingest([], extra_manifest).failed
        p.load_codebook(codebook)
        con, segs = p.con, p.segments()
        first = _segment(segs, "north-consultant", 0)
        second = _segment(segs, "north-consultant", 1)
        third = _segment(segs, "north-consultant", 2)
        nurse = _segment(segs, "north-nurse", 0)
        nurse2 = _segment(segs, "north-nurse", 1)
        risk = _segment(segs, EXTRA_NAME, 0)

        # A suggestion run as the store keeps it: one suggestion accepted, one never decided on.
        cur = con.execute(
            "INSERT INTO runs(started_at, finished_at, status, model_id, codebook_version, matcher, scheme, params,"
            " config_hash, seed) VALUES ('2024-01-01T00:00:00+00:00', '2024-01-01T00:00:01+00:00', 'complete',"
            " 'test-model', 1, 'zero-shot', ?, '{}', 'h', 0)",
            (Segmenter().scheme,),
        )
        run_id = int(cur.lastrowid)
        con.executemany(
            "INSERT INTO suggestions(run_id, segment_id, code, score, rank, method) VALUES (?, ?, ?, ?, ?, 'test')",
            [(run_id, nurse[0], "Working in the triumvirate", 0.9, 1),
             (run_id, nurse2[0], "Hierarchy and voice", 0.95, 1)],
        )
        accept(con, "ana", nurse[0], "Working in the triumvirate", run_id)

        add(con, "ana", first[0], "Selection and credibility")
        add(con, "ana", first[0], "Time and workload")
        add(con, "bo", first[0], "Selection and credibility")
        add(con, "ana", second[0], "Training and development")
        reject(con, "ana", second[0], "Training and development")
        add(con, "ana", third[0], "Time and workload")
        change(con, "ana", third[0], "Time and workload", "Hierarchy and voice")
        add(con, "Zoë", risk[0], RISK)
        text = EXTRA_TEXT
        adjust(con, "Zoë", risk[0], text.index(ADJUSTED), text.index(ADJUSTED) + len(ADJUSTED), RISK)
        add(con, "ana", second[0], "Hierarchy and voice")
        undo(con, "ana")

        # A span across two segments imported as bo's: two decisions, one passage.
        manager = segs[(segs.document == "south-manager") & (segs.speaker_role == "participant")].sort_values("start")
        start, end = int(manager.start.iloc[0]), int(manager.end.iloc[1])
        report = import_spans(
            con,
            pd.DataFrame([("south-manager", start, end, "Working in the triumvirate", "bo")],
                         columns=["document", "start", "end", "code", "coder"]),
            Segmenter().scheme,
        )
        assert report.decisions >= 2 and not report.problems
        facts.update(first=first, second=second, third=third, nurse=nurse, nurse2=nurse2, risk=risk,
                     imported=(start, end), run_id=run_id)
    return path, facts


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    return _build(tmp_path_factory.mktemp("refi"))


@pytest.fixture(scope="module")
def exported(study: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qdpx") / "study.qdpx"
    with Project(study[0]) as p:
        report = p.export_qdpx(out)
    assert report.path == out and report.warnings == []
    return out


class Qdpx:
    """An unpacked .qdpx: the parsed project.qde and the source files."""

    def __init__(self, path: Path) -> None:
        with zipfile.ZipFile(path) as zf:
            self.names = zf.namelist()
            self.files = {n: zf.read(n) for n in self.names}
        self.qde = self.files["project.qde"]
        self.root = etree.fromstring(self.qde)

    def all(self, xpath: str, **variables: str) -> list:
        return self.root.xpath(xpath, namespaces=NS, **variables)

    def by_guid(self, tag: str) -> dict[str, etree._Element]:
        return {el.get("guid"): el for el in self.all(f"//q:{tag}")}

    def text_of(self, source: etree._Element) -> str:
        raw = self.files["sources/" + source.get("plainTextPath").removeprefix("internal://")]
        assert not raw.startswith(b"\xef\xbb\xbf"), "no byte-order mark: positions count from the first character"
        return raw.decode("utf-8")

    def codings(self) -> set[tuple[str, str, int, int, str, str]]:
        """(user, source, start, end, code, selection text) for every coding of a selection."""
        users = {g: u.get("name") for g, u in self.by_guid("User").items()}
        codes = {g: c.get("name") for g, c in self.by_guid("Code").items()}
        out = set()
        for source in self.all("//q:TextSource"):
            text = self.text_of(source)
            for sel in source.findall("q:PlainTextSelection", NS):
                start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
                for cod in sel.findall("q:Coding", NS):
                    assert cod.get("creatingUser") == sel.get("creatingUser")
                    code = codes[cod.find("q:CodeRef", NS).get("targetGUID")]
                    out.add((users[cod.get("creatingUser")], source.get("name"), start, end, code, text[start:end]))
        return out


def _expected(project: Path, coders: set[str] | None = None) -> set[tuple[str, str, int, int, str, str]]:
    with Project(project) as p:
        current = coding(p.con)
        docs = dict(p.con.execute("SELECT id, name FROM current_documents").fetchall())
        texts = dict(p.con.execute("SELECT id, text FROM current_documents").fetchall())
    rows = set()
    for r in current.itertuples(index=False):
        if coders is None or r.coder in coders:
            doc = int(r.document_id)
            rows.add((r.coder, docs[doc], int(r.start), int(r.end), r.code, texts[doc][int(r.start):int(r.end)]))
    return rows


@needs_xsd
def test_export_validates_against_the_refi_qda_schema(exported: Path) -> None:
    assert validate_qde(Qdpx(exported).qde, XSD) == []
    assert check_qdpx(exported, XSD) == []


@needs_xsd
def test_bundled_sample_projects_pass_the_checker() -> None:
    samples = sorted(REFI.glob("*.qdpx"))
    assert samples, "sample .qdpx files expected beside the schema"
    for sample in samples:
        assert check_qdpx(sample, XSD) == [], sample.name


@needs_xsd
def test_checker_finds_broken_projects(exported: Path, tmp_path: Path) -> None:
    q = Qdpx(exported)
    root = etree.fromstring(q.qde)
    root.xpath("//q:CodeRef", namespaces=NS)[0].set("targetGUID", str(uuid.uuid4()))
    sel = root.xpath("//q:PlainTextSelection", namespaces=NS)[0]
    sel.set("endPosition", "999999")
    root.xpath("//q:Code", namespaces=NS)[0].set("isCodable", "maybe")
    missing = root.xpath("//q:TextSource", namespaces=NS)[-1].get("plainTextPath").removeprefix("internal://")
    broken = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("project.qde", etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
        for name, data in q.files.items():
            if name.startswith("sources/") and not name.endswith(missing):
                zf.writestr(name, data)
    problems = "\n".join(check_qdpx(broken, XSD))
    assert "isCodable" in problems  # the schema
    assert "CodeRef targetGUID" in problems  # references
    assert "outside the text" in problems  # positions
    assert f"no sources/{missing}" in problems  # files
    not_a_project = tmp_path / "empty.qdpx"
    with zipfile.ZipFile(not_a_project, "w") as zf:
        zf.writestr("sources/x.txt", "hello")
    assert "no project.qde" in check_qdpx(not_a_project)[0]


def test_every_confirmed_coding_and_nothing_else(study: tuple[Path, dict], exported: Path) -> None:
    project, facts = study
    got = Qdpx(exported).codings()
    # the same (coder, document, span, code) as the decision log's current coding, and each passage's
    # text, sliced from the exported source file by its positions, is the coded span's text in the store
    assert got == _expected(project)
    keys = {(u, s, a, b, c) for u, s, a, b, c, _ in got}
    _, a, b = facts["first"]
    assert {("ana", "north-consultant", a, b, "Selection and credibility"),
            ("ana", "north-consultant", a, b, "Time and workload"),
            ("bo", "north-consultant", a, b, "Selection and credibility")} <= keys
    _, a, b = facts["nurse"]
    assert ("ana", "north-nurse", a, b, "Working in the triumvirate") in keys  # an accepted suggestion
    _, a, b = facts["nurse2"]
    assert not any(k[1:4] == ("north-nurse", a, b) for k in keys)  # a suggestion nobody decided on
    _, a, b = facts["second"]
    assert not any(k[1:4] == ("north-consultant", a, b) for k in keys)  # rejected, and undone
    _, a, b = facts["third"]
    assert ("ana", "north-consultant", a, b, "Hierarchy and voice") in keys
    assert ("ana", "north-consultant", a, b, "Time and workload") not in keys  # changed away
    a, b = facts["imported"]
    assert ("bo", "south-manager", a, b, "Working in the triumvirate") in keys


def test_one_selection_per_coder_and_span(study: tuple[Path, dict], exported: Path) -> None:
    q = Qdpx(exported)
    users = {g: u.get("name") for g, u in q.by_guid("User").items()}
    seen = set()
    for source in q.all("//q:TextSource"):
        for sel in source.findall("q:PlainTextSelection", NS):
            key = (source.get("name"), users[sel.get("creatingUser")], sel.get("startPosition"), sel.get("endPosition"))
            assert key not in seen
            seen.add(key)
    _, a, b = study[1]["first"]
    ana = [s for s in q.all("//q:TextSource[@name='north-consultant']/q:PlainTextSelection")
           if users[s.get("creatingUser")] == "ana" and int(s.get("startPosition")) == a]
    assert len(ana) == 1 and len(ana[0].findall("q:Coding", NS)) == 2
    a, b = study[1]["imported"]
    imported = q.all(f"//q:TextSource[@name='south-manager']/q:PlainTextSelection[@startPosition='{a}']")
    assert len(imported) == 1 and int(imported[0].get("endPosition")) == b  # two segments, one passage


def test_sources_are_the_normalised_texts(study: tuple[Path, dict], exported: Path) -> None:
    q = Qdpx(exported)
    with Project(study[0]) as p:
        texts = dict(p.con.execute("SELECT name, text FROM current_documents").fetchall())
    sources = q.all("//q:TextSource")
    assert {s.get("name"): q.text_of(s) for s in sources} == texts
    assert all(n == "project.qde" or (n.startswith("sources/") and n.endswith(".txt")) for n in q.names)
    assert len(q.names) == len(texts) + 1
    for s in sources:
        file_guid = s.get("plainTextPath").removeprefix("internal://").removesuffix(".txt")
        assert str(uuid.UUID(file_guid)) == file_guid


def test_codebook_hierarchy_and_descriptions(study: tuple[Path, dict], exported: Path) -> None:
    q = Qdpx(exported)
    with Project(study[0]) as p:
        _, book = load_stored_codebook(p.con)
    parents = {}
    for code in q.all("//q:Code"):
        parent = code.getparent()
        parents[code.get("name")] = parent.get("name") if parent.tag == f"{{{NAMESPACE}}}Code" else None
    assert parents == {c.code: c.parent for c in book.codes}
    codable = {c.get("name"): c.get("isCodable") for c in q.all("//q:Code")}
    leaves = {c.code for c in book.leaves}
    assert {n for n, v in codable.items() if v == "true"} == leaves
    risk = q.all("//q:Code[@name=$n]", n=RISK)[0]
    assert risk.findtext("q:Description", namespaces=NS).startswith('Safety & "risk" when <targets> press.')
    selection = q.all("//q:Code[@name='Selection and credibility']/q:Description")[0].text
    assert "Use when: Reasons for taking the role" in selection and "Not when: Formal training" in selection


def test_users_are_the_human_coders(exported: Path) -> None:
    q = Qdpx(exported)
    users = q.by_guid("User")
    assert sorted(u.get("name") for u in users.values()) == sorted(["ana", "bo", "Zoë"])
    referenced = {el.get("creatingUser") for el in q.all("//q:PlainTextSelection | //q:Coding")}
    assert referenced <= set(users)
    assert not q.all("//q:User[@name='machine' or @name='nlp-theming']")


def test_non_ascii_and_markup_survive(study: tuple[Path, dict], exported: Path) -> None:
    q = Qdpx(exported)
    assert "Risk &amp; &lt;safety&gt; 🚑".encode() in q.qde  # escaped markup, UTF-8 as it is
    source = q.all("//q:TextSource[@name=$n]", n=EXTRA_NAME)[0]
    text = q.text_of(source)
    assert text == EXTRA_TEXT
    sel = source.find("q:PlainTextSelection", NS)
    start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
    # positions count code points: the emoji before the span is one position, not two (UTF-16) or four (bytes)
    assert (start, end) == (EXTRA_TEXT.index(ADJUSTED), EXTRA_TEXT.index(ADJUSTED) + len(ADJUSTED))
    assert text[start:end] == ADJUSTED
    code_guid = sel.find("q:Coding/q:CodeRef", NS).get("targetGUID")
    assert q.by_guid("Code")[code_guid].get("name") == RISK
    assert q.by_guid("User")[sel.get("creatingUser")].get("name") == "Zoë"
    assert sel.get("name").startswith("risk & <safety>")


def test_variables_and_cases_per_site(exported: Path) -> None:
    q = Qdpx(exported)
    variables = {v.get("name"): v for v in q.all("//q:Variables/q:Variable")}
    assert {n: v.get("typeOfVariable") for n, v in variables.items()} == {
        "age": "Integer", "participant": "Text", "role": "Text", "site": "Text"}
    sources = {s.get("guid"): s.get("name") for s in q.all("//q:TextSource")}
    cases = {c.get("name"): c for c in q.all("//q:Cases/q:Case")}
    assert set(cases) == {"North", "South", "Malmö"}
    members = {n: sorted(sources[r.get("targetGUID")] for r in c.findall("q:SourceRef", NS)) for n, c in cases.items()}
    assert members == {"North": ["north-consultant", "north-nurse"], "South": ["south-consultant", "south-manager"],
                       "Malmö": [EXTRA_NAME]}
    site = variables["site"].get("guid")
    for name, case in cases.items():  # only site is constant within every case
        values = case.findall("q:VariableValue", NS)
        assert [(v.find("q:VariableRef", NS).get("targetGUID"), v.findtext("q:TextValue", namespaces=NS))
                for v in values] == [(site, name)]
    names = {v.get("guid"): n for n, v in variables.items()}
    by_var = {
        names[v.find("q:VariableRef", NS).get("targetGUID")]: v[1]
        for v in q.all("//q:TextSource[@name=$n]/q:VariableValue", n=EXTRA_NAME)
    }
    assert by_var["age"].tag == f"{{{NAMESPACE}}}IntegerValue" and by_var["age"].text == "41"
    assert by_var["site"].text == "Malmö" and by_var["role"].text == "nurse"


def test_re_export_is_byte_identical(study: tuple[Path, dict], exported: Path, tmp_path: Path) -> None:
    with Project(study[0]) as p:
        again = p.export_qdpx(tmp_path / "again.qdpx").path
    assert again.read_bytes() == exported.read_bytes()
    copy = shutil.copytree(study[0], tmp_path / "moved-elsewhere" / "study")
    with Project(copy) as p:
        moved = p.export_qdpx(tmp_path / "moved.qdpx").path
    assert moved.read_bytes() == exported.read_bytes()  # GUIDs belong to the project, not its folder


def test_a_new_decision_keeps_every_existing_guid(study: tuple[Path, dict], exported: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(study[0], tmp_path / "study")
    with Project(copy) as p:
        add(p.con, "bo", study[1]["third"][0], "Training and development")
        out = p.export_qdpx(tmp_path / "more.qdpx").path
    before = {el.get("guid") for el in Qdpx(exported).all("//*[@guid]")}
    after = Qdpx(out)
    assert before < {el.get("guid") for el in after.all("//*[@guid]")}
    assert len(after.codings()) == len(Qdpx(exported).codings()) + 1


def test_coding_on_a_superseded_version_is_reported(study: tuple[Path, dict], tmp_path: Path) -> None:
    copy = shutil.copytree(study[0], tmp_path / "study")
    changed = tmp_path / "north-consultant.txt"
    changed.write_text("SYNTHETIC interview, revised\n\nInterviewer: Hello?\n\nDr Okafor: A new answer.\n", "utf-8")
    with Project(copy) as p:
        p.ingest([changed])
        report = p.export_qdpx(tmp_path / "after.qdpx")
    assert any("earlier version of 'north-consultant'" in w and "ana" in w for w in report.warnings)
    q = Qdpx(report.path)
    source = q.all("//q:TextSource[@name='north-consultant']")[0]
    assert q.text_of(source).startswith("SYNTHETIC interview, revised")
    assert source.findall("q:PlainTextSelection", NS) == []


def test_cli_export_qdpx(study: tuple[Path, dict], exported: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli.qdpx"
    result = runner.invoke(main, ["export", str(study[0]), "--format", "qdpx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "by 3 coders" in result.output
    assert out.read_bytes() == exported.read_bytes()

    only = tmp_path / "ana.qdpx"  # the format from the extension, one coder
    result = runner.invoke(main, ["export", str(study[0]), "--out", str(only), "--coder", "ana"])
    assert result.exit_code == 0, result.output
    q = Qdpx(only)
    assert [u.get("name") for u in q.all("//q:User")] == ["ana"]
    assert q.codings() == _expected(study[0], {"ana"})
    if XSD.exists():
        assert check_qdpx(only, XSD) == []

    result = runner.invoke(main, ["export", str(study[0]), "--out", str(tmp_path / "x.qdpx"), "--coder", "nobody"])
    assert result.exit_code == 1 and "no decisions by 'nobody'" in result.output
    result = runner.invoke(main, ["export", str(study[0]), "--out", str(tmp_path / "x.qdpx"), "--run", "1"])
    assert result.exit_code != 0

    table = tmp_path / "suggestions.csv"  # the default is still the suggestions table
    result = runner.invoke(main, ["export", str(study[0]), "--out", str(table)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(table.read_text(encoding="utf-8")))
    assert set(frame.status) == {"accepted", "pending"}
