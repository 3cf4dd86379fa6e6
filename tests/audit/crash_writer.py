"""Child process of the SIGKILL test: writes records forever, printing each seq once committed.

Run as ``python -m tests.audit.crash_writer DB KEY_DIR``. A line on stdout means "the
client saw this flow answered": it is printed only after the record's batch committed,
through the group commit and checkpoint schedule the audit writer process runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from warden.audit import (
    Appended,
    AuditLog,
    CheckpointPolicy,
    CheckpointSigner,
    load_or_create_signing_key,
)
from warden.audit.writer import CheckpointScheduler, commit_batch

from .conftest import flow_record

TENANTS = ("acme", "globex", "initech")


def main(db: Path, key_dir: Path) -> None:
    signer = CheckpointSigner(load_or_create_signing_key(key_dir))
    policy = CheckpointPolicy(every_records=100, every_seconds=0.2, heartbeat_seconds=0.5)
    log = AuditLog.open(db)
    schedule = CheckpointScheduler(log, signer, policy)
    schedule.start()
    n = 0
    while True:
        batch = [flow_record(TENANTS[i % 3], n + i) for i in range(64)]
        n += 64
        outcomes = commit_batch(log, batch)
        schedule.after_batch(TENANTS)
        for outcome in outcomes:
            assert isinstance(outcome, Appended)
            sys.stdout.write(f"{outcome.seq}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
