"""Refresh tokens are encrypted at rest, with a key the gateway makes and keeps 0600."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from warden.gateway.state.store import open_state
from warden.identity.refresh import KEY_FILE, RefreshCipher
from warden.identity.sessions import SessionStore, UserIdentity


def test_cipher_round_trip_and_tampering(tmp_path: Path) -> None:
    cipher = RefreshCipher.in_folder(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    sealed = cipher.seal("rt-very-secret")
    assert b"rt-very-secret" not in sealed
    assert RefreshCipher.in_folder(tmp_path).open(sealed) == "rt-very-secret"  # same key again
    assert cipher.open(sealed[:-2] + b"xx") is None
    (tmp_path / "other").mkdir()
    assert RefreshCipher.in_folder(tmp_path / "other").open(sealed) is None  # another key


def test_refresh_tokens_never_stored_in_clear(tmp_path: Path) -> None:
    cipher = RefreshCipher.in_folder(tmp_path)
    db = tmp_path / "state.db"
    store = SessionStore(open_state(db))
    user = UserIdentity("acme", "https://idp", "u1")
    issued = store.create_session(user, "oidc", 3600, refresh_token=cipher.seal("rt-very-secret"))
    store.store_refresh(issued.session.id, cipher.seal("rt-rotated-secret"), 1.0)
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert "rt-very-secret" not in dump and "rt-rotated-secret" not in dump
    ((sealed,),) = sqlite3.connect(db).execute("SELECT refresh_token FROM sessions").fetchall()
    assert cipher.open(sealed) == "rt-rotated-secret"
