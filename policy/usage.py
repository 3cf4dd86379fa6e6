"""Token usage for quotas when the provider reports none: an estimate from text length.

The estimate is ``ceil(characters / 4)`` per text (OpenAI's rule of thumb for English;
code and non-Latin scripts run higher, so it undercounts them), summed over the prompt's
text segments for input and over the streamed answer text for output. Counts computed
this way are marked ``estimated`` wherever they go (counters, audit record).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..providers.shapes import Usage

CHARS_PER_TOKEN = 4


def estimate_tokens(texts: Iterable[str]) -> int:
    """Estimated tokens of ``texts``: each text's characters / 4, rounded up."""
    return sum(-(-len(t) // CHARS_PER_TOKEN) for t in texts)


def usage_or_estimate(
    reported: Usage | None, prompt_texts: Iterable[str], answer_texts: Iterable[str]
) -> Usage:
    """The provider's usage where it gave both counts, else estimates for what is missing."""
    given_in = reported.input_tokens if reported else None
    given_out = reported.output_tokens if reported else None
    if given_in is not None and given_out is not None:
        return reported if reported is not None else Usage(given_in, given_out)
    tokens_in = given_in if given_in is not None else estimate_tokens(prompt_texts)
    tokens_out = given_out if given_out is not None else estimate_tokens(answer_texts)
    return Usage(tokens_in, tokens_out, estimated=True)
