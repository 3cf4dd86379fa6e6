"""The config checks: the file and the files it names load; what it switches off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from warden.config import Config
from warden.config.validation import Problem
from warden.providers.catalog import Catalog
from warden.providers.hostnames import is_ip_literal

from .results import CheckResult, failure, passed, warning


def config_failure(path: Path, problems: tuple[Problem, ...], what: str) -> CheckResult:
    return failure(
        "config",
        f"{path}: {len(problems)} problem(s) in it or the files it names:\n"
        + "\n".join(f"- {p}" for p in problems),
        "fix each entry listed (file, key, cause, fix; the annotated example is "
        f"packaging/warden.yaml), then run `warden doctor` again. {what}"
        " a config that loads.",
    )


def config_checks(config: Config, path: Path, *, clean: bool) -> Iterator[CheckResult]:
    if clean:
        yield passed("config", f"{path} loads; state folder {config.state_dir}")
    if config.unsafe_testing is not None:
        # The config loads only with the consent variable set, so this is the test bed or
        # the demo on purpose: a warning there, and the fix for anyone who copied it.
        yield warning(
            "config: unsafe_testing",
            "the test-bed block `unsafe_testing` is present: LLM traffic goes to a loopback "
            "test server, not to the providers (right for the demo, never for production)",
            "remove `unsafe_testing` from the config (and WARDEN_UNSAFE_TESTING from the "
            "environment); it is for the test suite only",
        )
    if config.identity.mode == "off":
        yield warning(
            "config: identity",
            "identity.mode is 'off': flows are recorded but not bound to a person",
            "configure identity_providers and tenants and remove `mode: off` "
            "(docs/admin-guide.md, 'Identity providers')",
        )
    elif not config.identity.identity_providers:
        yield warning(
            "config: identity",
            "identity is enforced but no identity provider is configured: nobody can sign in",
            "add identity.identity_providers and identity.tenants (docs/admin-guide.md)",
        )


def catalog_domains(config: Config, catalog: Catalog | None) -> tuple[str, ...] | None:
    """The DNS subtrees the CA must permit (catalog + extra hosts + portal name), or None
    when the catalog is not valid (validate_all reported why)."""
    if catalog is None:
        return None
    names = list(catalog.name_constraint_domains())
    public = config.identity.portal.public_url
    if public is not None and public.startswith("https://"):
        host = urlsplit(public).hostname or ""
        if host and not is_ip_literal(host):
            names.append(host.lower())
    return tuple(names)
