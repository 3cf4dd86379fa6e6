"""The one error type of the state database, with the operator-facing fix."""

from __future__ import annotations


class StateError(Exception):
    """The state database cannot be opened or migrated; ``diagnostics()`` says what to do.

    The message names the cause (the file, the domain, the versions); ``fix`` is the action
    that resolves it. Neither ever contains a DSN's password.
    """

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(f"{message}. {fix}")
        self.message = message
        self.fix = fix

    def diagnostics(self) -> str:
        """Cause and fix, ready to print to an operator's terminal."""
        return f"{self.message}\n\nTo fix this: {self.fix}"
