"""The OpenAPI 3.1 document of the API, built from the same models that shape the answers.

Served at ``/o2dms/v1/openapi.json``; the tests validate every response they receive
against it. Imported only when the document is asked for.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api import app_schemas as a
from chalicelib.api import names
from chalicelib.api import schemas as s
from chalicelib.api.audit import EXPORT_PAGE, NEXT_TOKEN_HEADER
from chalicelib.api.http import MAX_BODY_BYTES, MAX_JSON_DEPTH
from chalicelib.domain.apps import PLATFORMS, AppStatus
from chalicelib.domain.dora import DEFAULT_WINDOW, MAX_WINDOW, WINDOW
from chalicelib.domain.states import Adapter, DeploymentStatus
from chalicelib.service.managers import LOCAL_ID

REF = "#/components/schemas/{model}"
DEPLOYMENTS = "/o2dms/v1/nfDeployments"
DESCRIPTORS = "/o2dms/v1/nfDeploymentDescriptors"
MANAGERS = "/o2dms/v1/deploymentManagers"
ONE = DEPLOYMENTS + "/{deploymentId}"
AUDIT = "/o2dms/v1/audit"
APPS = "/api/v1/deployments"
APP = APPS + "/{deployment_id}"
DORA = "/api/v1/metrics/dora"

_REQUESTS: tuple[type[BaseModel], ...] = (
    s.ManagerCreate,
    s.DescriptorCreate,
    s.DeploymentCreate,
    s.DeploymentUpgrade,
    s.ScaleRequest,
    s.RollbackRequest,
    s.TerminateRequest,
    s.ScheduleCreate,
    s.AlarmBindingIn,
    a.ApmDeploymentStart,
    a.ApmRollbackRequest,
    a.ApmDryRunRollback,
)
_RESPONSES: tuple[type[BaseModel], ...] = (
    s.ErrorBody,
    s.HealthOut,
    s.ManagerOut,
    s.ManagerList,
    s.DescriptorOut,
    s.DescriptorList,
    s.DeploymentOut,
    s.DeploymentList,
    s.StatusOut,
    s.HistoryOut,
    s.RevisionDetail,
    s.OperationOut,
    s.OperationList,
    s.PlanOut,
    s.ScheduleOut,
    s.ScheduleList,
    s.AlarmBindingOut,
    s.AuditList,
    s.HealthChecksOut,
    a.ApmHealthChecks,
    a.ApmDeployment,
    a.ApmDeploymentList,
    a.ApmRollbackPlan,
    a.ApmDoraMetrics,
)

_ERRORS = {
    400: "Bad request: malformed JSON, unknown fields, invalid values or ids",
    401: "Unauthorized: no credentials, or a token that is invalid or expired",
    403: "Forbidden: the caller's role (or its namespace scope) does not allow this",
    413: f"Payload too large: the body is over {MAX_BODY_BYTES // 1024} KiB, or the stored"
    " item would be",
    404: "Deployment, descriptor, revision or operation not found",
    409: (
        "Conflict: an operation is in progress, a rollback is running, the target is current,"
        " or the release is no longer on the cluster"
    ),
    422: (
        "Parameters fail the descriptor's parameter schema, or the cluster's API server"
        " refuses the objects they render"
    ),
    500: "The backend failed to carry out the change, or an unexpected error",
    503: (
        "The deployment backend (cluster) or the deployment store is unavailable, or the"
        " cluster refuses the deployment manager's credentials a permission"
    ),
}
# Any endpoint may meet an unexpected error or an unavailable store.
_ALWAYS = (500, 503)
# Every operation but the public ones needs credentials, and may be refused for the role.
_SIGNED_IN = (401, 403)
BEARER = "bearer"
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Cognito ID token in AWS (`make token` prints one for the local run)."
        " Machine callers sign with SigV4 on the stack's IAM endpoint instead. The token's"
        " groups give the role: o2dms-viewer reads; o2dms-operator also deploys, upgrades,"
        " scales, rolls back and manages schedules and alarms; o2dms-admin also manages"
        " descriptors and deployment managers, terminates, and reads the audit trail."
        " A group may be limited to one namespace: o2dms-operator:production.",
    }
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json_content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _answer(description: str, model: type[BaseModel] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if model is not None:
        answer["content"] = _json_content(model)
    return answer


def _change_or_plan(description: str) -> dict[str, Any]:
    """200 of a change that is either made (the deployment) or, with dryRun, only planned."""
    schema = {"oneOf": [_ref(s.DeploymentOut), _ref(s.PlanOut)]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str,
    ok: dict[int, dict[str, Any]],
    errors: tuple[int, ...],
    *,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    parameters: tuple[dict[str, Any], ...] = (),
    public: bool = False,
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(code): answer for code, answer in ok.items()}
    always = set(_ALWAYS) | (set() if public else set(_SIGNED_IN)) | ({413} if body else set())
    for code in sorted(set(errors) | always):
        responses[str(code)] = _answer(_ERRORS[code], s.ErrorBody)
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    op["security"] = [] if public else [{BEARER: []}]
    if parameters:
        op["parameters"] = list(parameters)
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": _json_content(body)}
    return op


def _param(name: str, where: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


_STR = {"type": "string"}


def _id(pattern: re.Pattern[str], max_length: int) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern.pattern, "minLength": 1, "maxLength": max_length}


DEPLOYMENT_ID = _param(
    "deploymentId",
    "path",
    "The deployment's id (its name)",
    _id(names.DNS_LABEL, names.DEPLOYMENT_NAME_MAX),
)
DESCRIPTOR_ID = _param(
    "descriptorId", "path", "The descriptor's id", _id(names.DESCRIPTOR_ID, names.DESCRIPTOR_ID_MAX)
)
MANAGER_ID = _param(
    "deploymentManagerId",
    "path",
    "The deployment manager's id",
    _id(names.DNS_LABEL, names.DNS_LABEL_MAX),
)
# The built-in local cluster can be read but not deleted (400).
DELETABLE_MANAGER_ID = _param(
    "deploymentManagerId",
    "path",
    f"The deployment manager's id; not {LOCAL_ID!r}, the built-in local cluster, which"
    " cannot be deleted (400)",
    {**_id(names.DNS_LABEL, names.DNS_LABEL_MAX), "not": {"const": LOCAL_ID}},
)
LIMIT = _param("limit", "query", "Page size", {"type": "integer", "minimum": 1, "maximum": 100})
TOKEN = _param(
    "nextToken",
    "query",
    "The nextToken of the previous page, as the API returned it (unpadded base64url; any"
    " other value is 400); empty or absent: the first page",
    {"type": "string", "pattern": names.NEXT_TOKEN.pattern, "maxLength": names.NEXT_TOKEN_MAX},
)
DRY_RUN = _param("dryRun", "query", "Answer with the plan; change nothing", {"type": "boolean"})
PREFER = _param(
    "Prefer",
    "header",
    "RFC 7240 `wait=N`: answer once the operation has ended (the deployment as it left it),"
    " or after N seconds (at most 25) with the state of that moment; the answer then carries"
    " `Preference-Applied: wait=N`. Other preferences, and any other value, are ignored",
    {"type": "string"},
)
DETAIL = _param(
    "detail",
    "query",
    "pods: every pod's checks (default: one per component and type)",
    {"type": "string", "enum": ["pods"]},
)
_PLAN = _answer("dryRun=true: what the backend would run", s.PlanOut)


def _found(summary: str, model: type[BaseModel]) -> dict[str, Any]:
    """GET of one thing by its id."""
    return _operation(summary, {200: _answer("Found", model)}, (400, 404))


def _deleted(summary: str, errors: tuple[int, ...]) -> dict[str, Any]:
    return _operation(summary, {204: _answer("Deleted")}, errors)


def _local_not_deletable(operation: dict[str, Any]) -> dict[str, Any]:
    """DELETE of a manager: its id may not be the built-in cluster's, whose deletion is 400."""
    bad_request = _answer(
        f"{_ERRORS[400]}, or the built-in {LOCAL_ID!r} cluster, which cannot be deleted",
        s.ErrorBody,
    )
    responses = {**operation["responses"], "400": bad_request}
    return {**operation, "parameters": [DELETABLE_MANAGER_ID], "responses": responses}


def _page(summary: str, model: type[BaseModel], errors: tuple[int, ...]) -> dict[str, Any]:
    """GET of one page of a listing (limit and nextToken)."""
    return _operation(summary, {200: _answer("A page", model)}, errors, parameters=(LIMIT, TOKEN))


def _paths() -> dict[str, Any]:
    mutation = (400, 404, 409, 422, 500, 503)
    return {
        "/o2dms/v1/health": {
            "get": _operation(
                "Liveness: the API answers (it reads nothing; no credentials needed)",
                {200: _answer("Up", s.HealthOut)},
                (),
                public=True,
            ),
        },
        MANAGERS: {
            "post": _operation(
                "Register a target cluster (eks or kubeconfig)",
                {201: _answer("Registered", s.ManagerOut)},
                (400, 409),
                body=s.ManagerCreate,
            ),
            "get": _page("List target clusters", s.ManagerList, (400,)),
        },
        MANAGERS + "/{deploymentManagerId}": {
            "parameters": [MANAGER_ID],
            "get": _found("Get a target cluster", s.ManagerOut),
            "delete": _local_not_deletable(
                _deleted(
                    "Unregister a target cluster (409 while deployments use it; 400 for the"
                    f" built-in {LOCAL_ID!r} cluster, which cannot be deleted)",
                    (400, 404, 409),
                )
            ),
        },
        DESCRIPTORS: {
            "post": _operation(
                "Create a descriptor",
                {201: _answer("Created", s.DescriptorOut)},
                (400, 409, 422),
                body=s.DescriptorCreate,
            ),
            "get": _page("List descriptors", s.DescriptorList, (400,)),
        },
        DESCRIPTORS + "/{descriptorId}": {
            "parameters": [DESCRIPTOR_ID],
            "get": _found("Get a descriptor", s.DescriptorOut),
            "delete": _deleted(
                "Delete a descriptor (409 while a deployment uses it)", (400, 404, 409)
            ),
        },
        DEPLOYMENTS: {
            "post": _operation(
                "Instantiate a deployment",
                {
                    201: _answer("Created; the rollout continues (see status)", s.DeploymentOut),
                    200: _PLAN,
                },
                mutation,
                body=s.DeploymentCreate,
                parameters=(DRY_RUN, PREFER),
            ),
            "get": _operation(
                "List deployments",
                {200: _answer("A page", s.DeploymentList)},
                (400,),
                parameters=(
                    LIMIT,
                    TOKEN,
                    *(
                        _param(n, "query", f"Only deployments with this {n}", schema)
                        for n, schema in (
                            ("status", {"enum": [v.value for v in DeploymentStatus]}),
                            ("descriptorId", _STR),
                            ("namespace", _STR),
                            ("adapter", {"enum": [v.value for v in Adapter]}),
                            ("deploymentManagerId", _STR),
                        )
                    ),
                ),
            ),
        },
        ONE: {
            "parameters": [DEPLOYMENT_ID],
            "get": _found("Get a deployment", s.DeploymentOut),
            "put": _operation(
                "Upgrade: new descriptor and/or parameters (deep-merged)",
                {200: _change_or_plan("Upgrade started, or (dryRun) its plan")},
                mutation,
                body=s.DeploymentUpgrade,
                parameters=(DRY_RUN, PREFER),
            ),
            "delete": _operation(
                "Terminate (history stays readable)",
                {202: _answer("Termination started", s.DeploymentOut), 200: _PLAN},
                (400, 404, 409, 500, 503),
                body=s.TerminateRequest,
                body_required=False,
                parameters=(DRY_RUN, PREFER),
            ),
        },
        ONE + "/scale": {
            "parameters": [DEPLOYMENT_ID],
            "post": _operation(
                "Scale",
                {
                    204: _answer("Scaling started"),
                    200: _change_or_plan(
                        "Already settled at that count, so nothing changed (the deployment,"
                        " its message saying so), or (dryRun) the plan"
                    ),
                },
                mutation,
                body=s.ScaleRequest,
                parameters=(DRY_RUN, PREFER),
            ),
        },
        ONE + "/rollback": {
            "parameters": [DEPLOYMENT_ID],
            "post": _operation(
                "Roll back (revision 0: the previous good revision)",
                {200: _change_or_plan("Rollback started, or (dryRun) its plan")},
                mutation,
                body=s.RollbackRequest,
                parameters=(DRY_RUN, PREFER),
            ),
        },
        ONE + "/status": {
            "parameters": [DEPLOYMENT_ID],
            "get": _operation("Status", {200: _answer("Status", s.StatusOut)}, (400, 404)),
        },
        ONE + "/healthChecks": {
            "parameters": [DEPLOYMENT_ID],
            "get": _operation(
                "Health checks evaluated now (one per component and type; detail=pods: every"
                " pod's)",
                {200: _answer("The checks", s.HealthChecksOut)},
                (400, 404),
                parameters=(DETAIL,),
            ),
        },
        ONE + "/history": {
            "parameters": [DEPLOYMENT_ID],
            "get": _page("Revision history, newest first", s.HistoryOut, (400, 404)),
        },
        ONE + "/history/{revision}": {
            "parameters": [
                DEPLOYMENT_ID,
                _param("revision", "path", "Revision number", {"type": "integer", "minimum": 1}),
            ],
            "get": _found("One revision with its full snapshot", s.RevisionDetail),
        },
        ONE + "/operations": {
            "parameters": [DEPLOYMENT_ID],
            "get": _page("Operations, newest first", s.OperationList, (400, 404)),
        },
        ONE + "/scalingSchedules": {
            "parameters": [DEPLOYMENT_ID],
            "post": _operation(
                "Create a scaling schedule (an EventBridge Scheduler schedule)",
                {201: _answer("Created", s.ScheduleOut)},
                (400, 404, 409),
                body=s.ScheduleCreate,
            ),
            "get": _operation(
                "The deployment's scaling schedules",
                {200: _answer("All of them", s.ScheduleList)},
                (400, 404),
            ),
        },
        ONE + "/scalingSchedules/{scheduleId}": {
            "parameters": [
                DEPLOYMENT_ID,
                _param(
                    "scheduleId",
                    "path",
                    "Schedule id",
                    {"type": "string", "pattern": "^sch-[A-Za-z0-9]+$", "maxLength": 64},
                ),
            ],
            "get": _found("One scaling schedule, with its next and last firing", s.ScheduleOut),
            "delete": _deleted("Delete a scaling schedule", (400, 404)),
        },
        ONE + "/rollbackAlarms": {
            "parameters": [DEPLOYMENT_ID],
            "put": _operation(
                "Bind the CloudWatch alarms that roll the deployment back",
                {200: _answer("The binding", s.AlarmBindingOut)},
                (400, 404),
                body=s.AlarmBindingIn,
            ),
            "get": _operation(
                "The alarm binding (defaults when none was set)",
                {200: _answer("The binding", s.AlarmBindingOut)},
                (400, 404),
            ),
        },
        AUDIT: {
            "get": {
                **_operation(
                    "The audit trail, newest first (admin): who did or tried what, when, from"
                    " where, and how it ended; read-only",
                    {
                        200: {
                            "description": "A page (format=jsonl: JSON lines, the next page's"
                            f" token in {NEXT_TOKEN_HEADER})",
                            "content": {
                                **_json_content(s.AuditList),
                                "application/x-ndjson": {"schema": _STR},
                            },
                            "headers": {
                                NEXT_TOKEN_HEADER: {
                                    "description": "format=jsonl: the next page's nextToken",
                                    "schema": _STR,
                                }
                            },
                        }
                    },
                    (400,),
                    parameters=(
                        _param(
                            "actor",
                            "query",
                            "Only this actor's records",
                            {"type": "string", "maxLength": 256},
                        ),
                        _param(
                            "deploymentId",
                            "query",
                            "Only records about this deployment",
                            _id(names.DNS_LABEL, names.DEPLOYMENT_NAME_MAX),
                        ),
                        _param(
                            "since",
                            "query",
                            "From this instant (ISO 8601)",
                            {"type": "string", "format": "date-time"},
                        ),
                        _param(
                            "until",
                            "query",
                            "Up to this instant (ISO 8601)",
                            {"type": "string", "format": "date-time"},
                        ),
                        _param(
                            "format",
                            "query",
                            "json (a page object) or jsonl (one record per line, an export)",
                            {"type": "string", "enum": ["json", "jsonl"]},
                        ),
                        _param(
                            "limit",
                            "query",
                            f"Page size: up to 100, or up to {EXPORT_PAGE} with format=jsonl",
                            {"type": "integer", "minimum": 1, "maximum": EXPORT_PAGE},
                        ),
                        TOKEN,
                    ),
                )
            },
        },
        ONE + "/operations/{operationId}": {
            "parameters": [
                DEPLOYMENT_ID,
                _param(
                    "operationId",
                    "path",
                    "Operation id",
                    {"type": "string", "pattern": "^op-", "maxLength": 64},
                ),
            ],
            "get": _found("One operation", s.OperationOut),
        },
    }


APP_ID = _param(
    "deployment_id",
    "path",
    "The deployment's id: a UUID (one rollout of a version)",
    {
        "type": "string",
        "format": "uuid",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    },
)


def _app_paths() -> dict[str, Any]:
    """Seed 002's view: a deployment is one rollout of a version (an operation)."""
    mutation = (400, 404, 409, 422, 500, 503)
    return {
        APPS: {
            "post": _operation(
                "Start a deployment of a version (the first one of a name in an environment"
                " instantiates it; later ones upgrade it)",
                {201: _answer("Started; follow it with GET", a.ApmDeployment)},
                mutation,
                body=a.ApmDeploymentStart,
            ),
            "get": _operation(
                "List deployments, newest first",
                {200: _answer("A page", a.ApmDeploymentList)},
                (400,),
                parameters=(
                    LIMIT,
                    _param(
                        "next_token",
                        "query",
                        "The next_token of the previous page, as the API returned it",
                        {
                            "type": "string",
                            "pattern": names.NEXT_TOKEN.pattern,
                            "maxLength": names.NEXT_TOKEN_MAX,
                        },
                    ),
                    *(
                        _param(n, "query", f"Only deployments with this {n}", schema)
                        for n, schema in (
                            ("platform", {"enum": list(PLATFORMS)}),
                            ("environment", _STR),
                            ("status", {"enum": [v.value for v in AppStatus]}),
                            ("name", _STR),
                        )
                    ),
                ),
            ),
        },
        APP: {
            "parameters": [APP_ID],
            "get": _found("Get a deployment: status, progress, stages", a.ApmDeployment),
        },
        DORA: {
            "get": _operation(
                "DORA figures of the deployments started in a window, overall and per"
                " platform and environment",
                {200: _answer("The figures", a.ApmDoraMetrics)},
                (400,),
                parameters=(
                    _param(
                        "window",
                        "query",
                        "How far back from now: days, hours, minutes and seconds (7d, 12h,"
                        f" 1d12h), at most {MAX_WINDOW.days}d; default {DEFAULT_WINDOW}",
                        {"type": "string", "pattern": WINDOW.pattern},
                    ),
                    *(
                        _param(n, "query", f"Only deployments with this {n}", schema)
                        for n, schema in (
                            ("environment", _STR),
                            ("platform", {"enum": ["", *PLATFORMS]}),
                            ("name", _STR),
                        )
                    ),
                ),
            ),
        },
        APP + "/health_checks": {
            "parameters": [APP_ID],
            "get": _operation(
                "The deployment's health checks evaluated now (detail=pods: every pod's)",
                {200: _answer("The checks", a.ApmHealthChecks)},
                (400, 404),
                parameters=(DETAIL,),
            ),
        },
        APP + "/rollback": {
            "parameters": [APP_ID],
            "post": {
                **_operation(
                    "Roll back to a version, with a reason (dry_run=true: the commands, the"
                    " diff and the risks; nothing changes)",
                    {
                        202: _answer("Rollback started: its own deployment", a.ApmDeployment),
                        200: _answer("dry_run=true: the plan", a.ApmRollbackPlan),
                    },
                    mutation,
                    parameters=(
                        _param(
                            "dry_run",
                            "query",
                            "Answer with the plan; change nothing",
                            {"type": "boolean"},
                        ),
                    ),
                ),
                "requestBody": {
                    "required": False,
                    "description": "Required (with a reason) unless dry_run=true",
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    _ref(a.ApmRollbackRequest),
                                    _ref(a.ApmDryRunRollback),
                                ]
                            }
                        }
                    },
                },
            },
        },
    }


@functools.cache
def document_dict() -> dict[str, Any]:
    models = [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _RESPONSES]
    _, schemas = models_json_schema(models, by_alias=True, ref_template=REF)  # type: ignore[arg-type]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "O2-DMS lifecycle API",
            "version": "1.0",
            "description": "O-RAN O2 Deployment Management Services: instantiate, upgrade, "
            "scale, roll back, monitor and terminate NF deployments. Every error is an "
            "ErrorBody; besides each operation's own, a path the API does not have is 404 "
            "NotFound and a method a path does not offer is 405 MethodNotAllowed (see "
            "components.responses). Request bodies are read as JSON whatever their declared "
            f"media type, at most {MAX_BODY_BYTES // 1024} KiB and {MAX_JSON_DEPTH} levels of "
            "nesting (else 400).",
        },
        "paths": _with_links({**_paths(), **_app_paths(), **_metrics_paths()}),
        "security": [{BEARER: []}],
        "components": {
            "schemas": schemas.get("$defs", {}),
            "responses": _outside_paths(),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


_BODY = "$response.body#/"
_IN_PATH = "$request.path."
# (from path, method, status) -> links to (path, method) with their parameters' sources:
# what a client does next with an answer (and what stateful testing follows).
_LINKS: tuple[tuple[tuple[str, str, str], tuple[tuple[str, str], ...], dict[str, str]], ...] = (
    (
        (DESCRIPTORS, "post", "201"),
        ((DESCRIPTORS + "/{descriptorId}", "get"), (DESCRIPTORS + "/{descriptorId}", "delete")),
        {"descriptorId": _BODY + "descriptorId"},
    ),
    (
        (MANAGERS, "post", "201"),
        ((MANAGERS + "/{deploymentManagerId}", "get"),),
        {"deploymentManagerId": _BODY + "deploymentManagerId"},
    ),
    (
        (DEPLOYMENTS, "post", "201"),
        (
            (ONE, "get"),
            (ONE, "put"),
            (ONE, "delete"),
            (ONE + "/scale", "post"),
            (ONE + "/rollback", "post"),
            (ONE + "/status", "get"),
            (ONE + "/history", "get"),
            (ONE + "/operations", "get"),
            (ONE + "/scalingSchedules", "post"),
            (ONE + "/rollbackAlarms", "put"),
        ),
        {"deploymentId": _BODY + "deploymentId"},
    ),
    (
        (APPS, "post", "201"),
        ((APP, "get"), (APP + "/rollback", "post")),
        {"deployment_id": _BODY + "id"},
    ),
    (
        (ONE, "put", "200"),
        ((ONE + "/operations/{operationId}", "get"), (ONE + "/rollback", "post")),
        {"deploymentId": _BODY + "deploymentId", "operationId": _BODY + "operationId"},
    ),
    (
        (ONE + "/history", "get", "200"),
        ((ONE + "/history/{revision}", "get"), (ONE + "/rollback", "post")),
        {"deploymentId": _IN_PATH + "deploymentId", "revision": _BODY + "revisions/0/revision"},
    ),
    (
        (ONE + "/scalingSchedules", "post", "201"),
        (
            (ONE + "/scalingSchedules/{scheduleId}", "get"),
            (ONE + "/scalingSchedules/{scheduleId}", "delete"),
        ),
        {"deploymentId": _IN_PATH + "deploymentId", "scheduleId": _BODY + "scheduleId"},
    ),
)


def _pointer(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _with_links(paths: dict[str, Any]) -> dict[str, Any]:
    """``paths`` with OpenAPI links from answers to the operations they lead to; a link
    passes only the parameters its target takes."""
    for (path, method, status), targets, sources in _LINKS:
        answer = paths[path][method]["responses"][status]
        links = answer.setdefault("links", {})
        for target, verb in targets:
            wanted = {name: source for name, source in sources.items() if f"{{{name}}}" in target}
            name = "_".join([verb, *(part.strip("{}") for part in target.split("/")[3:])])
            links[name] = {
                "operationRef": _pointer(target, verb),
                "parameters": wanted,
            }
    return paths


def _metrics_paths() -> dict[str, Any]:
    """Prometheus's scrape: text, not JSON."""
    exposition = {
        "description": "Both seeds' metrics in Prometheus's text format (version 0.0.4)",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    return {
        "/metrics": {
            "get": _operation(
                "Metrics for Prometheus: operations and deployments counted as they end,"
                " durations, statuses, health checks, rollbacks (a reader of every namespace)",
                {200: exposition},
                (400,),
            )
        }
    }


def _outside_paths() -> dict[str, Any]:
    """Answers to requests no operation above describes (OpenAPI has no place to declare
    them per path): a path the API does not have, a method a path does not offer."""
    return {
        "NoSuchPath": _answer("404 NotFound: the API has no such path", s.ErrorBody),
        "MethodNotAllowed": {
            **_answer(
                "405 MethodNotAllowed: the path does not offer the method (any other"
                " than those documented for it)",
                s.ErrorBody,
            ),
            "headers": {
                "Allow": {"description": "The path's methods", "schema": _STR},
            },
        },
    }


@functools.cache
def document() -> str:
    return json.dumps(document_dict(), separators=(",", ":"))
