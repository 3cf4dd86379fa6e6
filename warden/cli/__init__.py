"""The ``warden`` command line: one module per command group; ``main`` parses and dispatches."""

from warden.cli.main import main

__all__ = ["main"]
