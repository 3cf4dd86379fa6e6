"""What `verify` can find wrong with an audit chain: `FindingKind` and `Finding`."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FindingKind(enum.StrEnum):
    """How a chain was tampered with (or, for ``broken_link``, that it cannot say how)."""

    EDITED = "edited"  # a record's content (or an indexed column) no longer matches its hash
    DELETED = "deleted"  # records are missing from the middle or start of the chain
    REORDERED = "reordered"  # records are out of their chain order
    INSERTED = "inserted"  # a record that the log did not write at that place
    TRUNCATED = "truncated"  # records after the last remaining one are gone
    BAD_SIGNATURE = "bad_signature"  # a checkpoint (or anchor) is not signed by the given key
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the chain differs from a signed head
    BROKEN_LINK = "broken_link"  # a record does not link to its predecessor, cause unclear


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one tenant's chain, naming the record concerned where there is one.

    ``seq`` and ``record_id`` name a stored record; ``tenant_seq`` is its place in the
    chain (for a deletion: the first missing number). ``other_seq`` names the second
    record of a reordered pair.
    """

    tenant: str
    kind: FindingKind
    message: str
    seq: int | None = None
    tenant_seq: int | None = None
    record_id: str | None = None
    other_seq: int | None = None

    def describe(self) -> str:
        where = f" seq {self.seq}" if self.seq is not None else ""
        if self.record_id is not None:
            where += f" (record {self.record_id})"
        return f"[{self.tenant}] {self.kind.value}{where}: {self.message}"
