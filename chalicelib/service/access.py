"""The one gate of every use case: may this caller do this, here? And the audit records
that tell what was done, or refused, and by whom.

Every entry point (the API's views, the scheduled and alarm triggers acting as their own
principals) reaches the service through the functions that call ``require``, so the policy
in ``domain.access`` is enforced in one place whichever way a request came in. A refusal
is recorded in the audit trail before it is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from chalicelib.domain.access import REQUIRED_ROLE, Action, allows, visible_namespaces
from chalicelib.domain.audit import AuditRecord, Outcome
from chalicelib.domain.errors import Forbidden
from chalicelib.service.context import Caller, Deps, time_ordered_id

logger = logging.getLogger(__name__)
T = TypeVar("T")


def new_audit_id() -> str:
    return time_ordered_id("aud")


def audit_record(
    deps: Deps,
    caller: Caller,
    *,
    what: str,
    target: str,
    outcome: Outcome = Outcome.ACCEPTED,
    namespace: str | None = None,
    deployment_id: str | None = None,
    operation_id: str | None = None,
    detail: str | None = None,
) -> AuditRecord:
    return AuditRecord(
        id=new_audit_id(),
        at=deps.clock(),
        actor=caller.actor,
        action=what,
        target=target,
        outcome=outcome,
        trigger=caller.trigger.value,
        deployment_id=deployment_id,
        namespace=namespace,
        reason=caller.reason,
        request_id=caller.request_id,
        source_ip=caller.source_ip,
        operation_id=operation_id,
        detail=detail,
    )


def require(
    deps: Deps,
    caller: Caller,
    action: Action,
    *,
    what: str,
    target: str,
    namespace: str | None = None,
    deployment_id: str | None = None,
    anywhere: bool = False,
) -> None:
    """Refuse (403, recorded) unless the caller's grants allow ``action`` on ``namespace``
    (None: an action that touches no namespace). With ``anywhere``, a grant in any namespace
    is enough: the early check of a change whose namespace is not known yet."""
    if anywhere:
        permitted = any(g.role >= REQUIRED_ROLE[action] for g in caller.grants)
    else:
        permitted = allows(caller.grants, action, namespace)
    if permitted:
        return
    message = _refusal(caller, action, what, target, namespace)
    record = audit_record(
        deps,
        caller,
        what=what,
        target=target,
        outcome=Outcome.DENIED,
        namespace=namespace,
        deployment_id=deployment_id,
        detail=message,
    )
    try:
        deps.store.record_audit(record)
    except Exception:  # the refusal stands even when the trail cannot take it right now
        logger.exception("could not record a refusal", extra={"actor": caller.actor})
    raise Forbidden(message)


def require_then_read(
    deps: Deps,
    caller: Caller,
    action: Action,
    *,
    what: str,
    target: str,
    deployment_id: str,
    read: Callable[[], T],
    namespace_of: Callable[[T], str],
) -> T:
    """What ``read`` finds about a deployment, once the caller may ``what`` it: 403 before
    anything is read when no grant of the caller has the role, else once ``namespace_of``
    what was read tells the deployment's namespace."""
    require(deps, caller, action, what=what, target=target, anywhere=True)
    found = read()
    require(
        deps,
        caller,
        action,
        what=what,
        target=target,
        namespace=namespace_of(found),
        deployment_id=deployment_id,
    )
    return found


def may_read(caller: Caller, namespace: str) -> bool:
    return allows(caller.grants, Action.READ, namespace)


def readable_namespaces(deps: Deps, caller: Caller, *, what: str) -> frozenset[str] | None:
    """The namespaces the caller may read (None: all of them); 403 for no read grant."""
    require(deps, caller, Action.READ, what=what, target=what, anywhere=True)
    return visible_namespaces(caller.grants)


def _refusal(caller: Caller, action: Action, what: str, target: str, namespace: str | None) -> str:
    needed = REQUIRED_ROLE[action].label
    held = ", ".join(sorted(g.group for g in caller.grants)) or "no o2dms group"
    where = f" in namespace {namespace}" if namespace else ""
    unscoped = " (a grant for every namespace)" if namespace is None else ""
    return (
        f"{caller.actor} may not {what} {target}: that needs the {needed} role{where}"
        f"{unscoped}; the caller has {held}"
    )
