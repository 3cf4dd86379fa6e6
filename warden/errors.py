"""OperatorError: the one base of the errors an operator meets, naming the cause and the fix.

After sigstore's errors: ``message`` names the cause (and the path or value concerned),
``fix`` is the action that resolves it, and ``diagnostics()`` puts both in the words an
operator's terminal or log shows. Neither ever holds key material or a secret. Shared by
the domain packages (audit, identity) like ``keyfiles``: it imports nothing. ``certs``
keeps its own ``CAError`` of the same shape: that package imports nothing of ours at all
(tests/certs/test_certs_boundaries.py), so it can be used on its own.
"""

from __future__ import annotations


class OperatorError(Exception):
    """An operation failed in a way the operator can fix; see the module docstring."""

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def diagnostics(self) -> str:
        """Cause and fix, ready to print to an operator's terminal or log."""
        return f"{self.message}\n\nTo fix this: {self.fix}"
