"""A gateway stand-in for ``test_pool``: starts a ``DlpRunner`` (no ``lifeline``: the end of
file on each worker's socket alone must stop it), prints its workers' pids, then waits to
be killed.

    python -m tests.dlp.orphan
"""

from __future__ import annotations

import asyncio
import multiprocessing

from warden.dlp import DlpProfile, DlpRunner


async def main() -> None:
    profiles = {"p": DlpProfile.model_validate({"entities": {"EMAIL_ADDRESS": "redact"}})}
    runner = DlpRunner(profiles, workers=2)
    await runner.start()
    print(" ".join(str(child.pid) for child in multiprocessing.active_children()), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
