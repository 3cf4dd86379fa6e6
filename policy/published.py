"""The policy version in force across a fleet: published documents, newest first.

A fleet on PostgreSQL keeps one policy in force for all its instances. Each publication
is a row holding three things, and each has its reason:

- the **document** itself, as its author wrote it (YAML, comments kept): instances run on
  other hosts and cannot read the file of the one where the change was made, so a hash
  alone would only let them notice that they differ, never converge; and a newly started
  instance must be able to take the version in force with nothing but the database;
- its **sha256** (of the UTF-8 bytes): checked before the text is parsed, so a row damaged
  or altered outside warden is refused as such, not read as another policy;
- the **version** its publisher computed (``policy_version``, the canonical hash that audit
  records name): an instance that reads the same document as another version (a different
  release filling other defaults) refuses it, so no record names a version nobody
  published.

Rows are only appended (the ``serial`` orders them); the newest is in force, and the ones
before it say who published what and when. ``PublishedPolicies`` speaks the ``sqlite3``
connection surface the state database presents (warden/gateway/state/postgres.py) and never runs
on the event loop: it is called from the change listener's thread and the reload thread.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

TABLE = "policy_published"

#: Largest document accepted from the database: a policy is a few kilobytes; the bound
#: keeps a damaged or hostile row from costing more than a hash and a length check.
MAX_DOCUMENT_BYTES = 1 << 20

# The table, step by step (see warden.gateway.state.migrate). Released steps are never edited.
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "published policy documents, the newest in force across the fleet",
        (
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    serial          {{rowid}},
    version         TEXT    NOT NULL,  -- policy_version() its publisher computed
    document_sha256 TEXT    NOT NULL,  -- hex sha256 of the document's UTF-8 bytes
    document        TEXT    NOT NULL,  -- the policy YAML as its author wrote it
    published_at    {{float}} NOT NULL,  -- epoch seconds
    published_by    TEXT    NOT NULL   -- the publishing instance (host:control port)
)""",
        ),
    ),
)


def document_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PublishedPolicy:
    serial: int
    version: str
    document_sha256: str
    document: str
    published_at: float
    published_by: str

    def problems(self) -> list[str]:
        """Why this row cannot be taken as it is (empty: its document may be validated)."""
        size = len(self.document.encode("utf-8", "surrogatepass"))
        if size > MAX_DOCUMENT_BYTES:
            return [
                f"published policy #{self.serial} is {size} bytes, over the "
                f"{MAX_DOCUMENT_BYTES}-byte limit: publish a smaller document"
            ]
        if document_sha256(self.document) != self.document_sha256:
            return [
                f"published policy #{self.serial} does not match its sha256 (altered or "
                "damaged in the database): publish the policy again from its file "
                "(edit it, or `systemctl reload` the instance that has it)"
            ]
        return []


_COLUMNS = "serial, version, document_sha256, document, published_at, published_by"


class PublishedPolicies:
    """The ``policy_published`` table; ``conn`` is the state database's connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def latest(self) -> PublishedPolicy | None:
        """The version in force (the highest serial), or None if nothing was published."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY serial DESC LIMIT 1"  # noqa: S608 - constants
        ).fetchone()
        if row is None:
            return None
        serial, version, sha, document, at, by = row
        return PublishedPolicy(
            int(serial), str(version), str(sha), str(document), float(at), str(by)
        )

    def publish(self, version: str, document: str, now: float, by: str) -> int | None:
        """Put ``document`` in force for the fleet; its serial. When the version in force
        already is this very document (two instances publishing one edit), nothing is
        added and that row's serial is returned; None if another one overtook it."""
        sha = document_sha256(document)
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.execute(
                f"INSERT INTO {TABLE} (version, document_sha256, document, published_at,"  # noqa: S608 - constants
                " published_by) SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM"
                f" {TABLE} WHERE serial = (SELECT MAX(serial) FROM {TABLE})"
                " AND document_sha256 = ?)",
                (version, sha, document, now, by, sha),
            )
            row = self._conn.execute(
                f"SELECT serial, document_sha256 FROM {TABLE} ORDER BY serial DESC LIMIT 1"  # noqa: S608 - constants
            ).fetchone()
        if row is None or str(row[1]) != sha:
            return None
        return int(row[0])
