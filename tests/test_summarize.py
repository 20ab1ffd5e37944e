"""Summaries: counts against the coding they were built from, nothing unconfirmed as a finding,
unreviewed counts, other groupings, freshness, and the files written.

The project is built here from SYNTHETIC transcripts (three sites, eight interviews) with the
real embedding model; expected figures are computed in the test from the decisions it records,
not with the code under test.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming import Project
from nlp_theming.cli import main
from nlp_theming.review import Decision, import_spans, record
from nlp_theming.segment import Segmenter
from nlp_theming.suggest import SuggestConfig
from nlp_theming.summarize import Summary, check_summary, ctfidf_keywords

BOARD = "Composition of executive board"
TRIO = "Operation of the triumvirate"
TIME = "Time commitment of medical leaders"
SELECT = "How doctors are selected for leadership roles"
FINANCE = "Organisational performance: finance"

CODEBOOK = f"""code,description,parent
Structure,How leadership is organised,
{BOARD},Who sits on the trust board and how many doctors,Structure
{TRIO},How the doctor manager and nurse run a unit together,Structure
Process,How leadership works day to day,
{TIME},How much time leadership roles take; PAs; evenings,Process
{SELECT},How doctors are chosen for leadership posts; interviews; applicants,Process
Outcomes,What leadership achieves,
{FINANCE},Budgets deficits and money,Outcomes
"""

# What each theme sounds like; the variant index makes every interview's wording its own.
LINES = {
    BOARD: [
        "I'm the only doctor on the board of directors. The rest of the board are managers and non-executives.",
        "There are two doctors on the trust board now. The medical director and the chief operating officer sit "
        "next to each other.",
        "The board has the medical director and a nurse director on it. Clinical voices are heard at board level.",
    ],
    TRIO: [
        "The clinical director, the nurse and the general manager meet every Monday. We share the decisions about "
        "beds and rotas.",
        "Honestly the triumvirate is really a pair, the doctor and the manager. The matron is consulted but "
        "not in the room.",
        "In our service there is no triumvirate, the psychologist and the social workers all want a voice. So "
        "it is the lead clinician and the manager.",
    ],
    TIME: [
        "I get two PAs for the clinical director role and it is nowhere near enough. It spills into my evenings "
        "and weekends.",
        "The leadership job takes far more time than the job plan says. I do the emails at night after clinic.",
        "My ten PA job plan became a twelve PA job plan. The leadership work was added on top of the clinical work.",
    ],
    SELECT: [
        "The post was advertised and there was an interview panel. Only two consultants applied for it.",
        "Nobody was queuing up for the role. In the end it was my turn, that is how specialty leads get chosen.",
        "We look for clinical credibility, five to ten years as a consultant. Then an interview with the chief "
        "executive.",
    ],
    FINANCE: [
        "The directorate has a deficit of two million pounds this year. Every budget meeting is about savings.",
        "Money is tight and the cost improvement plan hangs over everything. We had to close beds to balance "
        "the budget.",
        "Finance is the manager's side, but the doctors now see the budget reports. Overspending on locums is "
        "the big problem.",
    ],
}
FILLER = "I trained in the north and moved here about ten years ago. I still do clinics most days."
UNTRUSTED = '=HYPERLINK("http://example.invalid") <script>alert("x")</script> <b>Board</b> & board papers.'

SITES = pd.DataFrame({
    "site": ["A", "B", "C"],
    "name": ["Northtown Hospitals", "Southby Acute Trust", "Westmere Mental Health"],
    "trust_type": ["acute", "acute", "mental health"],
    "leadership_model": ["medically-led", "medically-led", "aligned"],
    "consultants": ["140", "358", "70"],
})
# document -> (site, participant, role, speaker label, themes discussed, one turn each)
INTERVIEWS = {
    "A-01": ("A", "A-P01", "doctor", "Dr Shah", [BOARD, TIME, SELECT, FINANCE]),
    "A-02": ("A", "A-P02", "manager", "Ms Jones", [TRIO, FINANCE, BOARD]),
    "A-03": ("A", "A-P03", "nurse", "Sister Obi", [TRIO, TIME]),
    "B-01": ("B", "B-P01", "doctor", "Dr Lee", [TIME, SELECT, TRIO]),
    "B-02": ("B", "B-P02", "nurse", "Nurse Kay", [TRIO, FINANCE]),
    "C-01": ("C", "C-P01", "doctor", "Dr Rao", [TRIO, TIME, BOARD]),
    "C-02": ("C", "C-P02", "manager", "Mr Finch", [FINANCE, SELECT, TRIO]),
    "C-03": ("C", "C-P03", "psychologist", "Dr Ames", [TRIO, SELECT]),
}
QUESTIONS = ["Could you tell me about your role?", "And how does that work in practice?", "Anything else on that?",
             "What about the organisation as a whole?", "Is there anything we haven't covered?"]


def write_corpus(folder: Path) -> Path:
    """Transcripts (.txt), a manifest; returns the manifest path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,site,participant,role"]
    for n, (doc, (site, participant, role, label, themes)) in enumerate(INTERVIEWS.items()):
        lines = ["SYNTHETIC interview for tests"]
        for k, theme in enumerate(themes):
            lines.append(f"Interviewer: {QUESTIONS[k % len(QUESTIONS)]}")
            lines.append(f"{label}: {LINES[theme][(n + k) % 3]}")
        lines.append("Interviewer: Where did you train?")
        lines.append(f"{label}: {UNTRUSTED if doc == 'A-02' else FILLER}")
        (folder / f"{doc}.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        rows.append(f"{doc}.txt,{site},{participant},{role}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder / "manifest.csv"


def participant_turns(con: sqlite3.Connection) -> dict[tuple[str, int], dict]:
    """(document, k) -> the k-th participant turn's offsets and its one segment id."""
    scheme = Segmenter().scheme
    out = {}
    for doc in INTERVIEWS:
        doc_id, text = con.execute("SELECT id, text FROM current_documents WHERE name = ?", (doc,)).fetchone()
        turns = con.execute(
            "SELECT start, end FROM turns WHERE document_id = ? AND is_interviewer = 0 AND speaker IS NOT NULL "
            "ORDER BY idx", (doc_id,)).fetchall()
        for k, (start, end) in enumerate(turns):
            segs = con.execute(
                "SELECT id FROM segments WHERE document_id = ? AND scheme = ? AND start >= ? AND end <= ?",
                (doc_id, scheme, start, end)).fetchall()
            assert len(segs) == 1, "each fixture answer is one coding unit"
            out[(doc, k)] = {"segment_id": segs[0][0], "start": start, "end": end, "document_id": doc_id,
                             "text": text[start:end]}
    return out


class Ledger:
    """The test's own record of what each coder decided, to derive expected figures from."""

    def __init__(self, con: sqlite3.Connection, turns: dict) -> None:
        self.con, self.turns = con, turns
        self.applies: dict[tuple[str, str, int, str], bool] = {}  # (coder, doc, k, theme) -> applies

    def seg(self, doc: str, k: int) -> int:
        return self.turns[(doc, k)]["segment_id"]

    def import_coder(self, coder: str, plan: dict[str, list[int]]) -> None:
        rows = []
        for doc, ks in plan.items():
            themes = INTERVIEWS[doc][4]
            for k in ks:
                t = self.turns[(doc, k)]
                rows.append({"document": doc, "start": t["start"], "end": t["end"], "code": themes[k], "coder": coder})
                self.applies[(coder, doc, k, themes[k])] = True
        report = import_spans(self.con, pd.DataFrame(rows), Segmenter().scheme)
        assert not report.problems and report.decisions == len(rows)

    def decide(self, coder: str, action: str, doc: str, k: int, code: str, new_code: str | None = None) -> int:
        did = record(self.con, Decision(coder=coder, action=action, segment_id=self.seg(doc, k), code=code,
                                        new_code=new_code))
        if action in ("accept", "add"):
            self.applies[(coder, doc, k, code)] = True
        elif action == "reject":
            self.applies[(coder, doc, k, code)] = False
        elif action == "change":
            self.applies[(coder, doc, k, code)] = False
            self.applies[(coder, doc, k, new_code)] = True
        return did

    def undo(self, coder: str, decision_id: int, doc: str, k: int, code: str) -> None:
        record(self.con, Decision(coder=coder, action="undo", undoes=decision_id))
        del self.applies[(coder, doc, k, code)]  # as if never decided

    def expected(self, key: str = "site", coder: str | None = None, attrs: dict | None = None) -> dict:
        """(group, theme) -> set of (doc, k) coded by anyone (or ``coder``): the union."""
        out: dict[tuple[str, str], set] = defaultdict(set)
        for (c, doc, k, theme), applies in self.applies.items():
            if applies and (coder is None or c == coder):
                out[(group_of(doc, key, attrs), theme)].add((doc, k))
        return out

    def decided_pairs(self, coder: str | None = None) -> set[tuple[int, str]]:
        return {(self.seg(doc, k), theme) for (c, doc, k, theme) in self.applies if coder is None or c == coder}


def group_of(doc: str, key: str, attrs: dict | None = None) -> str:
    site, participant, role, _, _ = INTERVIEWS[doc]
    values = {"site": site, "participant": participant, "role": role, "document": doc}
    if attrs:
        values.update(attrs[site])
    return values[key]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The project after ingest, codebook, coder1's imported coding, one suggest run, then more decisions."""
    root = tmp_path_factory.mktemp("summarize")
    manifest = write_corpus(root / "corpus")
    (root / "codebook.csv").write_text(CODEBOOK, encoding="utf-8")
    project = root / "project"
    with Project.init(project) as p:
        p.ingest([root / "corpus"], manifest)
        p.load_codebook(root / "codebook.csv")
        turns = participant_turns(p.con)
        ledger = Ledger(p.con, turns)
        # coder1 codes most answers; some are left for review
        ledger.import_coder("coder1", {
            "A-01": [0, 1, 2], "A-02": [0, 1], "A-03": [0, 1], "B-01": [0, 1], "B-02": [0],
            "C-01": [0, 1], "C-02": [0, 1], "C-03": [0],
        })
        p.suggest(SuggestConfig(seed=0, discover=False))
        # coder2: agrees on one (counted once), adds what coder1 missed, rejects, changes, undoes
        ledger.decide("coder2", "accept", "A-01", 0, BOARD)
        ledger.decide("coder2", "accept", "A-01", 3, FINANCE)
        ledger.decide("coder2", "add", "C-03", 1, SELECT)
        ledger.decide("coder2", "reject", "B-02", 1, FINANCE)
        ledger.decide("coder2", "accept", "C-01", 2, TIME)
        ledger.decide("coder2", "change", "C-01", 2, TIME, BOARD)
        undone = ledger.decide("coder2", "accept", "B-01", 2, SELECT)
        ledger.undo("coder2", undone, "B-01", 2, SELECT)
        # a rejection of a code that nobody applies to that answer
        ledger.decide("coder1", "reject", "A-03", 0, FINANCE)
        run_id = p.con.execute("SELECT MAX(id) FROM runs WHERE status = 'complete'").fetchone()[0]
        sugg = pd.read_sql_query("SELECT segment_id, code, score FROM suggestions WHERE run_id = ?", p.con,
                                 params=[run_id])
    return {"root": root, "project": project, "ledger": ledger, "turns": turns, "suggestions": sugg}


@pytest.fixture(scope="module")
def by_site(built: dict) -> Summary:
    with Project(built["project"]) as p:
        return p.summarize(by="site", sites=SITES)


def _cells(summary: Summary, level: str = "theme") -> dict[tuple[str, str], pd.Series]:
    c = summary.cells[summary.cells.level == level]
    return {(r.group, r.theme): r for r in c.itertuples(index=False)}


def _check_counts(summary: Summary, expected: dict, key: str, attrs: dict | None = None) -> None:
    cells = _cells(summary)
    groups = sorted({group_of(d, key, attrs) for d in INTERVIEWS})
    assert summary.group_names == groups
    for g in groups:
        for theme in LINES:
            units = expected.get((g, theme), set())
            cell = cells[(g, theme)]
            assert cell.n_segments == len(units), (g, theme)
            assert cell.n_documents == len({d for d, _ in units})
            people = {INTERVIEWS[d][1] for d, _ in units}
            assert cell.n_participants == len(people)
            assert cell.present == int(bool(units))
            roles = defaultdict(set)
            for d, _ in units:
                roles[INTERVIEWS[d][2]].add(INTERVIEWS[d][1])
            assert cell.roles == "; ".join(f"{r} {len(roles[r])}" for r in sorted(roles))
            in_group = {INTERVIEWS[d][1] for d in INTERVIEWS if group_of(d, key, attrs) == g}
            assert cell.coverage == pytest.approx(len(people) / len(in_group), abs=1e-4)


def test_counts_match_the_confirmed_coding_union_of_coders(by_site: Summary, built: dict) -> None:
    expected = built["ledger"].expected("site")
    _check_counts(by_site, expected, "site")
    # A-01's board answer was coded by both coders: one segment, not two
    assert by_site.cells.query("group == 'A' and theme == @BOARD and level == 'theme'").n_segments.item() == 1
    tidy = by_site.tidy
    assert len(tidy) == sum(len(v) for v in expected.values())
    both = tidy[(tidy.document == "A-01") & (tidy.theme == BOARD)]
    assert both.coders.tolist() == ["coder1; coder2"]


def test_meta_theme_rollups_count_each_segment_once(by_site: Summary, built: dict) -> None:
    expected = built["ledger"].expected("site")
    metas = {BOARD: "Structure", TRIO: "Structure", TIME: "Process", SELECT: "Process", FINANCE: "Outcomes"}
    roll = _cells(by_site, "meta")
    for site in "ABC":
        for meta in ("Structure", "Process", "Outcomes"):
            units = set().union(*(expected.get((site, t), set()) for t, m in metas.items() if m == meta))
            assert roll[(site, meta)].n_segments == len(units)
            assert roll[(site, meta)].n_participants == len({INTERVIEWS[d][1] for d, _ in units})
    # roll-up rows come first in their block, in codebook order
    assert by_site.themes.theme.tolist()[:3] == ["Structure", BOARD, TRIO]


def test_unconfirmed_suggestions_never_appear_as_findings(by_site: Summary, built: dict) -> None:
    ledger, turns = built["ledger"], built["turns"]
    confirmed = {(ledger.seg(d, k), t) for (_, d, k, t), ok in ledger.applies.items() if ok}
    found = set(zip(by_site.tidy.segment_id, by_site.tidy.theme, strict=True))
    assert found == confirmed
    pending = built["suggestions"]
    pending = pending[[(s, c) not in ledger.decided_pairs() for s, c in zip(pending.segment_id, pending.code,
                                                                            strict=True)]]
    assert len(pending) > 0
    assert not set(zip(pending.segment_id, pending.code, strict=True)) & found
    # the rejected suggestions (B-02 finance, A-03 finance) and the undone acceptance are absent everywhere
    for doc, k, code in (("B-02", 1, FINANCE), ("A-03", 0, FINANCE), ("B-01", 2, SELECT)):
        sid = turns[(doc, k)]["segment_id"]
        assert not ((by_site.tidy.segment_id == sid) & (by_site.tidy.theme == code)).any()
        cell_quotes = by_site.quotes[(by_site.quotes.theme == code) & (by_site.quotes.level == "theme")]
        assert sid not in set(cell_quotes.segment_id)
    # the changed code counts under its new theme only
    sid = turns[("C-01", 2)]["segment_id"]
    assert set(by_site.tidy[by_site.tidy.segment_id == sid].theme) == {BOARD}


def test_unreviewed_counts(by_site: Summary, built: dict) -> None:
    sugg = built["suggestions"]
    likely = sugg[sugg.score >= 0.5]
    assert len(likely) > 0, "the fixture needs suggestions a reviewer would look at"
    decided = built["ledger"].decided_pairs()
    seg_doc = {v["segment_id"]: doc for (doc, _), v in built["turns"].items()}
    expected: dict[tuple[str, str], set] = defaultdict(set)
    for s, c in zip(likely.segment_id, likely.code, strict=True):
        if (s, c) not in decided:
            expected[(group_of(seg_doc[s], "site"), c)].add(s)
    cells = _cells(by_site)
    for (g, theme), cell in cells.items():
        assert cell.n_unreviewed == len(expected.get((g, theme), set())), (g, theme)
    assert by_site.meta["counts"]["unreviewed"] == sum(len(v) for v in expected.values())
    # a rejected or confirmed suggestion is reviewed, whatever its score
    assert by_site.meta["counts"]["unreviewed"] < len(likely)


def test_one_coder_only(built: dict) -> None:
    with Project(built["project"]) as p:
        summary = p.summarize(by="site", coder="coder2")
        with pytest.raises(ValueError, match="no decisions by coder"):
            p.summarize(coder="nobody")
    _check_counts(summary, built["ledger"].expected("site", coder="coder2"), "site")
    assert set(summary.tidy.coders) == {"coder2"}


def test_group_by_role_and_by_site_attribute(built: dict) -> None:
    ledger = built["ledger"]
    attrs = {r.site: {"trust_type": r.trust_type, "leadership_model": r.leadership_model}
             for r in SITES.itertuples(index=False)}
    with Project(built["project"]) as p:
        by_role = p.summarize(by="role")
        by_type = p.summarize(by="trust_type", sites=SITES)
        with pytest.raises(ValueError, match="trust_type"):
            p.summarize(by="trust_type")  # only the sites table knows it
    _check_counts(by_role, ledger.expected("role"), "role")
    _check_counts(by_type, ledger.expected("trust_type", attrs=attrs), "trust_type", attrs)
    with Project(built["project"]) as p:
        named = p.summarize(by="site", sites=SITES, compare=["name"])
        with pytest.raises(ValueError, match="cannot compare"):
            p.summarize(by="site", sites=SITES, compare=["participant"])
    assert named.meta["compare_attributes"] == ["name"] and set(named.attributes.attribute) == {"name"}
    assert by_type.group_names == ["acute", "mental health"]
    # quotes carry who said it and where
    q = by_role.quotes.iloc[0]
    assert q.site in "ABC" and q.role == q.group and q.participant.startswith(q.site)


def test_cross_site_comparison(by_site: Summary, built: dict) -> None:
    expected = built["ledger"].expected("site")
    comp = by_site.comparison.set_index("theme")
    for theme in LINES:
        present = [s for s in "ABC" if expected.get((s, theme))]
        assert comp.loc[theme, "n_groups_present"] == len(present)
        assert comp.loc[theme, "pattern"] in ({"varies"} if len(present) < 3 else {"consistent", "uneven"})
    # a name per site or a number splits nothing into kinds of site; both still describe the sites
    assert by_site.meta["compare_attributes"] == ["trust_type", "leadership_model"]
    assert {"name", "consultants"} <= set(by_site.meta["group_attributes"])
    attrs = by_site.attributes
    trio = attrs[(attrs.attribute == "trust_type") & (attrs.theme == TRIO)].set_index("value")
    assert trio.loc["acute", "n_groups"] == 2 and trio.loc["mental health", "n_groups"] == 1
    assert set(by_site.groups.trust_type) == {"acute", "mental health"}


def test_quotes_are_central_and_divergence_names_the_silent(by_site: Summary, built: dict) -> None:
    quotes = by_site.quotes[by_site.quotes.level == "theme"]
    # every present cell has quotes, at most three, each from a confirmed coding of that cell
    confirmed = set(zip(by_site.tidy.group, by_site.tidy.theme, by_site.tidy.segment_id, strict=True))
    assert set(zip(quotes.group, quotes.theme, quotes.segment_id, strict=True)) <= confirmed
    assert quotes.groupby(["group", "theme"]).size().max() <= 3
    div = by_site.divergence.set_index(["group", "theme"])
    expected = built["ledger"].expected("site")
    for (site, theme), row in div.iterrows():
        said = {INTERVIEWS[d][1] for d, _ in expected[(site, theme)]}
        silent = sorted(p for s, p, *_ in INTERVIEWS.values() if s == site and p not in said)
        named = [s.split(" ")[0] for s in row.silent_people.split("; ") if s]
        assert row.n_silent == len(silent) and named == silent
    # at site A the manager and the nurse spoke of the triumvirate, the doctor did not
    row = div.loc[("A", TRIO)]
    assert row.silent_people == "A-P01 (doctor)" and row.silent_roles == "doctor"
    assert row.contrast == "roles" and {row.contrast_a, row.contrast_b} == {"manager", "nurse"}
    assert {row.a_role, row.b_role} == {"manager", "nurse"}


def test_ctfidf_keywords_are_distinctive() -> None:
    docs = ["budget deficit savings budget money deficit", "rota beds rota nurse beds rota", "budget rota"]
    words = ctfidf_keywords(docs, top_n=2)
    assert set(words[0]) == {"budget", "deficit"} and set(words[1]) == {"rota", "beds"}


def test_freshness(built: dict, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(built["project"], project)
    out = tmp_path / "summary"
    with Project(project) as p:
        summary = p.summarize(out=out)
        mine = p.summarize(coder="coder2", out=tmp_path / "coder2")
        fresh = p.check_summary(out)
        assert fresh.up_to_date and fresh.new_decisions == 0
        mark = p.con.execute("SELECT MAX(id), at FROM decisions ORDER BY id DESC").fetchone()
        meta = json.loads((out / "summary.json").read_text())
        assert meta["decision_mark"] == mark[0] == summary.meta["decision_mark"]
        assert meta["decision_at"] is not None
        seg = built["turns"][("B-02", 1)]["segment_id"]
        record(p.con, Decision(coder="coder1", action="accept", segment_id=seg, code=FINANCE))
        stale = p.check_summary(out)
        assert not stale.up_to_date and stale.new_decisions == 1 and "1 new decision" in stale.message
        # a one-coder summary is not made stale by another coder's decisions
        assert check_summary(p.con, tmp_path / "coder2").up_to_date and mine.meta["coder"] == "coder2"
        reopened = p.open_summary(out)
        assert reopened.freshness is not None and not reopened.freshness.up_to_date
        pd.testing.assert_frame_equal(reopened.cells.reset_index(drop=True), summary.cells.reset_index(drop=True),
                                      check_dtype=False)
    runner = CliRunner()
    result = runner.invoke(main, ["summarize", str(project), "--check", str(out)])
    assert result.exit_code == 1 and "out of date" in result.output
    result = runner.invoke(main, ["summarize", str(project), "--out", str(out), "--format", "html"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["summarize", str(project), "--check", str(out)])
    assert result.exit_code == 0 and "up to date" in result.output


def test_outputs_are_written_and_escaped(by_site: Summary, tmp_path: Path, built: dict) -> None:
    out = tmp_path / "report"
    by_site.write(out)
    for name in ("index.html", "summary.md", "summary.xlsx", "tidy.csv", "tidy.parquet", "heatmap.svg",
                 "summary.json", "tables/cells.csv", "groups/A.html", "groups/B.html", "groups/C.html"):
        assert (out / name).is_file(), name
    assert len(list((out / "transcripts").glob("*.html"))) == len(INTERVIEWS)
    tidy = pd.read_csv(out / "tidy.csv")
    assert len(tidy) == len(by_site.tidy)
    assert {"site", "participant", "role", "trust_type", "theme", "meta_theme", "text"} <= set(tidy.columns)
    assert pd.read_parquet(out / "tidy.parquet").shape == by_site.tidy.shape
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    assert {"Matrix", "Tidy", "site A", "site B", "site C"} <= set(sheets)
    matrix = sheets["Matrix"].set_index("theme")
    assert matrix.loc[BOARD, "A"] == 1
    # untrusted transcript text: escaped in HTML, never a formula in Excel, inert in Markdown
    page = (out / "transcripts" / "A-02.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>Board</b>" not in page
    from openpyxl import load_workbook

    for ws in load_workbook(out / "summary.xlsx"):
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    md = (out / "summary.md").read_text()
    assert "<script>" not in md and all(f"## site {s}" in md for s in "ABC")


@pytest.fixture(scope="module")
def untrusted_coded(built: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project where the hostile answer is coded, so it is quoted in every output."""
    project = tmp_path_factory.mktemp("hostile") / "project"
    shutil.copytree(built["project"], project)
    with Project(project) as p:
        doc_id, text = p.con.execute("SELECT id, text FROM current_documents WHERE name = 'A-02'").fetchone()
        start = text.index("<script>")
        seg = p.con.execute("SELECT id FROM segments WHERE document_id = ? AND start <= ? AND end > ?",
                            (doc_id, start, start)).fetchone()[0]
        record(p.con, Decision(coder="coder1", action="add", segment_id=seg, code=BOARD))
    return project


def test_hostile_quote_is_inert_everywhere(untrusted_coded: Path, tmp_path: Path) -> None:
    with Project(untrusted_coded) as p:
        summary = p.summarize(out=tmp_path / "r")
    assert summary.tidy.text.str.contains("<script>").any()  # the data keep the text as it is
    group_page = (tmp_path / "r" / "groups" / "A.html").read_text()
    assert "<script>" not in group_page and "&lt;script&gt;" in group_page
    assert "<script>" not in (tmp_path / "r" / "index.html").read_text()
    assert "<script>" not in (tmp_path / "r" / "summary.md").read_text()
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / "r" / "summary.xlsx")
    hits = [c for ws in wb for row in ws.iter_rows() for c in row
            if isinstance(c.value, str) and c.value.startswith("=HYPERLINK")]
    assert hits and all(c.data_type == "s" for c in hits)


def test_cli_writes_a_report(built: dict, tmp_path: Path) -> None:
    sites = tmp_path / "sites.csv"
    SITES.to_csv(sites, index=False)
    result = CliRunner().invoke(main, ["summarize", str(built["project"]), "--by", "site", "--sites", str(sites),
                                       "--out", str(tmp_path / "out"), "--format", "md", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "3 groups x 5 themes" in result.output and "not yet reviewed" in result.output
    assert (tmp_path / "out" / "summary.md").is_file() and not (tmp_path / "out" / "index.html").exists()
    bad = CliRunner().invoke(main, ["summarize", str(built["project"]), "--by", "trust_type"])
    assert bad.exit_code == 1 and "error: no document attribute 'trust_type'" in bad.output


def test_before_any_review_every_cell_is_empty(tmp_path: Path) -> None:
    manifest = write_corpus(tmp_path / "corpus")
    (tmp_path / "codebook.csv").write_text(CODEBOOK, encoding="utf-8")
    with Project.init(tmp_path / "project") as p:
        p.ingest([tmp_path / "corpus"], manifest)
        p.load_codebook(tmp_path / "codebook.csv")
        summary = p.summarize(out=tmp_path / "out")
    assert summary.cells.present.sum() == 0 and summary.tidy.empty and summary.quotes.empty
    assert summary.meta["counts"]["unreviewed"] == 0 and summary.meta["run_id"] is None
    assert any("No confirmed coding yet" in n for n in summary.notes)
    assert set(summary.comparison.pattern) == {"absent"}
    matrix = summary.matrix("n_segments")
    assert matrix.shape == (8, 3 + 3) and list(matrix.columns[3:]) == ["A", "B", "C"]
    assert (tmp_path / "out" / "index.html").is_file()


def _csv_cells(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        return [cell for row in csv.reader(f) for cell in row]


def test_csv_and_xlsx_never_carry_a_formula(untrusted_coded: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    sites = SITES.assign(trust_type=["=1+1", "=1+1", "@SUM(1)"])  # group names are data too
    with Project(untrusted_coded) as p:
        summary = p.summarize(by="trust_type", sites=sites, out=tmp_path / "r")
    assert summary.group_names == ["=1+1", "@SUM(1)"]
    out = tmp_path / "r"
    csvs = [out / "tidy.csv", *sorted((out / "tables").glob("*.csv"))]
    cells = [c for path in csvs for c in _csv_cells(path)]
    assert "'=1+1" in cells and any(c.startswith("'=HYPERLINK") for c in cells)
    for cell in cells:
        if cell.startswith("-"):
            float(cell)  # a negative number is a number, not a formula
        else:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
    assert pd.read_parquet(out / "tidy.parquet").text.str.startswith("=HYPERLINK").any()  # Parquet keeps the text
    wb = load_workbook(out / "summary.xlsx")
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)
    header = [c.value for c in wb["Matrix"][1]]
    assert "=1+1" in header and "@SUM(1)" in header


def test_quotes_are_only_coded_text(built: dict, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(built["project"], project)
    t = built["turns"][("B-01", 2)]
    text = t["text"]
    first = (t["start"], t["start"] + text.index(".") + 1)  # the first sentence
    last = (t["start"] + text.rindex(" ", 0, len(text) - 10) + 1, t["end"])  # the last words
    assert first[1] < last[0]
    with Project(project) as p:
        for a, b in (first, last):
            record(p.con, Decision(coder="coder3", action="import", segment_id=t["segment_id"],
                                   document_id=t["document_id"], code=SELECT, start=a, end=b))
        summary = p.summarize(coder="coder3")
        doc_text = p.con.execute("SELECT text FROM documents WHERE id = ?", (t["document_id"],)).fetchone()[0]
    spans = {doc_text[a:b] for a, b in (first, last)}
    assert set(summary.tidy.text) == spans  # two spans, not one range over the talk between them
    cell = summary.cells.query("group == 'B' and theme == @SELECT and level == 'theme'")
    assert cell.n_segments.item() == 1  # still one coded segment
    quotes = summary.quotes[summary.quotes.theme == SELECT]
    assert len(quotes) and set(quotes.text) <= spans


def test_labels_quote_columns_and_project_name(built: dict, tmp_path: Path) -> None:
    out = tmp_path / "r"
    with Project(built["project"]) as p:
        summary = p.summarize(quotes=1, out=out)
    assert summary.meta["counts"]["unreviewed"] > 0
    label = "suggestion(s) scoring ≥ 0.5 not yet reviewed"
    assert label in (out / "summary.md").read_text()
    index = (out / "index.html").read_text()
    assert "suggestions scoring ≥ 0.5 not yet reviewed" in index and "to review</span>" in index
    assert "scoring ≥ 0.5 to review" in (out / "groups" / "A.html").read_text()
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    assert "Unreviewed (score ≥ 0.5)" in sheets and label in sheets["Cells"].columns
    group_sheet = sheets["site A"]
    assert label in group_sheet.columns
    assert [c for c in group_sheet.columns if c.startswith("quote")] == ["quote 1"]  # as many as asked for
    # the project's folder name, never the machine's path
    meta = json.loads((out / "summary.json").read_text())
    assert meta["project"] == built["project"].name
    assert str(built["root"]) not in (out / "summary.json").read_text()
    about = sheets["About"].set_index("key").value
    assert about["project"] == built["project"].name


def test_freshness_watches_transcripts_codebook_and_sites_file(built: dict, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(built["project"], project)
    sites = tmp_path / "sites.csv"
    SITES.to_csv(sites, index=False)
    out = tmp_path / "summary"
    with Project(project) as p:
        p.summarize(sites=sites, out=out)
        assert p.check_summary(out).up_to_date
        # the sites table is edited: stale; put back: fresh again
        original = sites.read_bytes()
        SITES.assign(trust_type=["acute", "mental health", "mental health"]).to_csv(sites, index=False)
        stale = p.check_summary(out)
        assert not stale.up_to_date and "sites file" in stale.message and "edited" in stale.message
        sites.write_bytes(original)
        assert p.check_summary(out).up_to_date
        # a new codebook version
        (tmp_path / "codebook.csv").write_text(CODEBOOK.replace("Budgets deficits", "Budgets and deficits"),
                                               encoding="utf-8")
        version, new = p.load_codebook(tmp_path / "codebook.csv")
        assert new
        stale = p.check_summary(out)
        assert not stale.up_to_date and f"codebook changed (version {version - 1} then, {version} now)" in stale.message
        p.summarize(sites=sites, out=out)
        assert p.check_summary(out).up_to_date
        # a transcript corrected and ingested again: a new version, and the decisions on the old one
        source = built["root"] / "corpus" / "A-01.txt"
        changed = tmp_path / "A-01.txt"
        changed.write_text(source.read_text().replace("board of directors", "board"), encoding="utf-8")
        assert p.ingest([changed]).updated
        stale = p.check_summary(out)
        assert not stale.up_to_date and "1 transcript version(s) ingested since it was built: A-01 (version 2)" \
            in stale.message
        again = p.summarize(sites=sites)
    # every decision in force on A-01's first version, from the test's own ledger
    expected = sum(1 for (_, doc, _, _), ok in built["ledger"].applies.items() if doc == "A-01" and ok)
    assert expected > 0
    assert again.meta["counts"]["superseded_decisions"] == expected
    assert again.meta["superseded_documents"] == ["A-01"]
    assert any(f"{expected} decision(s) sit on superseded document versions" in n and "A-01 (version 1" in n
               for n in again.notes)
