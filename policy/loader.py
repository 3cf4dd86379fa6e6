"""Loading a policy document: YAML text or a mapping in, a validated ``PolicyDocument`` out,
or ``PolicyError`` carrying every problem found, each with its path in the document.

The document is either a file of its own or the ``policy:`` section of the main config
(a top-level ``policy`` key is taken as that section). Duplicate YAML keys are errors
(PyYAML would silently keep the last one: a second ``eng:`` department would vanish).
Structure is checked first (all errors at once); when it holds, the references between
parts are checked (all at once too): DLP profiles, duplicate rule ids, and, when the
caller knows them, tenants and departments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from .document import PolicyDocument, Rule

#: Longest hex prefix of the document's sha256 used as ``policy_version``.
VERSION_HEX = 16


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: where (``tenants.acme.rules[2].action``), what, and a stable code."""

    path: str
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"{self.path or '<document>'}: {self.message}"


class PolicyError(ValueError):
    """The document was refused; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        lines = [f"the policy is invalid ({len(self.issues)} problem(s)); nothing was changed:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def parse_yaml(text: str) -> Any:
    """The YAML value of ``text``; ``PolicyError`` for syntax errors and duplicate keys."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise PolicyError([Issue("", "YAML: collections nested too deeply", "yaml")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([Issue(where, f"YAML: {problem}", "yaml")]) from None


def load_policy(
    source: str | Mapping[str, Any],
    *,
    known_tenants: Collection[str] | None = None,
    known_departments: Mapping[str, Collection[str]] | None = None,
    known_dlp_profiles: Collection[str] | None = None,
) -> PolicyDocument:
    """Validate ``source`` (YAML text or an already parsed mapping).

    ``known_tenants``: tenant ids of the identity configuration; a policy for any other
    tenant is an error. ``known_departments``: per tenant, the departments the directory
    knows. ``known_dlp_profiles``: profile ids the DLP configuration defines; the
    document's ``dlp_profiles`` must be among them.
    """
    data = parse_yaml(source) if isinstance(source, str) else source
    prefix = ""
    if isinstance(data, Mapping) and "policy" in data:
        data, prefix = data["policy"], "policy"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        problem = "the policy must be a mapping (tenants:, defaults:, ...)"
        raise PolicyError([Issue(prefix, problem)])
    try:
        doc = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        raise PolicyError([_issue(prefix, err) for err in exc.errors()]) from None
    issues = [
        Issue(_join(prefix, i.path), i.message, i.code)
        for i in reference_issues(doc, known_tenants, known_departments, known_dlp_profiles)
    ]
    if issues:
        raise PolicyError(issues)
    return doc


def policy_version(doc: PolicyDocument) -> str:
    """``sha256:`` + hex prefix of the canonical JSON of the validated document.

    Canonical: defaults filled in, keys sorted, no whitespace; comments, key order and
    YAML spelling do not change the version, a changed value does.
    """
    canonical = json.dumps(
        doc.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:VERSION_HEX]


def iter_rules(doc: PolicyDocument) -> Iterator[tuple[str, str, int, Rule]]:
    """Every rule as (layer name, document path of the layer's rules, 1-based index, rule)."""
    for i, rule in enumerate(doc.defaults.rules, 1):
        yield "defaults", "defaults.rules", i, rule
    for tid, tenant in doc.tenants.items():
        base = f"tenant:{tid}"
        tpath = f"tenants.{tid}"
        for i, rule in enumerate(tenant.rules, 1):
            yield base, f"{tpath}.rules", i, rule
        sections = (
            ("dept", "departments", tenant.departments),
            ("group", "groups", tenant.groups),
            ("role", "roles", tenant.roles),
            ("user", "users", tenant.users),
        )
        for tag, key, layers in sections:
            for name, layer in layers.items():
                for i, rule in enumerate(layer.rules, 1):
                    yield f"{base}/{tag}:{name}", f"{tpath}.{key}.{name}.rules", i, rule


def rules_with_ids(doc: PolicyDocument) -> Iterator[tuple[str, str, str, Rule]]:
    """Every rule as (rule id, layer name, document path of the rule, rule)."""
    for layer, path, i, rule in iter_rules(doc):
        yield rule.id or f"{layer}/{i}", layer, f"{path}[{i - 1}]", rule


def reference_issues(
    doc: PolicyDocument,
    known_tenants: Collection[str] | None = None,
    known_departments: Mapping[str, Collection[str]] | None = None,
    known_dlp_profiles: Collection[str] | None = None,
) -> list[Issue]:
    issues: list[Issue] = []
    declared = set(doc.dlp_profiles)
    if known_dlp_profiles is not None:
        for i, p in enumerate(doc.dlp_profiles):
            if p not in known_dlp_profiles:
                issues.append(
                    Issue(
                        f"dlp_profiles[{i}]",
                        f"DLP profile {p!r} is not defined by the DLP configuration "
                        f"(defined: {', '.join(sorted(known_dlp_profiles)) or 'none'})",
                        "unknown-dlp-profile",
                    )
                )
    hint = ", ".join(sorted(declared)) or "none: add them under 'dlp_profiles:'"
    scan = [("defaults.scan_profile", doc.defaults.scan_profile)]
    scan += [(f"tenants.{t}.scan_profile", p.scan_profile) for t, p in doc.tenants.items()]
    for path, profile in scan:
        if profile is not None and profile not in declared:
            problem = f"unknown DLP profile {profile!r} (declared: {hint})"
            issues.append(Issue(path, problem, "unknown-dlp-profile"))
    seen: dict[str, str] = {}
    for rule_id, _, path, rule in rules_with_ids(doc):
        if rule.dlp_profile is not None and rule.dlp_profile not in declared:
            issues.append(
                Issue(
                    f"{path}.dlp_profile",
                    f"unknown DLP profile {rule.dlp_profile!r} (declared: {hint})",
                    "unknown-dlp-profile",
                )
            )
        if rule_id in seen:
            issues.append(
                Issue(
                    f"{path}.id",
                    f"rule id {rule_id!r} is already used at {seen[rule_id]}; ids must be unique",
                    "duplicate-id",
                )
            )
        else:
            seen[rule_id] = path
    if known_tenants is not None:
        known_list = ", ".join(sorted(known_tenants)) or "none"
        for tid in doc.tenants:
            if tid not in known_tenants:
                problem = f"tenant {tid!r} is not configured (known: {known_list})"
                issues.append(Issue(f"tenants.{tid}", problem, "unknown-tenant"))
    if known_departments is not None:
        for tid, tenant in doc.tenants.items():
            known = known_departments.get(tid)
            if known is None:
                continue
            for dept in tenant.departments:
                if dept not in known:
                    issues.append(
                        Issue(
                            f"tenants.{tid}.departments.{dept}",
                            f"department {dept!r} is unknown in tenant {tid!r} "
                            f"(known: {', '.join(sorted(known)) or 'none'})",
                            "unknown-department",
                        )
                    )
    return issues


def _issue(prefix: str, err: Any) -> Issue:
    path = ""
    for step in err["loc"]:
        if step == "[key]":
            continue
        if isinstance(step, int):
            path += f"[{step}]"
        else:
            path = f"{path}.{step}" if path else str(step)
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check its spelling and its place in the document)"
    return Issue(_join(prefix, path), msg)


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix
