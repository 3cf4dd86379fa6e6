"""The import rules of the layout (ARCHITECTURE.md, "Layout"), read from the source with ``ast``.

- Domain packages (providers, identity, policy, dlp, audit, console, certs, files) never import
  mitmproxy, and never the composition root's wiring, gateway or command line.
- Addons import only domain packages, each other (their own flow context among them) and
  third-party code: never ``warden.*`` (what they need is passed in when the chain is built).
- Nothing imports the command line but the command line itself.
- ``warden/`` is the composition root only, in four rooms a newcomer finds by name: ``cli/``,
  ``login/`` (the employee's client), ``config/`` (the schema and ``validate_all``) and
  ``gateway/`` (build, run, control plane, metrics, logs, each domain's runtime, the state
  database), beside the few helpers domain packages share.
- The configuration is data: ``warden.config`` imports no mitmproxy, no gateway, no login.

Every import counts, also those inside functions and under ``TYPE_CHECKING``: a rule that
held only at run time would still let the layers grow into each other.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("providers", "identity", "policy", "dlp", "audit", "console", "certs", "files")
#: Top-level folders installed as ``warden.<folder>`` (pyproject's package-dir).
FOLDERS = ("addons", *DOMAIN)
#: Small helpers in warden/ that domain packages share (files with private modes, the
#: worker processes' parent watch, the operator error base, the bounds on every PostgreSQL
#: call); no wiring, no configuration.
SHARED = ("warden.keyfiles", "warden.lifeline", "warden.errors", "warden.pgbounds")


#: What ``warden/`` holds: its rooms (packages) and, beside them, the shared helpers.
ROOMS = ("cli", "config", "gateway", "login")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] != "warden":
        parts.insert(0, "warden")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_cli(module: str) -> bool:
    """The command line: ``warden.cli`` (and below), ``warden.*_cli``, doctor and login."""
    if not module.startswith("warden."):
        return False
    first = module.split(".")[1]
    return first in ("cli", "doctor", "login") or first.endswith("_cli")


def sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            # `from warden import cli` names a module, not an attribute
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("source", sources(*DOMAIN), ids=_id)
def test_domain_packages_import_no_mitmproxy_and_no_wiring(source: Path) -> None:
    for line, name in imports(source):
        assert name.split(".")[0] != "mitmproxy", f"{_id(source)}:{line}: imports {name}"
        if name.startswith("warden.") and name.split(".")[1] not in FOLDERS:
            assert name.startswith(SHARED), f"{_id(source)}:{line}: imports {name}"


@pytest.mark.parametrize("source", sources("addons"), ids=_id)
def test_addons_import_only_domain_packages_and_themselves(source: Path) -> None:
    for line, name in imports(source):
        if name == "warden" or not name.startswith("warden."):
            continue
        assert name.split(".")[1] in FOLDERS, f"{_id(source)}:{line}: imports {name}"


@pytest.mark.parametrize("source", sources("warden", *FOLDERS), ids=_id)
def test_nothing_imports_the_command_line(source: Path) -> None:
    if is_cli(module_name(source)):
        return
    for line, name in imports(source):
        assert not is_cli(name), f"{_id(source)}:{line}: imports the command line ({name})"


def test_warden_holds_only_its_rooms_and_the_shared_helpers() -> None:
    found = {p.name for p in (ROOT / "warden").iterdir() if p.name != "__pycache__"}
    helpers = {f"{name.split('.')[1]}.py" for name in SHARED}
    assert found == {*ROOMS, *helpers, "__init__.py", "py.typed"}, (
        "a new module in warden/ belongs in one of its rooms (warden/cli, config, gateway, "
        f"login) or in a domain package: {sorted(found - {*ROOMS, *helpers})}"
    )


@pytest.mark.parametrize("source", sources("warden/config"), ids=_id)
def test_the_configuration_imports_no_gateway_and_no_mitmproxy(source: Path) -> None:
    for line, name in imports(source):
        assert name.split(".")[0] != "mitmproxy", f"{_id(source)}:{line}: imports {name}"
        assert not name.startswith(("warden.gateway", "warden.login")), (
            f"{_id(source)}:{line}: imports {name}"
        )


def test_the_walk_resolves_what_the_rules_need() -> None:
    # The walk must resolve relative imports and `from X import module`, or the rules
    # above would pass by seeing nothing.
    names = {n for _, n in imports(ROOT / "addons" / "policy.py")}
    assert "mitmproxy.http" in names
    assert "warden.addons.flowcontext" in names
    assert sources("warden/config") and sources("warden/gateway/state")
    assert is_cli("warden.cli") and is_cli("warden.audit_cli") and not is_cli("warden.config")


#: Lines past which a product module says in its docstring why it is not split (issue 17).
LONG_MODULE = 400


def _long_modules() -> list[Path]:
    return [
        p
        for p in sources(*FOLDERS, "warden", "packaging")
        if len(p.read_text(encoding="utf-8").splitlines()) > LONG_MODULE
    ]


@pytest.mark.parametrize("source", _long_modules(), ids=_id)
def test_a_long_module_says_why_it_is_one(source: Path) -> None:
    docstring = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or ""
    assert re.search(r"Over 400 lines(:| because) \S", " ".join(docstring.split())), (
        f"{_id(source)} is over {LONG_MODULE} lines: split it, or say why not in one line of "
        "its docstring ('Over 400 lines because ...' or 'Over 400 lines: ...')"
    )


def test_the_long_module_rule_sees_the_long_modules() -> None:
    # A walk that found no file would pass the rule above by seeing nothing.
    assert ROOT / "console" / "flows.py" in _long_modules()
