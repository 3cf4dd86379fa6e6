"""Shared CA fixtures for tests/certs: RSA 3072 key generation is slow, so each kind of
CA is made once per session and copied (modes included) into each test's tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from warden.certs import CAFiles, init_ca, load_ca

CATALOG = ("api.openai.com", "chatgpt.com")


@pytest.fixture(scope="session")
def _constrained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca_dir = tmp_path_factory.mktemp("templates") / "constrained"
    init_ca(ca_dir, name_constraints=list(CATALOG), organization="Example Corp")
    return ca_dir


@pytest.fixture(scope="session")
def _open_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca_dir = tmp_path_factory.mktemp("templates") / "open"
    init_ca(ca_dir)
    return ca_dir


@pytest.fixture
def constrained_ca(tmp_path: Path, _constrained_template: Path) -> CAFiles:
    """A CA permitted to vouch only for CATALOG names, in a directory of its own."""
    return load_ca(Path(shutil.copytree(_constrained_template, tmp_path / "constrained")))


@pytest.fixture
def open_ca(tmp_path: Path, _open_template: Path) -> CAFiles:
    """A CA without name constraints, the control group for constraint tests."""
    return load_ca(Path(shutil.copytree(_open_template, tmp_path / "open")))


@pytest.fixture
def catalog() -> tuple[str, ...]:
    """The host names `constrained_ca` is permitted to vouch for."""
    return CATALOG
