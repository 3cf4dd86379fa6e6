"""Walking one tenant's stored chain and saying which record is wrong and how (pure).

The walk reads rows in chain order (``tenant_seq``, then ``seq``) once, keeping only the
last accepted row and one row of look-ahead, so it runs in constant memory over any
size of log. It recomputes every hash and classifies what does not fit:

- a record that links to its predecessor but not to its own hash: **edited**;
- a record that is intact but whose predecessor's hash changed: that predecessor was
  **edited** and re-hashed;
- a jump in numbering: **deleted** (also a deletion with the later records renumbered,
  found by the record's hash matching a higher number);
- two neighbours each linking to the other's predecessor: a **reordered** pair; a record
  stored (``seq``) before one that precedes it in the chain: **reordered**;
- a record the next one links past, or a second record with a number already used, or a
  record that neither links nor hashes: **inserted**.

Hashes at the numbers of signed checkpoints are collected for `verify` to compare.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final

from .canonical import canonical_record, chain_hash
from .errors import AuditRecordError
from .findings import Finding, FindingKind
from .record import AuditRecord
from .store import INDEXED_COLUMNS, Head, indexed_values

#: How far a renumbered deletion is searched for: up to this many records removed at once.
MAX_RENUMBER_SEARCH: Final = 64


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One ``records`` row as stored (the raw columns, nothing parsed)."""

    seq: int
    tenant: str
    tenant_seq: int
    record_id: str
    body: str
    prev_hash: bytes
    hash: bytes
    indexed: tuple[str | None, ...]


@dataclass(slots=True)
class WalkResult:
    findings: list[Finding] = field(default_factory=list)
    #: The chain's last number (``start`` when there is no record).
    tail: int = 0
    rows: int = 0
    #: Hash of the accepted record at each requested checkpoint number.
    hashes_at: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Accepted:
    pos: int
    row: ChainRow
    head_before: bytes
    max_seq_before: int


def body_problems(tenant: str, row: ChainRow) -> list[str]:
    """What is wrong with a row's body and copied columns, apart from the chain."""
    try:
        record = AuditRecord.from_dict(json.loads(row.body))
    except (ValueError, AuditRecordError) as exc:
        return [f"its body is not a valid audit record ({exc})"]
    problems: list[str] = []
    if canonical_record(record) != row.body.encode("utf-8"):
        problems.append("its body is not in canonical form")
    if record.tenant != tenant:
        problems.append(f"it is stored under tenant {tenant!r} but its body says {record.tenant!r}")
    if record.record_id != row.record_id:
        problems.append(
            f"its record_id column says {row.record_id} but its body says {record.record_id}"
        )
    for name, stored, actual in zip(
        INDEXED_COLUMNS, row.indexed, indexed_values(record), strict=True
    ):
        if stored != actual:
            problems.append(f"its {name} column says {stored!r} but its body says {actual!r}")
    return problems


class _Walk:
    def __init__(self, tenant: str, start: Head, checkpoint_at: Collection[int]) -> None:
        self.tenant = tenant
        self.start = start
        self.checkpoint_at = checkpoint_at
        self.expected = start.tenant_seq + 1
        self.head = start.hash
        self.offset = 0
        self.max_seq = -(2**63)
        self.last: _Accepted | None = None
        self.result = WalkResult(tail=start.tenant_seq)
        self._reported: set[tuple[FindingKind, int | None]] = set()

    def report(
        self, kind: FindingKind, row: ChainRow | None, message: str, **extra: int | None
    ) -> None:
        key = (kind, row.seq if row else extra.get("tenant_seq"))
        if key in self._reported:
            return
        self._reported.add(key)
        self.result.findings.append(
            Finding(
                self.tenant,
                kind,
                message,
                seq=row.seq if row else None,
                tenant_seq=extra.pop("tenant_seq", row.tenant_seq if row else None),
                record_id=row.record_id if row else None,
                **extra,
            )
        )

    def hashes(self, row: ChainRow, pos: int) -> bool:
        return chain_hash(self.tenant, pos, row.prev_hash, row.body.encode("utf-8")) == row.hash

    def accept(self, row: ChainRow, pos: int, *, check_order: bool = True) -> None:
        if check_order and row.seq < self.max_seq:
            self.report(
                FindingKind.REORDERED,
                row,
                f"it is number {pos} of the chain but is stored before seq {self.max_seq}, "
                "which comes earlier in the chain",
            )
        self.last = _Accepted(pos, row, self.head, self.max_seq)
        self.head = row.hash
        self.expected = pos + 1
        self.max_seq = max(self.max_seq, row.seq)
        if pos in self.checkpoint_at:
            self.result.hashes_at[pos] = row.hash

    def content(self, row: ChainRow, pos: int, problems: list[str]) -> None:
        """Report an edit of ``row`` if its hash or its body/columns do not hold."""
        if not self.hashes(row, pos):
            detail = "; ".join(problems) if problems else "the body or prev_hash was changed"
            self.report(
                FindingKind.EDITED, row, f"its content no longer matches its hash: {detail}"
            )
        elif problems:
            self.report(FindingKind.EDITED, row, "; ".join(problems))

    def step(self, row: ChainRow, peek: ChainRow | None) -> bool:
        """Check ``row``; True when the look-ahead ``peek`` was consumed with it."""
        problems = body_problems(self.tenant, row)
        pos = row.tenant_seq + self.offset
        last = self.last
        if pos < self.expected:
            if (
                last is not None
                and pos == last.pos
                and row.prev_hash == last.head_before
                and self.hashes(row, pos)
                and peek is not None
                and peek.prev_hash == row.hash
            ):
                self.report(
                    FindingKind.INSERTED,
                    last.row,
                    f"it takes number {pos}, which belongs to seq {row.seq}: "
                    "the next record links to that one",
                )
                self._replace_last(row, pos, problems)
            else:
                self.report(
                    FindingKind.INSERTED,
                    row,
                    f"it carries number {row.tenant_seq}, which the chain already has"
                    + (f" (seq {last.row.seq})" if last else ""),
                )
            return False
        if pos > self.expected:
            self.report(
                FindingKind.DELETED,
                row,
                f"records number {self.expected}..{pos - 1} are missing before it",
                tenant_seq=self.expected,
            )
            self.head = row.prev_hash
            self.last = None
        if row.prev_hash == self.head:
            self.content(row, pos, problems)
            self.accept(row, pos)
            return False
        if (
            peek is not None
            and peek.tenant_seq + self.offset == pos + 1
            and peek.prev_hash == self.head
            and row.prev_hash == peek.hash
        ):
            self.report(
                FindingKind.REORDERED,
                peek,
                f"it and seq {row.seq} are in each other's place: it is number {pos} of the chain, "
                f"seq {row.seq} is number {pos + 1}",
                other_seq=row.seq,
                tenant_seq=pos,
            )
            self.content(peek, pos, body_problems(self.tenant, peek))
            self.content(row, pos + 1, problems)
            self.accept(peek, pos, check_order=False)
            self.accept(row, pos + 1, check_order=False)
            return True
        if last is not None and row.prev_hash == last.head_before:
            self.report(
                FindingKind.INSERTED,
                last.row,
                f"the next record (seq {row.seq}) links past it to the record before",
            )
            self.offset -= 1
            self._replace_last(row, pos - 1, problems)
            return False
        if self.hashes(row, pos):
            if last is not None:
                self.report(
                    FindingKind.EDITED,
                    last.row,
                    f"it was replaced and re-hashed: the next record (seq {row.seq}) still links "
                    "to the original",
                )
            else:
                self.report(
                    FindingKind.BROKEN_LINK,
                    row,
                    "it does not link to the start of the chain (genesis or retention anchor)",
                )
            self.content(row, pos, problems)
            self.accept(row, pos)
            return False
        for gap in range(1, MAX_RENUMBER_SEARCH + 1):
            if self.hashes(row, pos + gap):
                self.report(
                    FindingKind.DELETED,
                    row,
                    f"{gap} record(s) before it were deleted and the later ones renumbered "
                    f"(it is stored as number {row.tenant_seq} but was written as {pos + gap})",
                    tenant_seq=pos,
                )
                self.offset += gap
                if problems:
                    self.report(FindingKind.EDITED, row, "; ".join(problems))
                self.accept(row, pos + gap)
                return False
        self.report(
            FindingKind.INSERTED,
            row,
            "it neither links to the record before it nor matches its own hash: "
            "the log did not write it here",
        )
        self.accept(row, pos)
        return False

    def _replace_last(self, row: ChainRow, pos: int, problems: list[str]) -> None:
        """The last accepted row was inserted: put ``row`` in its place."""
        assert self.last is not None
        forged = self.last.row.seq
        # Being out of storage order was a symptom of the insertion, not a second finding.
        self.result.findings = [
            f
            for f in self.result.findings
            if not (f.kind is FindingKind.REORDERED and f.seq == forged)
        ]
        self.head = self.last.head_before
        self.max_seq = self.last.max_seq_before
        self.result.hashes_at.pop(pos, None)
        self.content(row, pos, problems)
        self.accept(row, pos)


def walk_chain(
    tenant: str, rows: Iterable[ChainRow], start: Head, checkpoint_at: Collection[int] = ()
) -> WalkResult:
    """Check ``rows`` (one tenant, ordered by ``tenant_seq`` then ``seq``) from ``start``."""
    walk = _Walk(tenant, start, checkpoint_at)
    iterator = iter(rows)
    row = next(iterator, None)
    while row is not None:
        peek = next(iterator, None)
        took_peek = walk.step(row, peek)
        walk.result.rows += 2 if took_peek else 1
        row = next(iterator, None) if took_peek else peek
    walk.result.tail = walk.expected - 1
    return walk.result
