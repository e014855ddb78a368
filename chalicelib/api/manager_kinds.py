"""Which fields each kind of deployment manager takes, and the shapes of the cloud names
(Google Cloud, Azure) in them.

One table serves the request's validation (``check``) and the OpenAPI document
(``json_schema_rules``), so the two cannot disagree: a field a kind needs is present and
not null, a field of another kind is absent, null or empty, and a name a cloud restricts
further (a GKE or AKS cluster name) matches that cloud's rule as well as the field's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel

# Anchored, and free of what regex dialects disagree on (see ``schemas``).
GCP_PROJECT = r"^([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$"
GCP_LOCATION = r"^[a-z]+-[a-z]+[0-9]{1,2}(-[a-z])?$"
GKE_CLUSTER = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
AZURE_SUBSCRIPTION = (
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)
AZURE_RESOURCE_GROUP = r"^[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]$"
AKS_CLUSTER = r"^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$"
SECRET_ID = r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]+$"

MEANINGS: dict[str, str] = {
    GCP_PROJECT: "a Google Cloud project ID (6 to 30 lowercase letters, digits and '-',"
    " starting with a letter) or project number",
    GCP_LOCATION: "a Google Cloud region or zone such as europe-west1 or europe-west1-b",
    GKE_CLUSTER: "a GKE cluster name: up to 40 lowercase letters, digits and '-', starting"
    " with a letter and not ending with '-'",
    AZURE_SUBSCRIPTION: "an Azure subscription ID (a UUID)",
    AZURE_RESOURCE_GROUP: "an Azure resource group name: up to 90 letters, digits, '_', '-',"
    " '.', '(' and ')', not ending with '.'",
    AKS_CLUSTER: "an AKS cluster name: up to 63 letters, digits, '_' and '-', starting and"
    " ending with a letter or digit",
    SECRET_ID: "a Secrets Manager secret name or ARN",
}


@dataclass(frozen=True, slots=True)
class KindFields:
    """What one kind of manager is called in a message, the fields it needs, the fields it
    may have, and the stricter pattern some of those fields follow for this kind."""

    what: str
    needs: tuple[str, ...]
    may: tuple[str, ...] = ()
    patterns: Mapping[str, str] = field(default_factory=dict)


KINDS: dict[str, KindFields] = {
    "eks": KindFields("an eks deployment manager", ("cluster_name", "region"), ("role_arn",)),
    "kubeconfig": KindFields(
        "a kubeconfig deployment manager", ("kubeconfig_source",), ("context",)
    ),
    "gke": KindFields(
        "a gke deployment manager",
        ("project", "location", "cluster_name", "credentials_secret"),
        patterns={"cluster_name": GKE_CLUSTER},
    ),
    "aks": KindFields(
        "an aks deployment manager",
        ("subscription", "resource_group", "cluster_name", "credentials_secret"),
        patterns={"cluster_name": AKS_CLUSTER},
    ),
}
_SPECIFIC = tuple(dict.fromkeys(n for k in KINDS.values() for n in (*k.needs, *k.may)))


def others(kind: str) -> tuple[str, ...]:
    """The fields of other kinds that ``kind`` does not take."""
    own = {*KINDS[kind].needs, *KINDS[kind].may}
    return tuple(n for n in _SPECIFIC if n not in own)


def words(names: tuple[str, ...]) -> str:
    wire = [to_camel(n) for n in names]
    return wire[0] if len(wire) == 1 else f"{', '.join(wire[:-1])} and {wire[-1]}"


def check(kind: str, values: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` (pydantic's 400) naming what breaks the table for ``kind``."""
    rules = KINDS[kind]
    if not all(values.get(n) for n in rules.needs):
        raise ValueError(f"{rules.what} needs {words(rules.needs)}")
    foreign = tuple(n for n in others(kind) if values.get(n))
    if foreign:
        raise ValueError(f"{rules.what} does not take {words(foreign)}")
    for name, pattern in rules.patterns.items():
        # the field's own pattern (checked first) already refused a newline, which Python's
        # ``$`` would let through before the end
        if not re.match(pattern, str(values[name])):
            raise ValueError(f"{to_camel(name)} must be {MEANINGS[pattern]}")


def json_schema_rules(schema: dict[str, Any]) -> None:
    """The table as JSON schema (``if kind == ...`` then ...), added to the model's own."""
    schema["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"required": [to_camel(n) for n in rules.needs], "properties": _then(kind)},
        }
        for kind, rules in KINDS.items()
    ]


def _then(kind: str) -> dict[str, Any]:
    rules = KINDS[kind]
    found: dict[str, dict[str, Any]] = {to_camel(n): {"enum": [None, ""]} for n in others(kind)}
    for name in rules.needs:
        found[to_camel(name)] = {"not": {"type": "null"}}
    for name, pattern in rules.patterns.items():
        key = to_camel(name)
        found[key] = {**found.get(key, {}), "pattern": pattern, "description": MEANINGS[pattern]}
    return found
