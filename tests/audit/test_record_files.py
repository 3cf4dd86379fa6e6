"""The record's ``files``: additive (a record without files has no key, so older records
keep their hash), validated item by item, exact round trip."""

from __future__ import annotations

from typing import Any

import pytest

from warden.audit import AuditRecord, AuditRecordError
from warden.audit.canonical import canonical_json
from warden.audit.record import MAX_FILES, FileRecord

from .conftest import flow_record

PDF = FileRecord(
    name="q3.pdf",
    kind="pdf",
    media_type="application/pdf",
    declared_type="text/plain",
    size=1395,
    sha256="a" * 64,
    partial=False,
    text_chars=52,
    verdict="blocked",
    reason="The file contains AWS_ACCESS_KEY_ID, which must not be sent to AI services.",
)


def test_round_trip_with_files() -> None:
    record = flow_record(files=(PDF,))
    data = record.to_dict()
    assert data["files"][0]["sha256"] == "a" * 64 and data["files"][0]["verdict"] == "blocked"
    assert AuditRecord.from_dict(data) == record


def test_a_record_without_files_is_as_before() -> None:
    record = flow_record()
    data = record.to_dict()
    assert "files" not in data
    assert canonical_json(data) == canonical_json(AuditRecord.from_dict(data).to_dict())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sha256": "A" * 64}, "files.sha256"),
        ({"sha256": "ab"}, "files.sha256"),
        ({"size": -1}, "files.size"),
        ({"verdict": "maybe"}, "files.verdict"),
        ({"kind": "has space"}, "files.kind"),
        ({"name": "x" * 600}, "files.name"),
        ({"reason": "line\nbreak"}, "files.reason"),
    ],
)
def test_invalid_file_fields_are_named(change: dict[str, Any], field: str) -> None:
    data = {**flow_record(files=(PDF,)).to_dict()}
    data["files"] = [{**data["files"][0], **change}]
    with pytest.raises(AuditRecordError) as caught:
        AuditRecord.from_dict(data)
    assert field in str(caught.value)


def test_files_are_bounded_and_an_empty_list_is_refused() -> None:
    with pytest.raises(AuditRecordError, match=f"the limit is {MAX_FILES}"):
        flow_record(files=(PDF,) * (MAX_FILES + 1))
    data = flow_record().to_dict()
    data["files"] = []
    with pytest.raises(AuditRecordError, match="non-empty list"):
        AuditRecord.from_dict(data)
