"""What the client keeps on disk: the credential, the CA and its bundle, the env file (0600)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import (
    BUNDLE_FILE,
    LoginError,
)
from .portal import (
    _text,
)


def config_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/egress-warden``, else ``~/.config/egress-warden``."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative value is ignored
        return Path(xdg) / "egress-warden"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".config" / "egress-warden"


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # our folder: tighten it if it was made looser before


def write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` atomically; the file is created with ``mode`` (never wider first)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the umask may have narrowed it; never widens
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def env_lines(proxy_with_credential: str, ca_file: Path) -> list[str]:
    """SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE *replace* a client's trust
    store (Python, requests, curl), so they name a bundle of the system's CAs plus the
    gateway's: sites the proxy passes through untouched keep verifying. curl needs its own
    variable: Debian's curl has a compiled-in CA file and ignores SSL_CERT_FILE.
    NODE_EXTRA_CA_CERTS adds to Node's own."""
    bundle = shlex.quote(str(ca_file.with_name(BUNDLE_FILE)))
    ca = shlex.quote(str(ca_file))
    return [
        f"export HTTPS_PROXY={shlex.quote(proxy_with_credential)}",
        f"export SSL_CERT_FILE={bundle}",
        f"export REQUESTS_CA_BUNDLE={bundle}",
        f"export CURL_CA_BUNDLE={bundle}",
        f"export NODE_EXTRA_CA_CERTS={ca}",
    ]


def system_ca_bundle() -> bytes:
    """The machine's trusted CAs (Debian, RHEL, macOS via certifi ...), or nothing."""

    candidates = [
        ssl.get_default_verify_paths().cafile,
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    try:
        import certifi

        candidates.append(certifi.where())
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_bytes()
    return b""


def load_stored(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LoginError(
            f"{path} cannot be read as a stored sign-in ({exc}): delete it and run "
            "`warden login` again"
        ) from None
    if not isinstance(data, dict) or not _text(data.get("credential")):
        raise LoginError(f"{path} holds no credential: delete it and run `warden login` again")
    return data
