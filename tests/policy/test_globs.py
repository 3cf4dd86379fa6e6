"""Glob matchers (hot path) and the glob relations lint relies on."""

from __future__ import annotations

import pytest

from warden.policy.globs import compile_globs, glob_covers, globs_overlap


@pytest.mark.parametrize(
    ("patterns", "subject", "expected"),
    [
        (["gpt-4o"], "gpt-4o", True),
        (["gpt-4o"], "gpt-4o-mini", False),
        (["GPT-4o*"], "gpt-4o-mini", True),
        (["*_token"], "github_token", True),
        (["*_token"], "token", False),
        (["o[34]-mini"], "o4-mini", True),
        (["o[34]-mini"], "o1-mini", False),
        (["claude-?-haiku"], "claude-3-haiku", True),
        (["a", "b*", "*c"], "xc", True),
        (["*"], "anything", True),
    ],
)
def test_compile_globs(patterns: list[str], subject: str, expected: bool) -> None:
    assert compile_globs(patterns)(subject.lower()) is expected


def test_relations() -> None:
    assert glob_covers("gpt-4*", "gpt-4o-mini") and glob_covers("gpt-4*", "gpt-4o*")
    assert not glob_covers("gpt-4o*", "gpt-4*") and not glob_covers("gpt-4o", "gpt-4o*")
    assert globs_overlap("gpt-4*", "gpt-4o*") and globs_overlap("gpt-4o*", "gpt-4*")
    assert not globs_overlap("gtp-4o", "gpt-4o*")
