"""Codebooks: hierarchical code lists (meta-themes -> themes) from CSV or YAML.

CSV columns: ``code``, ``description``, ``parent`` (must name another code) or ``group`` (a
meta-theme, created if not listed), ``inclusion``, ``exclusion``, ``examples`` (separated by
`` | ``). YAML: ``codes:`` a list of mappings with the same keys, where ``children:`` nests.
A codebook is stored as a new version whenever its content changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from .store.codebooks import latest_version, read_version, store_version
from .textio import InputError, clean_name, dict_rows, header_name, read_text_file, sniff_delimiter


class CodebookError(InputError):
    """A codebook that cannot be used, with the file and the problem in one line."""


@dataclass
class Code:
    code: str
    parent: str | None = None
    description: str = ""
    inclusion: str = ""
    exclusion: str = ""
    examples: list[str] = field(default_factory=list)


@dataclass
class Codebook:
    name: str
    codes: list[Code]

    def __post_init__(self) -> None:
        self._by_name = {c.code: c for c in self.codes}

    def __getitem__(self, code: str) -> Code:
        return self._by_name[code]

    def __contains__(self, code: object) -> bool:
        return code in self._by_name

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def leaves(self) -> list[Code]:
        """Codes that can be applied to a segment: those with no children."""
        parents = {c.parent for c in self.codes if c.parent}
        return [c for c in self.codes if c.code not in parents]

    def resolve_leaf(self, name: str) -> str | None:
        """The leaf code a code name from another tool means, or ``None`` (unknown or ambiguous).

        QDA packages write a code with its parents (MAXQDA ``Meta\\Theme``, NVivo
        ``Codes\\Meta\\Theme``, ``Meta > Theme``, ATLAS.ti's ``Meta::Theme`` convention): the
        last part names the code and the parts before it its parents, which decide between
        leaves of the same name (an import keeps those apart as ``Theme (Meta)``). Names are
        compared as written, then ignoring case and runs of spaces.
        """

        def loose(text: str) -> str:
            return " ".join(str(text).split()).casefold()

        leaves = [c.code for c in self.leaves]
        name = str(name).strip()
        if name in leaves:
            return name
        parts = [p.strip() for p in re.split(r"\s*(?:\\|>|::)\s*", name) if p.strip()]
        if not parts:
            return None
        last, parents = loose(parts[-1]), [loose(p) for p in parts[:-1]]

        def base(code: str) -> str:  # "Theme (Meta)" as an import renamed a second "Theme"
            return loose(re.sub(r"\s*\([^()]*\)$", "", code))

        named = [c for c in leaves if last in (loose(c), base(c))]
        if parents:
            # the stated parents and the leaf's ancestors agree, nearest first, as far as both go
            # (a root such as NVivo's "Codes" may sit above the codebook's own top level)
            def fits(code: str) -> bool:
                ours, theirs = [loose(a) for a in self.ancestors(code)], parents[::-1]
                depth = min(len(ours), len(theirs))
                return depth > 0 and ours[:depth] == theirs[:depth]

            named = [c for c in named if fits(c)] or (named if len(named) == 1 else [])
        return named[0] if len(named) == 1 else None

    def ancestors(self, code: str) -> list[str]:
        out, seen = [], set()
        parent = self._by_name[code].parent
        while parent and parent not in seen:
            out.append(parent)
            seen.add(parent)
            parent = self._by_name[parent].parent if parent in self._by_name else None
        return out

    def top_level(self, code: str) -> str:
        chain = self.ancestors(code)
        return chain[-1] if chain else code

    @property
    def content_hash(self) -> str:
        # order is presentation, not content: the same codes listed differently are one version
        payload = json.dumps(sorted((asdict(c) for c in self.codes), key=lambda d: d["code"]), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def to_frame(self) -> pd.DataFrame:
        rows = [{**asdict(c), "examples": " | ".join(c.examples), "is_leaf": c in self.leaves} for c in self.codes]
        return pd.DataFrame(
            rows, columns=["code", "parent", "description", "inclusion", "exclusion", "examples", "is_leaf"]
        )


def _split_examples(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in str(value).split(" | ") if p.strip()]


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def load_codebook(path: str | Path, name: str | None = None) -> Codebook:
    """Read and validate a codebook file (.csv, .yaml/.yml)."""
    path = Path(path)
    if not path.is_file():
        raise CodebookError(f"{path}: codebook file not found")
    suffix = path.suffix.lower()
    try:
        text = read_text_file(path)
    except InputError as exc:
        raise CodebookError(f"{path}: {exc}") from exc
    if suffix == ".csv":
        rows = _rows_from_csv(path, text)
    elif suffix in (".yaml", ".yml"):
        rows = _rows_from_yaml(path, text)
    else:
        raise CodebookError(f"{path}: unsupported codebook format {suffix!r} (use .csv or .yaml)")
    return _build(path, rows, name or path.stem)


def _rows_from_csv(path: Path, text: str) -> list[dict]:
    aliases = ("code", "tag", "theme", "name")
    reader = dict_rows(text, sniff_delimiter(text, lambda names: any(a in names for a in aliases)))
    fields = [header_name(f) for f in reader.fieldnames or []]
    # Other tools call the code a tag (Taguette), a theme or a name.
    alias = next((a for a in aliases if a in fields), None)
    if alias is None:
        raise CodebookError(f"{path}: codebook CSV needs a 'code' column (found: {', '.join(fields) or 'none'})")
    rows = []
    for n, raw in enumerate(reader, start=2):
        row = {header_name(k): v for k, v in raw.items() if k is not None}
        row["code"] = row.get(alias)
        row["_where"] = f"row {n}"
        rows.append(row)
    return rows


def _rows_from_yaml(path: Path, text: str) -> list[dict]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except RecursionError as exc:  # deep nesting or a self-referencing anchor
        raise CodebookError(f"{path}: YAML nested too deeply to be a codebook") from exc
    except yaml.YAMLError as exc:
        raise CodebookError(f"{path}: malformed YAML ({str(exc).splitlines()[0]})") from exc
    items = data.get("codes") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise CodebookError(f"{path}: YAML codebook needs a 'codes:' list")
    rows: list[dict] = []

    def walk(items: list, parent: str | None, where: str) -> None:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise CodebookError(f"{path}: {where}[{i}] is not a mapping with a 'code'")
            row = {k: v for k, v in item.items() if k != "children"}
            if parent is not None and not row.get("parent") and not row.get("group"):
                row["parent"] = parent
            row["_where"] = f"{where}[{i}]"
            rows.append(row)
            children = item.get("children") or []
            if not isinstance(children, list):
                raise CodebookError(f"{path}: children of {row.get('code')!r} must be a list")
            walk(children, _text(row.get("code")) or None, f"{row['_where']}.children")

    walk(items, None, "codes")
    return rows


def _build(path: Path, rows: list[dict], name: str) -> Codebook:
    codes: list[Code] = []
    seen: dict[str, tuple[str, tuple]] = {}
    groups: list[str] = []
    for row in rows:
        if all(not _text(v) for k, v in row.items() if k != "_where"):
            continue  # a row of empty cells (",,,"), as spreadsheets export them
        code = clean_name(_text(row.get("code") or row.get("name")))
        if not code:
            raise CodebookError(f"{path}: {row['_where']}: empty code")
        parent = clean_name(_text(row.get("parent"))) or None
        group = clean_name(_text(row.get("group") or row.get("meta_theme") or row.get("category"))) or None
        entry = Code(
            code=code,
            parent=parent,
            description=_text(row.get("description") or row.get("definition")),
            inclusion=_text(row.get("inclusion")),
            exclusion=_text(row.get("exclusion")),
            examples=_split_examples(row.get("examples")),
        )
        signature = (group, *asdict(entry).values())
        signature = tuple(tuple(v) if isinstance(v, list) else v for v in signature)
        if code in seen:
            first, first_signature = seen[code]
            if signature == first_signature:
                continue  # the same row twice (a copy-paste): nothing to decide
            raise CodebookError(
                f"{path}: {row['_where']}: duplicate code {code!r}, different from the first (at {first})"
            )
        seen[code] = (row["_where"], signature)
        if group == code:  # a theme listed as its own group is a top-level code
            group = None
        if parent is None and group is not None:
            entry.parent = group
            if group not in groups:
                groups.append(group)
        codes.append(entry)
    if not codes:
        raise CodebookError(f"{path}: codebook has no codes")
    # A `group` names a meta-theme that may not be a row of its own: create it.
    implied = [Code(code=g) for g in groups if g not in seen]
    codes = implied + codes
    names = {c.code for c in codes}
    by_name = {c.code: c for c in codes}
    for c in codes:
        if c.parent is not None and c.parent not in names:
            raise CodebookError(f"{path}: code {c.code!r} has unknown parent {c.parent!r}")
        if c.parent == c.code:
            raise CodebookError(f"{path}: code {c.code!r} is its own parent")
    for c in codes:
        chain, parent = {c.code}, c.parent
        while parent:
            if parent in chain:
                raise CodebookError(f"{path}: codes {sorted(chain)} form a cycle of parents")
            chain.add(parent)
            parent = by_name[parent].parent
    return Codebook(name=name, codes=codes)


def store_codebook(con: sqlite3.Connection, codebook: Codebook, source: str | Path | None = None) -> tuple[int, bool]:
    """Store a codebook; returns (version, created). An unchanged codebook keeps its version."""
    rows = [
        {"code": c.code, "parent": c.parent, "description": c.description, "inclusion": c.inclusion,
         "exclusion": c.exclusion, "examples": c.examples}
        for c in codebook.codes
    ]
    return store_version(con, codebook.name, codebook.content_hash, str(source) if source else None, rows)


def load_stored_codebook(con: sqlite3.Connection, version: int | None = None) -> tuple[int, Codebook]:
    """The stored codebook of a version (default: the latest)."""
    if version is None:
        version = latest_version(con)
        if version is None:
            raise CodebookError("the project has no codebook yet; load one with `nlp-theming codebook PROJECT FILE`")
    stored = read_version(con, version)
    if stored is None:
        raise CodebookError(f"no codebook version {version} in this project")
    name, codes = stored
    return version, Codebook(name, [
        Code(c["code"], c["parent"], c["description"], c["inclusion"], c["exclusion"], c["examples"]) for c in codes
    ])
