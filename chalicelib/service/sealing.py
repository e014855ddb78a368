"""Secret parameter values at rest: sealed before they are stored, in clear only for a backend.

A deployment's and its revisions' stored parameters and values hold every secret value
sealed (the ``SecretSealer`` port). A change seals its snapshot right before it becomes a
revision (``sealed_proposal``); a revision's values are unsealed right before they go to a
backend or into a plan of what a backend would do. A use case that merges the stored
parameters with a patch unseals them first, so that the result is validated in clear, and
the new snapshot is sealed again when it is stored. No secret value: no call to KMS.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.domain.errors import InvalidRequest, SecretValuesUnsupported
from chalicelib.domain.models import JsonObject
from chalicelib.domain.secrets import (
    SEALED_MARK,
    LeafPath,
    is_sealed,
    leaf_at,
    secret_leaf_paths,
)
from chalicelib.domain.states import Adapter
from chalicelib.service.context import Deps
from chalicelib.service.records import Proposal

_PARAMETERS, _VALUES = "parameters", "values"
# Adapters that can hand values to the platform only inside the object they write (an Argo
# CD Application cannot take them from a Kubernetes Secret; an ECS task definition's
# environment is readable by whoever may describe it): no secret value for them.
_VALUES_INLINE_ONLY = frozenset({Adapter.ARGOCD, Adapter.ECS})


def sealed_proposal(deps: Deps, proposal: Proposal) -> Proposal:
    """``proposal`` with its parameters and values as they may be stored."""
    if proposal.values is None:
        return proposal  # a termination stores no snapshot
    parameters, values = seal_snapshot(
        deps, proposal.parameters or {}, proposal.values, proposal.secret_paths
    )
    return replace(proposal, parameters=parameters, values=values)


def seal_snapshot(
    deps: Deps, parameters: JsonObject, values: JsonObject, paths: tuple[str, ...]
) -> tuple[JsonObject, JsonObject]:
    """A revision's parameters and values, sealed together: at most one data key."""
    both = deps.sealer.seal(
        {_PARAMETERS: parameters, _VALUES: values},
        tuple(f"{side}.{path}" for side in (_PARAMETERS, _VALUES) for path in paths),
    )
    return both[_PARAMETERS], both[_VALUES]


def unsealed(deps: Deps, values: JsonObject) -> JsonObject:
    """``values`` in clear, for a backend or for a schema to check."""
    return deps.sealer.unseal(values)


def revealed(
    deps: Deps, values: JsonObject, paths: tuple[str, ...]
) -> tuple[JsonObject, tuple[Any, ...]]:
    """``values`` in clear, and the secret values among them (what a plan must scrub)."""
    plain = deps.sealer.unseal(values)
    return plain, tuple(leaf_at(plain, path) for path in secret_leaf_paths(values, paths))


def refuse_sealed(parameters: JsonObject) -> None:
    """400 for a request that sends a sealed string as a value: only this service seals, and
    a copied blob would be deployed as someone else's secret."""
    for path in secret_leaf_paths(parameters):
        if is_sealed(leaf_at(parameters, path)):
            where = ".".join(str(step) for step in path)
            raise InvalidRequest(
                f"Parameter {where}: a value starting with {SEALED_MARK!r} is reserved for"
                " sealed secrets; send the value itself"
            )


def secret_leaves(values: JsonObject, paths: tuple[str, ...]) -> tuple[LeafPath, ...]:
    """Where the secret values of ``values`` (sealed or in clear) are, for a backend."""
    return tuple(secret_leaf_paths(values, paths))


def refuse_exposed_secrets(adapter: Adapter, proposal: Proposal) -> None:
    """422 for a change that would hand secret values to an adapter that can only write them
    in clear into a cluster object; raised before anything is stored or sent."""
    if adapter not in _VALUES_INLINE_ONLY or not proposal.values:
        return
    leaves = secret_leaves(proposal.values, proposal.secret_paths)
    if leaves:
        raise SecretValuesUnsupported.for_adapter(adapter.value, leaves)
