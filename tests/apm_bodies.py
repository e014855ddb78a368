"""Seed 002's start bodies, shared by the tests of ``/api/v1/deployments``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

V1 = "/api/v1/deployments"
IMAGE = "registry.example.com/shop/my-app"
# The seed's request body, word for word.
SEED_START: dict[str, Any] = {
    "name": "my-app",
    "version": "v2.0.0",
    "platform": "kubernetes",
    "environment": "production",
    "configuration": {
        "deployment_name": "my-app-deployment",
        "service_name": "my-app-service",
        "labels": {"app": "my-app", "version": "v2.0.0"},
    },
}


def my_app(version: str, **configuration: Any) -> dict[str, Any]:
    """The seed's body at ``version``, with the image that creates the Deployment."""
    return {
        **SEED_START,
        "version": version,
        "configuration": {
            **SEED_START["configuration"],
            "labels": {"app": "my-app", "version": version},
            "image": IMAGE,
            **configuration,
        },
    }


def two_parts(version: str, *, api: Any = None, **configuration: Any) -> dict[str, Any]:
    """``shop`` in staging: ``api`` depends on ``db``."""
    return {
        "name": "shop",
        "version": version,
        "platform": "kubernetes",
        "environment": "staging",
        "configuration": {
            "labels": {"app": "shop"},
            "components": [
                {"name": "api", "image": f"{IMAGE}-api", "depends_on": ["db"], **(api or {})},
                {"name": "db", "image": "registry.example.com/shop/db", "replicas": 1},
            ],
            **configuration,
        },
    }


def spans(found: dict[str, Any]) -> dict[str, tuple[datetime, datetime]]:
    """Each component's start and end, by name (as instants: their texts may or may not
    carry fractions of a second, so they do not sort as text)."""
    return {
        c["name"]: (
            datetime.fromisoformat(c["started_at"]),
            datetime.fromisoformat(c["finished_at"]),
        )
        for c in found["components"]
    }
