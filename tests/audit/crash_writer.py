"""Child process of the SIGKILL test: writes records forever, printing each seq once committed.

Run as ``python -m tests.audit.crash_writer DB KEY_DIR``. A line on stdout means "the
client saw this flow answered": it is printed only after the record's future resolved.
"""

from __future__ import annotations

import concurrent.futures
import sys
from pathlib import Path

from warden.audit import (
    AuditLog,
    AuditWriter,
    CheckpointPolicy,
    CheckpointSigner,
    load_or_create_signing_key,
)

from .conftest import flow_record


def main(db: Path, key_dir: Path) -> None:
    signer = CheckpointSigner(load_or_create_signing_key(key_dir))
    policy = CheckpointPolicy(every_records=100, every_seconds=0.2, heartbeat_seconds=0.5)
    writer = AuditWriter(AuditLog.open(db), signer=signer, policy=policy)
    writer.start()
    n = 0
    while True:
        batch = [
            writer.submit(flow_record(("acme", "globex", "initech")[i % 3], n + i))
            for i in range(64)
        ]
        n += 64
        for future in concurrent.futures.as_completed(batch):
            sys.stdout.write(f"{future.result().seq}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
