"""Deployment parameters: merging upgrades onto a snapshot, and checking them against a schema.

Merging follows JSON Merge Patch (RFC 7386), which is also what ``helm --set key=null``
does: objects merge key by key, ``null`` removes a key, anything else replaces.
The schema is a chart's ``values.schema.json``; ``jsonschema`` is imported only when a
descriptor has one, keeping it off the cold-start path.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any

from chalicelib.domain.errors import InvalidRequest, ParameterValidationFailed
from chalicelib.domain.models import MAX_REPLICAS, JsonObject
from chalicelib.domain.secrets import schema_secret_paths, scrub, secret_values


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> JsonObject:
    """A new object: ``patch`` merged onto ``base`` (neither is modified)."""
    merged: JsonObject = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def leaf_paths(patch: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves a patch sets, e.g. ``image.tag``."""
    for key, value in patch.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, f"{path}.")
        else:
            yield path


def check_schema(schema: Mapping[str, Any]) -> None:
    """Reject a parameter schema that is not itself a valid JSON Schema (400)."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(dict(schema))
    except SchemaError as exc:
        raise InvalidRequest(f"parameterSchema is not a valid JSON Schema: {exc.message}") from exc


def well_known_problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with the parameters every backend reads, whatever the chart's schema:
    ``replicaCount`` (scaling and status count on it) and ``image.repository``/``image.tag``
    (rollouts are judged by them). Caught here, before anything is written, rather than by
    a backend halfway through a change."""
    problems = []
    count = values.get("replicaCount")
    if "replicaCount" in values and (
        isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPLICAS
    ):
        problems.append(
            f"replicaCount: must be a whole number from 0 to {MAX_REPLICAS}, not {count!r}"
        )
    image = values.get("image")
    if "image" in values and not isinstance(image, Mapping):
        problems.append(f"image: must be an object (repository, tag), not {image!r}")
    elif isinstance(image, Mapping):
        for key in ("repository", "tag"):
            if key in image and not isinstance(image[key], str):
                problems.append(f"image.{key}: must be a string, not {image[key]!r}")
    return problems


# A revision stores its parameters and its values (defaults included) in one DynamoDB item,
# which holds at most 400 KB: values may take 64 KiB of JSON, so both fit with room to spare.
MAX_VALUES_BYTES = 64 * 1024


def check_size(values: Mapping[str, Any]) -> None:
    """Refuse values too large to be stored with their revision (422), which patches that
    add up could otherwise reach, however small each request."""
    size = len(json.dumps(values, separators=(",", ":")).encode())
    if size > MAX_VALUES_BYTES:
        raise ParameterValidationFailed(
            f"Invalid parameters: they take {size} bytes as JSON, defaults included; at most"
            f" {MAX_VALUES_BYTES} fit in a revision (null removes a key in an upgrade)"
        )


def validate_parameters(schema: Mapping[str, Any] | None, values: Mapping[str, Any]) -> None:
    """Raise ``ParameterValidationFailed`` (422) naming every parameter that breaks ``schema``
    or the well-known parameters' rules, or when they are too large to store."""
    check_size(values)
    secrets = list(secret_values(values, schema_secret_paths(schema)))
    known = well_known_problems(values)
    if known:
        raise ParameterValidationFailed(scrub("Invalid parameter: " + "; ".join(known), secrets))
    if not schema:
        return
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    problems = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    if not problems:
        return
    messages = []
    for error in problems[:5]:
        path = ".".join(str(p) for p in error.absolute_path) or "(root)"
        messages.append(f"{path}: {error.message}")
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    said = "Invalid parameter: " + "; ".join(messages) + more
    raise ParameterValidationFailed(scrub(said, secrets))
