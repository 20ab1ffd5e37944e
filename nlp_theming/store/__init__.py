"""The store layer: the one place SQL is written, at the bottom of every stage.

* :mod:`.schema`: the schema (see ``docs/schema.md``), connections, transactions, project meta.
* :mod:`.documents`: documents, their attributes, turns, cues and segments; re-marking the
  interviewer; a stored :class:`~nlp_theming.transcript.Transcript` back; document and segment tables.
* :mod:`.codebooks`: codebook versions and their codes, as rows.
* :mod:`.runs`: suggestion runs, the suggestion table with one review-status word, the
  operating threshold.
* :mod:`.decisions`: the append-only decision log and the coding derived from it.

Stages import from here and never from each other upwards.
"""

from .schema import (
    DB_NAME,
    SCHEMA,
    SCHEMA_VERSION,
    ProjectError,
    connect,
    db_path,
    get_meta,
    init_project,
    now,
    open_project,
    set_meta,
    transaction,
)

__all__ = [
    "DB_NAME",
    "SCHEMA",
    "SCHEMA_VERSION",
    "ProjectError",
    "connect",
    "db_path",
    "get_meta",
    "init_project",
    "now",
    "open_project",
    "set_meta",
    "transaction",
]
