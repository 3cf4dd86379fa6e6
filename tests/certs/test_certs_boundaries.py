"""certs/ keeps to its architectural boundary: no mitmproxy, no other warden package."""

from __future__ import annotations

import ast
from pathlib import Path

import warden.certs

SOURCE = Path(warden.certs.__file__).parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_library_code_never_imports_mitmproxy_or_siblings() -> None:
    modules = sorted(SOURCE.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        for name in _imports(path):
            root = name.split(".")[0]
            assert root not in {"mitmproxy", "OpenSSL", "warden"}, f"{path.name}: {name}"
