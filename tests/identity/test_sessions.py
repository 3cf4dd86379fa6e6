"""Sessions and credentials: stored as hashes, resolved from memory, revoked at once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from warden.gateway.state.store import open_state
from warden.identity.sessions import (
    DEVICE_TOKEN_PREFIX,
    SessionEnded,
    SessionStore,
    UserIdentity,
    token_hash,
)

ALICE = UserIdentity(
    "acme", "https://idp.acme.test", "u-alice", "alice@acme.test", "eng", ("llm-users", "eng")
)
BOB = UserIdentity(
    "acme", "https://idp.acme.test", "u-bob", "bob@acme.test", "finance", ("llm-users",)
)
MALLORY_B = UserIdentity(
    "globex", "https://idp.globex.test", "u-alice", None, None, ()
)  # same sub, other tenant


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def store(db: Path, clock: Clock) -> SessionStore:
    return SessionStore(open_state(db), clock)


def test_tokens_are_stored_only_as_hashes(db: Path) -> None:
    clock = Clock()
    s = store(db, clock)
    issued = s.create_session(ALICE, "oidc", 3600)
    cred = s.issue_device_credential(issued.session, "laptop")
    assert cred.startswith(DEVICE_TOKEN_PREFIX)
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert issued.token not in dump and cred not in dump
    assert token_hash(issued.token) in dump and token_hash(cred) in dump


def test_resolve_and_expiry(db: Path) -> None:
    clock = Clock()
    s = store(db, clock)
    issued = s.create_session(ALICE, "oidc", 3600)
    cred = s.issue_device_credential(issued.session)
    s.bind_surrogate("10.1.2.3", issued.session, 600)
    assert s.session_by_token(issued.token) == issued.session
    assert s.session_by_device_credential(cred) == issued.session
    assert s.session_by_surrogate("10.1.2.3") == issued.session
    assert s.session_by_token("x" + issued.token[1:]) is None
    assert s.session_by_surrogate("10.1.2.4") is None
    clock.now += 601  # surrogate binding TTL over, session still live
    assert s.session_by_surrogate("10.1.2.3") is None
    assert s.session_by_device_credential(cred) == issued.session
    clock.now += 3000  # session over: the credential ends with it
    assert s.session_by_token(issued.token) is None
    assert s.session_by_device_credential(cred) is None


def test_revoking_a_user_ends_every_session_credential_and_binding(db: Path) -> None:
    clock = Clock()
    s = store(db, clock)
    a1 = s.create_session(ALICE, "oidc", 3600)
    a2 = s.create_session(ALICE, "device", 3600)
    b = s.create_session(BOB, "oidc", 3600)
    m = s.create_session(MALLORY_B, "oidc", 3600)
    cred = s.issue_device_credential(a2.session)
    s.bind_surrogate("10.1.2.3", a1.session, 600)
    assert s.revoke_user("acme", None, "u-alice", "scim deactivation") == 2
    assert s.session_by_token(a1.token) is None
    assert s.session_by_device_credential(cred) is None
    assert s.session_by_surrogate("10.1.2.3") is None
    # Bob, and the same subject in another tenant, are untouched.
    assert s.session_by_token(b.token) is not None
    assert s.session_by_token(m.token) is not None
    # A revoked session cannot mint new credentials or bindings.
    with pytest.raises(SessionEnded):
        s.issue_device_credential(a2.session)
    with pytest.raises(SessionEnded):
        s.bind_surrogate("10.1.2.9", a1.session, 60)


def test_state_survives_a_restart_and_revocations_stay_revoked(db: Path) -> None:
    clock = Clock()
    s = store(db, clock)
    keep = s.create_session(ALICE, "oidc", 3600)
    cred = s.issue_device_credential(keep.session)
    gone = s.create_session(BOB, "oidc", 3600)
    gone_cred = s.issue_device_credential(gone.session)
    s.revoke_sessions([gone.session.id], "logout")
    s2 = store(db, clock)
    assert s2.session_by_token(keep.token) == keep.session
    assert s2.session_by_device_credential(cred) == keep.session
    assert s2.session_by_token(gone.token) is None
    assert s2.session_by_device_credential(gone_cred) is None


def test_revoke_single_device_credential(db: Path) -> None:
    s = store(db, Clock())
    issued = s.create_session(ALICE, "device", 3600)
    c1, c2 = s.issue_device_credential(issued.session), s.issue_device_credential(issued.session)
    assert s.revoke_device_credential(c1) is True
    assert s.revoke_device_credential(c1) is False
    assert s.session_by_device_credential(c1) is None
    assert s.session_by_device_credential(c2) == issued.session


def test_back_channel_logout_by_sid_and_by_sub(db: Path) -> None:
    s = store(db, Clock())
    x = s.create_session(ALICE, "oidc", 3600, idp_session="sid-1")
    y = s.create_session(ALICE, "oidc", 3600, idp_session="sid-2")
    assert s.revoke_idp_session("https://idp.acme.test", None, "sid-1") == 1
    assert s.session_by_token(x.token) is None and s.session_by_token(y.token) is not None
    assert s.revoke_idp_session("https://other-idp.test", "u-alice", None) == 0
    assert s.revoke_idp_session("https://idp.acme.test", "u-alice", None) == 1


def test_refresh_may_not_change_the_owner(db: Path) -> None:
    s = store(db, Clock())
    issued = s.create_session(ALICE, "oidc", 3600)
    moved = UserIdentity(
        "acme", ALICE.issuer, ALICE.subject, ALICE.email, "research", ("llm-users",)
    )
    assert s.update_user(issued.session, moved).user.department == "research"
    assert s.session_by_token(issued.token).user.department == "research"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="who the session belongs to"):
        s.update_user(issued.session, BOB)


def test_every_revocation_moves_the_revocation_count(db: Path) -> None:
    """Connections that cache a verdict (service JWTs) re-check when the count moves, so
    even a revocation that ends no session here (a person with only a JWT) moves it."""
    s = store(db, Clock())
    issued = s.create_session(ALICE, "oidc", 3600)
    cred = s.issue_device_credential(issued.session)
    seen = [s.revocations]
    s.revoke_person("acme", ["nobody"], "deprovisioned by SCIM")  # ends nothing
    seen.append(s.revocations)
    assert s.revoke_device_credential(cred)
    seen.append(s.revocations)
    assert s.revoke_user("acme", None, "u-alice", "revoked by a reviewer") == 1
    seen.append(s.revocations)
    assert seen == sorted(set(seen)) and len(seen) == 4


# -- whose refused credential: attributed only where the gateway issued it -------------


def test_a_refused_device_credential_names_its_owner_and_why(db: Path) -> None:
    clock = Clock()
    s = store(db, clock)
    scim = s.issue_device_credential(s.create_session(ALICE, "oidc", 3600).session)
    logout = s.issue_device_credential(s.create_session(BOB, "oidc", 3600).session)
    alone = s.issue_device_credential(s.create_session(BOB, "oidc", 3600).session)
    live = s.issue_device_credential(s.create_session(BOB, "oidc", 3600).session)
    s.revoke_person("acme", ["u-alice"], "deprovisioned by SCIM")
    (bob_first,) = [x for x in s.active_sessions() if x.user == BOB][:1]
    s.revoke_sessions([bob_first.id], "logout")
    assert s.revoke_device_credential(alone)
    ended = {name: s.ended_device_credential(tok) for name, tok in
             [("scim", scim), ("logout", logout), ("alone", alone)]}  # fmt: skip
    assert ended["scim"] is not None and ended["scim"].user == ALICE
    assert (ended["scim"].reason, ended["scim"].detail) == (
        "deprovisioned",
        "deprovisioned by SCIM",
    )
    assert ended["logout"] is not None and ended["logout"].user == BOB
    assert (ended["logout"].reason, ended["logout"].detail) == ("session_revoked", "logout")
    assert ended["alone"] is not None and ended["alone"].reason == "device_credential_revoked"
    assert s.ended_device_credential(live) is None  # it still works: nothing to explain


def test_an_expired_session_is_named_expired(db: Path) -> None:
    clock = Clock()
    s = store(db, clock)
    cred = s.issue_device_credential(s.create_session(BOB, "device", 60).session)
    clock.now += 61
    assert s.session_by_device_credential(cred) is None
    ended = s.ended_device_credential(cred)
    assert ended is not None and (ended.user, ended.reason) == (BOB, "session_expired")


@pytest.mark.parametrize(
    "forged",
    [DEVICE_TOKEN_PREFIX + "x" * 43, "", "u-alice", "alice@acme.test", "' OR 1=1 --"],
)
def test_a_credential_the_gateway_never_issued_stays_anonymous(db: Path, forged: str) -> None:
    """Negative: an unknown or forged credential is attributed to nobody, whatever it
    looks like (a subject, an e-mail, SQL)."""
    clock = Clock()
    s = store(db, clock)
    s.issue_device_credential(s.create_session(ALICE, "oidc", 3600).session)
    s.revoke_person("acme", ["u-alice"], "deprovisioned by SCIM")
    assert s.ended_device_credential(forged) is None


# -- several processes on one database (proxy.workers) ----------------------------------


def test_another_processs_revocation_reaches_memory_on_the_next_look(db: Path) -> None:
    """Two stores on two connections stand for the control plane and a worker."""
    clock = Clock()
    control, worker = store(db, clock), store(db, clock)
    issued = control.create_session(ALICE, "oidc", 3600)
    cred = control.issue_device_credential(issued.session)
    assert worker.catch_up() is True  # the sign-in: memory was stale
    assert worker.session_by_device_credential(cred) is not None
    assert worker.catch_up() is False  # nothing new: one row read, no reload
    count = worker.revocations
    control.revoke_user("acme", None, "u-alice", "reviewer")
    # Before it looks, the worker still knows the session (this is what the 200 ms
    # poll bounds) ...
    assert worker.session_by_device_credential(cred) is not None
    assert worker.catch_up() is True
    # ... after, it is gone, and connections that cached an identity must look again.
    assert worker.session_by_device_credential(cred) is None
    assert worker.revocations > count
    assert worker.not_before("acme", "u-alice") is not None


def test_own_writes_do_not_make_memory_look_stale(db: Path) -> None:
    clock = Clock()
    a = store(db, clock)
    a.create_session(ALICE, "oidc", 3600)
    assert a.catch_up() is False


def test_a_credential_issued_elsewhere_resolves_at_once_only_when_shared(db: Path) -> None:
    clock = Clock()
    control, worker = store(db, clock), store(db, clock)
    issued = control.create_session(BOB, "oidc", 3600)
    cred = control.issue_device_credential(issued.session)
    # A lone gateway never reads the database to resolve (its memory is the truth) ...
    assert worker.session_by_device_credential(cred) is None
    # ... a worker beside a control plane looks once on a miss (the user just signed in).
    worker.shared = True
    assert worker.session_by_device_credential(cred) is not None
    assert worker.session_by_token(issued.token) is not None
    # An unknown credential costs one look and finds nothing.
    assert worker.session_by_device_credential(DEVICE_TOKEN_PREFIX + "nope") is None


@pytest.mark.parametrize("how", ["reload", "catch_up"])
def test_a_sign_in_committed_while_memory_reloads_is_not_lost(db: Path, how: str) -> None:
    """A reload (a notification of another process's commit, or the 200 ms look) reads the
    database outside the lock while this process's portal threads go on signing people in.
    Here the sign-in commits between that read and the swap, the interleaving that lost a
    device login in a fleet e2e run ("the session ended; sign in again", 500): the reload
    must read again rather than install an index without it. The hook below only places
    the sign-in at that moment; the database, the store and the reload are the real ones."""
    clock = Clock()
    portal, other = store(db, clock), store(db, clock)
    other.create_session(BOB, "oidc", 3600)  # another process's commit: memory is stale
    loads = 0
    signed_in: list[str] = []
    real_load = portal._load

    def load_then_sign_in() -> object:
        nonlocal loads
        loads += 1
        index = real_load()
        if loads == 1:  # a portal thread's sign-in, after the read, before the swap
            issued = portal.create_session(ALICE, "device", 3600)
            signed_in.append(issued.token)
        return index

    portal._load = load_then_sign_in  # type: ignore[method-assign,assignment]
    if how == "reload":
        portal.reload()
    else:
        assert portal.catch_up() is True
    assert loads == 2  # read again: the first read began before the sign-in's commit
    session = portal.session_by_token(signed_in[0])
    assert session is not None and session.user.subject == "u-alice"
    assert portal.issue_device_credential(session).startswith(DEVICE_TOKEN_PREFIX)
