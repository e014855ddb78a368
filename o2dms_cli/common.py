"""What both commands share: the connection options, the API client they make, and
``key=value`` arguments."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import click

from o2dms_cli.errors import USAGE, CliError


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--profile", help="a profile of ~/.config/o2dms/config.toml (or O2DMS_PROFILE)"
    )(function)
    function = click.option("--token", help="bearer token (or O2DMS_TOKEN)")(function)
    return click.option(
        "--api-url", help="the service's root URL (or O2DMS_API_URL; default the local run)"
    )(function)


def api_of(ctx: click.Context) -> Any:
    """The client for this invocation, made on first use and closed with the context."""
    root = ctx.find_root()
    found = root.meta.get("o2dms.api")
    if found is None:
        from o2dms_cli.client import Api
        from o2dms_cli.config import resolve

        options = root.params
        found = Api(
            resolve(
                api_url=options.get("api_url"),
                token=options.get("token"),
                profile=options.get("profile"),
            )
        )
        root.meta["o2dms.api"] = found
        root.call_on_close(found.close)
    return found


def assignments(pairs: Iterable[str], *, option: str) -> dict[str, Any]:
    """``a.b=value`` pairs as a nested object; a value that reads as JSON is taken as JSON
    (``replicas=3`` is a number, ``labels={"a":"b"}`` an object), anything else as text."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{option} takes key=value (got {pair!r})", USAGE)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        place = found
        *path, last = key.strip().split(".")
        for step in path:
            nested = place.setdefault(step, {})
            if not isinstance(nested, dict):
                raise CliError(f"{option} {key}: {step} is already set to a value", USAGE)
            place = nested
        place[last] = value
    return found


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
