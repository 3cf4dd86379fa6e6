"""How decisions and outcomes look: a symbol and a style each, so colour is never the only cue.

Styles are Rich style strings (Textual's DataTable renders Rich text in its cells); the
palette stays within the sixteen ANSI colours so that every terminal theme shows it.
"""

from __future__ import annotations

from typing import Final

from rich.text import Text

#: outcome -> (symbol, style)
OUTCOME_LOOK: Final[dict[str, tuple[str, str]]] = {
    "allowed": ("✓", "green"),
    "redacted": ("✎", "yellow"),
    "blocked": ("✗", "bold red"),
    "coached": ("!", "magenta"),
    "over_quota": ("⧖", "magenta"),
    "upstream_error": ("⚠", "red"),
    "client_abort": ("↯", "bright_black"),
    "refused_host": ("⊘", "red"),
    "unauthenticated": ("?", "yellow"),
    "dlp_error": ("⚠", "bold red"),
    "policy_error": ("⚠", "bold red"),
    "audit_error": ("⚠", "bold red"),
    "gateway_error": ("⚠", "bold red"),
    "ok": ("✓", "green"),
    "failed": ("✗", "red"),
    "denied": ("✗", "red"),
}
#: decision action -> (symbol, style)
DECISION_LOOK: Final[dict[str, tuple[str, str]]] = {
    "allow": ("●", "green"),
    "redact": ("◐", "yellow"),
    "block": ("■", "bold red"),
    "coach": ("▲", "magenta"),
}
DECISIONS: Final = tuple(DECISION_LOOK)


def outcome_text(outcome: str) -> Text:
    symbol, style = OUTCOME_LOOK.get(outcome, ("·", ""))
    return Text(f"{symbol} {outcome}", style=style)


def decision_text(action: str | None) -> Text:
    if action is None:
        return Text("-", style="bright_black")
    symbol, style = DECISION_LOOK.get(action, ("·", ""))
    return Text(f"{symbol} {action}", style=style)
