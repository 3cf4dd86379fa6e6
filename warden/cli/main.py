"""The ``warden`` command line: run the gateway, manage its CA, check its config."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from warden import __version__
from warden.certs import CAError, export_ca, init_ca, rotate_ca
from warden.cli import audit as audit_cli
from warden.cli import console as console_cli
from warden.cli import db as db_cli
from warden.cli import evidence as evidence_cli
from warden.cli import policy as policy_cli
from warden.cli import scim as scim_cli
from warden.cli import sessions as sessions_cli
from warden.config import Config, ConfigError, load_config
from warden.config.validation import checked_config
from warden.gateway import logs
from warden.gateway.state import StateError
from warden.providers.hostnames import is_ip_literal

DEFAULT_CONFIG = Path(os.environ.get("WARDEN_CONFIG", "warden.yaml"))


def _config(args: argparse.Namespace) -> Config:
    return load_config(Path(args.config))


def _with_config(
    fn: Callable[[Config, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    return lambda args: fn(_config(args), args)


def cmd_run(args: argparse.Namespace) -> int:
    from warden.gateway.process import Gateway  # mitmproxy is imported only when the proxy runs

    # Everything the gateway reads (config, catalog, policy, DLP profiles) is checked first,
    # and all problems are listed at once, before anything starts.
    config = checked_config(Path(args.config))
    logs.setup(config.log.level, config.log.format)
    if config.proxy.worker_count > 1 or config.control.own_process:
        from warden.gateway.supervisor import run_supervised

        asyncio.run(run_supervised(config, Path(args.config).absolute()))
    else:
        asyncio.run(Gateway(config).run())
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    checked_config(Path(args.config))
    print(f"{args.config}: valid (with the policy and DLP profiles it names)")
    return 0


def _constraints(config: Config, enabled: bool) -> tuple[str, ...] | None:
    from warden.gateway.process import _constraint_names, build_catalog

    return _constraint_names(config, build_catalog(config)) if enabled else None


def cmd_ca_init(args: argparse.Namespace) -> int:
    config = _config(args)
    constrained = config.ca.name_constraints and not args.no_name_constraints
    files = init_ca(
        config.ca_dir,
        common_name=config.ca.common_name,
        organization=config.ca.organization,
        name_constraints=_constraints(config, constrained),
        validity_days=config.ca.validity_days,
        force=args.force,
    )
    print(f"CA created in {config.ca_dir}")
    print(f"  certificate: {files.cert_path}")
    print(f"  SHA-256 fingerprint: {files.fingerprint_sha256}")
    print(f"  name-constrained: {'yes' if files.name_constraints else 'no'}")
    print("Distribute the certificate (never the key) with `warden ca export`.")
    return 0


def cmd_ca_rotate(args: argparse.Namespace) -> int:
    config = _config(args)
    # Rotation applies the config's current constraints (e.g. a new portal name).
    files = rotate_ca(
        config.ca_dir, name_constraints=_constraints(config, config.ca.name_constraints)
    )
    print(f"new CA in {config.ca_dir}, SHA-256 fingerprint {files.fingerprint_sha256}")
    print("Distribute the new certificate and restart the gateway.")
    return 0


def _mobileconfig(config: Config, args: argparse.Namespace) -> bytes:
    from urllib.parse import urlsplit

    from warden.certs.mobileconfig import mobileconfig

    public = config.identity.portal.public_url
    pac = None if args.no_proxy else (args.pac_url or (f"{public}/proxy.pac" if public else None))
    host = urlsplit(public).hostname if public else None
    dns = host is not None and not is_ip_literal(host)
    identifier = args.identifier or (
        ".".join(reversed(host.split("."))) + ".egress-warden"
        if dns and host
        else "local.egress-warden"
    )
    return mobileconfig(
        export_ca(config.ca_dir, "der"),
        org=args.org or config.ca.organization or config.identity.portal.company,
        identifier=identifier,
        proxy_pac_url=pac,
    )


def cmd_ca_export(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.format == "mobileconfig":
        data = _mobileconfig(config, args)
    else:
        data = export_ca(config.ca_dir, args.format)
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(args.output).write_bytes(data)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from warden.cli.doctor import run

    return run(Path(args.config), out=sys.stdout, as_json=args.json)


def cmd_login(args: argparse.Namespace) -> int:
    from warden.login import LoginOptions, login

    return login(
        LoginOptions(
            proxy=args.proxy,
            portal=args.portal,
            idp=args.idp,
            label=args.label,
            write_env=Path(args.write_env) if args.write_env else None,
            open_browser=not args.no_browser,
        )
    )


def cmd_logout(args: argparse.Namespace) -> int:
    from warden.login import logout

    return logout(args.portal)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warden", description=__doc__)
    parser.add_argument("--version", action="version", version=f"warden {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        default=str(DEFAULT_CONFIG),
        help="the YAML config file (default: $WARDEN_CONFIG or ./warden.yaml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the proxy and its control plane").set_defaults(func=cmd_run)

    audit_cli.register(sub, _with_config)
    sessions_cli.register(sub, _with_config)
    policy_cli.register(sub, _with_config)
    scim_cli.register(sub, _with_config)
    db_cli.register(sub, _with_config)
    console_cli.register(sub, _with_config)
    evidence_cli.register(sub, _with_config)
    cfg = sub.add_parser("config", help="configuration").add_subparsers(dest="sub", required=True)
    cfg.add_parser(
        "check", help="validate the config file and the policy and DLP profiles it names"
    ).set_defaults(func=cmd_config_check)

    ca = sub.add_parser("ca", help="the interception CA").add_subparsers(dest="sub", required=True)
    init = ca.add_parser("init", help="create the CA in the state folder")
    init.add_argument(
        "--force", action="store_true", help="archive an existing CA and make a new one"
    )
    init.add_argument(
        "--no-name-constraints",
        action="store_true",
        help="issue the CA without X.509 name constraints (not recommended)",
    )
    init.set_defaults(func=cmd_ca_init)
    ca.add_parser("rotate", help="archive the CA and create a new one").set_defaults(
        func=cmd_ca_rotate
    )
    export = ca.add_parser("export", help="write the CA certificate (never the key)")
    export.add_argument("--format", choices=["pem", "der", "mobileconfig"], default="pem")
    export.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    export.add_argument("--org", help="mobileconfig: organization shown")
    export.add_argument("--identifier", help="mobileconfig: reverse-DNS PayloadIdentifier")
    export.add_argument("--pac-url", help="mobileconfig: PAC URL (default: <portal>/proxy.pac)")
    export.add_argument("--no-proxy", action="store_true", help="mobileconfig: the CA only")
    export.set_defaults(func=cmd_ca_export)
    doc = sub.add_parser(
        "doctor", help="check config, CA, ports, IdPs, clock, syslog, disk; print the fixes"
    )
    doc.add_argument("--json", action="store_true", help="machine-readable results")
    doc.set_defaults(func=cmd_doctor)

    login = sub.add_parser(
        "login",
        help="sign in from a terminal (device login) and get the proxy settings to use",
        description="Sign in through the gateway's portal with a code you approve in a "
        "browser; stores a device credential and the gateway's CA under "
        "$XDG_CONFIG_HOME/egress-warden (~/.config/egress-warden) and prints the "
        "HTTPS_PROXY and CA lines for your shell.",
    )
    login.add_argument(
        "--proxy", required=True, metavar="URL", help="the gateway's proxy, http://HOST:PORT"
    )
    login.add_argument(
        "--portal",
        metavar="URL",
        help="the sign-in portal (control plane); default: $WARDEN_PORTAL, else ask the proxy",
    )
    login.add_argument("--idp", metavar="ID", help="the identity provider, if there are several")
    login.add_argument(
        "--label", metavar="TEXT", help="names this device's credential (default: user@host)"
    )
    login.add_argument(
        "--write-env", metavar="FILE", help="also write the export lines to FILE (mode 0600)"
    )
    login.add_argument(
        "--no-browser", action="store_true", help="do not open the sign-in page in a browser"
    )
    login.set_defaults(func=cmd_login)

    logout = sub.add_parser("logout", help="revoke the stored device credential and delete it")
    logout.add_argument(
        "--portal", metavar="URL", help="the portal to revoke at (default: the stored one)"
    )
    logout.set_defaults(func=cmd_logout)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return 2
    except CAError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return 2
    except StateError as exc:
        print(f"warden: {exc.diagnostics()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
