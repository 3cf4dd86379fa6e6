"""The one error type of the CA lifecycle, with the operator-facing fix."""

from __future__ import annotations

from warden.errors import OperatorError


class CAError(OperatorError):
    """A CA operation failed; `diagnostics()` tells the operator what to do.

    The message names the cause (and the path or value concerned); `fix` is the action
    that resolves it. Neither ever contains key material.
    """
