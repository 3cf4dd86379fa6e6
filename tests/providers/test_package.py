"""The package rule: ``warden.providers`` imports the standard library and itself, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import warden.providers

SOURCES = sorted(Path(warden.providers.__file__).parent.glob("*.py"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_imports_only_stdlib_and_relative(source: Path) -> None:
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"{source.name}: {name}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_module_says_what_it_owns(source: Path) -> None:
    docstring = ast.get_docstring(ast.parse(source.read_text()))
    assert docstring and len(docstring.splitlines()[0]) > 20


def test_public_api() -> None:
    assert sorted(warden.providers.__all__) == sorted(
        [
            "JSON_STRING",
            "Catalog",
            "ParsedRequest",
            "Service",
            "StreamEvent",
            "StreamParser",
            "TextSegment",
            "Usage",
            "parse_request",
            "parse_usage",
            "rewrite_request",
            "stream_parser_for",
        ]
    )
