"""Secret parameters: which ones are secret, and how they are shown ("***").

A parameter is secret when the descriptor's parameter schema marks it (``writeOnly: true``
or ``x-o2dms-secret: true`` on its property) or when its key says so by name (password,
secret, token, apiKey, credential, privateKey, in any case and with ``_``/``-``). The
schema's marks are kept with each deployment and revision as dotted paths (the descriptor
may be deleted later); the name rule applies anywhere, in any JSON shown to a caller.
The values themselves are stored and handed to the adapters unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|api[_-]?key|credential|private[_-]?key", re.I
)


def secret_key(key: str) -> bool:
    """Whether a key names a secret by itself (``dbPassword``, ``api_key``, ``tlsPrivateKey``)."""
    return bool(_SECRET_KEY.search(key))


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
    """A copy of ``value`` with every secret shown as ``"***"`` (``null`` stays ``null``)."""
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


def secret_values(value: Any, paths: tuple[str, ...] = (), prefix: str = "") -> Iterator[Any]:
    """Every secret value in ``value`` (leaves of secret objects included)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}{key}"
            if item is not None and (secret_key(str(key)) or path in paths):
                yield from _leaves(item)
            else:
                yield from secret_values(item, paths, f"{path}.")
    elif isinstance(value, list):
        for item in value:
            yield from secret_values(item, paths, prefix)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value


def hide(value: Any, secrets: tuple[Any, ...] | list[Any]) -> Any:
    """A copy of ``value`` (a plan's object body) with the name rule applied and every
    string that holds a secret value scrubbed, wherever the value sits in it."""
    if isinstance(value, Mapping):
        return {k: hide(v, secrets) for k, v in mask(value).items()}
    if isinstance(value, list):
        return [hide(item, secrets) for item in value]
    if isinstance(value, str):
        return scrub(value, list(secrets))
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
