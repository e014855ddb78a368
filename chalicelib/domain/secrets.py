"""Secret parameters: which ones are secret, and how they are shown ("***").

A parameter is secret when the descriptor's parameter schema marks it (``writeOnly: true``
or ``x-o2dms-secret: true`` on its property) or when its key says so by name (password,
secret, token, apiKey, credential, privateKey, in any case and with ``_``/``-``). The
schema's marks are kept with each deployment and revision as dotted paths (the descriptor
may be deleted later); the name rule applies anywhere, in any JSON shown to a caller.
Their values are sealed (encrypted, see the ``SecretSealer`` port) before they are stored,
and unsealed only to be handed to a backend; a sealed value shows as ``***`` too, wherever
it sits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

MASK = "***"
SEALED_MARK = "o2dms:sealed:"  # then the format's version, ":", and the sealed blob
LeafPath = tuple[str | int, ...]  # keys, and indexes in lists, from the root to a leaf
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|api[_-]?key|credential|private[_-]?key", re.I
)


def secret_key(key: str) -> bool:
    """Whether a key names a secret by itself (``dbPassword``, ``api_key``, ``tlsPrivateKey``)."""
    return bool(_SECRET_KEY.search(key))


def is_sealed(value: Any) -> bool:
    """Whether ``value`` is a secret sealed for storage (``"o2dms:sealed:v1:<base64>"``)."""
    return isinstance(value, str) and value.startswith(SEALED_MARK)


def secret_leaf_paths(value: Any, paths: tuple[str, ...] = ()) -> Iterator[LeafPath]:
    """Where the secret values of ``value`` are: every non-null leaf under a key the schema
    marks (``paths``, dotted) or the name rule names, at any depth, and every sealed string
    wherever it sits."""
    return _secret_leaves(value, paths, "", (), secret=False)


def _secret_leaves(
    value: Any, paths: tuple[str, ...], dotted: str, at: LeafPath, *, secret: bool
) -> Iterator[LeafPath]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{dotted}{key}"
            inside = secret or secret_key(str(key)) or name in paths
            yield from _secret_leaves(item, paths, f"{name}.", (*at, key), secret=inside)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_leaves(item, paths, dotted, (*at, index), secret=secret)
    elif value is not None and (secret or is_sealed(value)):
        yield at


def leaf_at(value: Any, path: LeafPath) -> Any:
    """The value at ``path`` (one ``secret_leaf_paths`` yielded for ``value``)."""
    for step in path:
        value = value[step]
    return value


def replace_leaves(value: Any, new: Mapping[LeafPath, Any], at: LeafPath = ()) -> Any:
    """A copy of ``value`` with the leaf at each path of ``new`` replaced by its value there."""
    if at in new:
        return new[at]
    if isinstance(value, Mapping):
        return {key: replace_leaves(item, new, (*at, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [replace_leaves(item, new, (*at, index)) for index, item in enumerate(value)]
    return value


def schema_secret_paths(schema: Mapping[str, Any] | None, prefix: str = "") -> tuple[str, ...]:
    """The dotted paths of the properties a JSON Schema marks secret."""
    if not schema:
        return ()
    found: list[str] = []
    properties = schema.get("properties")
    for key, sub in properties.items() if isinstance(properties, Mapping) else ():
        if not isinstance(sub, Mapping):
            continue
        path = f"{prefix}{key}"
        if sub.get("writeOnly") is True or sub.get("x-o2dms-secret") is True:
            found.append(path)
        found.extend(schema_secret_paths(sub, f"{path}."))
    return tuple(found)


def mask(value: Any, paths: tuple[str, ...] = (), prefix: str = "") -> Any:
    """A copy of ``value`` with every secret shown as ``"***"`` (``null`` stays ``null``),
    sealed values included."""
    if is_sealed(value):
        return MASK
    if isinstance(value, Mapping):
        shown = {}
        for key, item in value.items():
            path = f"{prefix}{key}"
            hidden = item is not None and (secret_key(str(key)) or path in paths)
            shown[key] = MASK if hidden else mask(item, paths, f"{path}.")
        return shown
    if isinstance(value, list):
        return [mask(item, paths, prefix) for item in value]
    return value


def secret_values(value: Any, paths: tuple[str, ...] = ()) -> Iterator[Any]:
    """Every secret value in ``value`` (leaves of secret objects included)."""
    for path in secret_leaf_paths(value, paths):
        yield leaf_at(value, path)


def hide(value: Any, secrets: tuple[Any, ...] | list[Any]) -> Any:
    """A copy of ``value`` (a plan's object body) with the name rule applied and every
    string that holds a secret value scrubbed, wherever the value sits in it."""
    if isinstance(value, Mapping):
        return {k: hide(v, secrets) for k, v in mask(value).items()}
    if isinstance(value, list):
        return [hide(item, secrets) for item in value]
    if isinstance(value, str):
        return MASK if is_sealed(value) else scrub(value, list(secrets))
    if value is not None and value in secrets and not isinstance(value, bool):
        return MASK
    return value


def scrub(text: str, secrets: list[Any]) -> str:
    """``text`` (an error message) with every secret value, as written or as Python shows
    it, replaced by ``***``; longest first, so a secret inside another does not leak."""
    forms = {form for v in secrets for form in (repr(v), str(v)) if len(str(v)) >= 1}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
