"""The instance id: kept in the audit folder, in every record the writer appends, additive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit.conftest import flow_record
from warden.audit import AuditLog, AuditRecord, CheckpointSigner, verify
from warden.audit.canonical import canonical_record
from warden.audit.errors import AuditRecordError
from warden.audit.instance import (
    INSTANCE_FILE,
    InstanceIdError,
    derive_instance_id,
    resolve_instance_id,
)


def test_a_derived_id_is_kept_and_stable_across_restarts(tmp_path: Path) -> None:
    first = resolve_instance_id(tmp_path)
    assert resolve_instance_id(tmp_path) == first
    assert (tmp_path / INSTANCE_FILE).read_text().strip() == first


def test_two_folders_on_one_host_get_different_ids(tmp_path: Path) -> None:
    assert resolve_instance_id(tmp_path / "a") != resolve_instance_id(tmp_path / "b")


@pytest.mark.parametrize(
    ("hostname", "prefix"),
    [("GW-1.corp.example", "gw-1-"), ("", "warden-"), ("_/..__", "warden-"), ("a" * 90, "a" * 40)],
)
def test_derived_ids_are_valid_whatever_the_host_name(hostname: str, prefix: str) -> None:
    derived = derive_instance_id(hostname)
    assert derived.startswith(prefix)
    AuditRecord.new(kind="flow", tenant="acme", outcome="allowed", instance=derived)


def test_the_configured_id_is_used_on_first_start(tmp_path: Path) -> None:
    assert resolve_instance_id(tmp_path, "gw-a") == "gw-a"
    assert resolve_instance_id(tmp_path) == "gw-a"


def test_renaming_an_instance_with_records_is_refused(tmp_path: Path) -> None:
    resolve_instance_id(tmp_path, "gw-a")
    with pytest.raises(InstanceIdError, match="belongs to instance 'gw-a'"):
        resolve_instance_id(tmp_path, "gw-b")


@pytest.mark.parametrize("bad", ["GW-A", "gw a", "-gw", "gw/a", "", "a" * 64, "gw\na", "gw_a"])
def test_an_invalid_configured_id_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InstanceIdError, match="instance id"):
        resolve_instance_id(tmp_path, bad)
    assert not (tmp_path / INSTANCE_FILE).exists()


def test_a_damaged_id_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / INSTANCE_FILE).write_text("../../etc\n")
    with pytest.raises(InstanceIdError, match="does not hold an instance id"):
        resolve_instance_id(tmp_path)
    assert (tmp_path / INSTANCE_FILE).read_text() == "../../etc\n"


@pytest.mark.parametrize("bad", ["GW", "x" * 64, 7, "a\x00b"])
def test_a_record_refuses_a_bad_instance(bad: object) -> None:
    data = flow_record().to_dict()
    data["instance"] = bad
    with pytest.raises(AuditRecordError, match="'instance'"):
        AuditRecord.from_dict(data)


def test_a_record_without_instance_keeps_its_encoding_and_hash() -> None:
    record = flow_record()
    assert "instance" not in record.to_dict()
    assert b'"instance"' not in canonical_record(record)
    named = AuditRecord.from_dict({**record.to_dict(), "instance": "gw-a"})
    assert named.to_dict()["instance"] == "gw-a"
    assert AuditRecord.from_dict(named.to_dict()) == named


def test_the_log_writes_its_instance_into_every_record_and_old_ones_still_verify(
    tmp_path: Path, signer: CheckpointSigner
) -> None:
    db = tmp_path / "audit.db"
    old = AuditLog.open(db)  # a gateway before fleets: no instance
    old.append([flow_record(n=i) for i in range(3)])
    old.close()
    log = AuditLog.open(db, instance="gw-a")
    # a record claiming another instance is written as this writer's
    log.append([flow_record(n=3, instance="gw-b"), flow_record(n=4)])
    log.add_checkpoints(signer, ["acme"], "2025-03-01T13:00:00.000Z")
    bodies = [json.loads(b) for (b,) in log.connection.execute("SELECT body FROM records")]
    log.close()
    assert [b.get("instance") for b in bodies] == [None, None, None, "gw-a", "gw-a"]
    report = verify(db, signer.public_key())
    assert report.ok, report.describe()
    assert report.tenants[0].records == 5


def test_syslog_stays_per_instance_and_names_it() -> None:
    from warden.audit.syslog_format import SyslogFormatter

    data = {**flow_record().to_dict(), "instance": "gw-a"}
    message = SyslogFormatter(hostname="gw", payload="sd-only").record(data)
    assert b'instance="gw-a"' in message
