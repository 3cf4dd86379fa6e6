"""The one error type of the CA lifecycle, with the operator-facing fix."""

from __future__ import annotations


class CAError(Exception):
    """A CA operation failed; `diagnostics()` tells the operator what to do.

    The message names the cause (and the path or value concerned); `fix` is the action
    that resolves it. Neither ever contains key material.
    """

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def diagnostics(self) -> str:
        """Cause and fix, ready to print to an operator's terminal."""
        return f"{self.message}\n\nTo fix this: {self.fix}"
