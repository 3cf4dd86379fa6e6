"""The errors a DLP scan can end in; the redact addon fails the flow closed on each of them
unless the profile's ``on_error`` says ``allow``."""

from __future__ import annotations


class DlpError(Exception):
    """The scan could not be made (engine error, worker crash). ``diagnostics()`` tells the
    operator what to do; ``str()`` is a fixed sentence safe to show a user (no prompt text)."""

    hint = "Check the proxy's log for the DLP worker's error; the pool restarts by itself."

    def diagnostics(self) -> str:
        return f"{self}. {self.hint}"


class DlpBusy(DlpError):
    """Too many scans in flight: the request was refused at once instead of queueing."""

    hint = "Raise dlp.max_in_flight or dlp.workers, or add proxy capacity."


class DlpTimeout(DlpError):
    """A scan took longer than the per-request timeout."""

    hint = (
        "Raise dlp.timeout_seconds if prompts are very large, or check for a custom pattern "
        "that backtracks badly."
    )


class ProfileError(ValueError):
    """DLP profiles that are not valid; ``errors`` lists every problem, not only the first."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid DLP profiles:\n" + "\n".join(f"  - {e}" for e in errors))
