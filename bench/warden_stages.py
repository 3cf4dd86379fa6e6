"""Bench only: ``warden run`` with some of its stages left out, to price each one.

Usage: ``python bench/warden_stages.py STAGE[,STAGE...] -- warden run arguments``.
Runs the real gateway (same config, same mitmproxy set-up, same audit writer process)
but keeps only the named stages of the addon chain in the pipeline. Nothing here is
reachable from the product: the gateway has no switch to drop a stage.
"""

from __future__ import annotations

import sys

from warden.cli import main
from warden.gateway import stages


def _keep_only(names: set[str]) -> None:
    full_chain = stages.chain

    def chain(*args: object, **kwargs: object) -> list[object]:
        return [a for a in full_chain(*args, **kwargs) if type(a).__name__ in names]  # type: ignore[arg-type]

    stages.chain = chain  # the gateway calls stages.chain(...)


if __name__ == "__main__":
    names, rest = sys.argv[1], sys.argv[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    _keep_only(set(names.split(",")))
    sys.argv = ["warden", *rest]
    sys.exit(main())
