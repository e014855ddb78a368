"""Routes for ``/o2dms/v1/deploymentManagers``: the registry of target clusters.

Each view imports its models (pydantic), renderers and use cases when it runs: ``app``
registers these routes at every cold start, whatever the request.
"""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.errors import handle_errors
from chalicelib.api.names import page_token
from chalicelib.composition import deps
from chalicelib.domain.errors import InvalidRequest

bp = Blueprint(__name__)
BASE = "/o2dms/v1/deploymentManagers"


@bp.route(BASE, methods=["POST"])
@handle_errors
def register_manager() -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.domain.models import DeploymentManager
    from chalicelib.domain.states import ClusterKind
    from chalicelib.service import managers

    body = http.body(bp.current_request, s.ManagerCreate)
    if body.kind == "eks" and body.region is not None:
        from chalicelib.adapters.clusters.eks import is_eks_region

        if not is_eks_region(body.region):
            raise InvalidRequest(f"region {body.region!r} is not an AWS region that offers EKS")
    d = deps()
    manager = DeploymentManager(
        id=body.deployment_manager_id,
        kind=ClusterKind(body.kind),
        name=body.name or body.deployment_manager_id,
        default_namespace=body.default_namespace or d.settings.default_namespace,
        created_at=d.clock(),
        cluster_name=body.cluster_name,
        region=body.region,
        role_arn=body.role_arn,
        kubeconfig_source=body.kubeconfig_source,
        context=body.context,
        project=body.project,
        location=body.location,
        subscription=body.subscription,
        resource_group=body.resource_group,
        credentials_secret=body.credentials_secret,
        is_default=body.default,
    )
    registered = managers.register(d, manager, http.caller(bp.current_request))
    return http.json(render.manager(registered), 201, {"Location": f"{BASE}/{registered.id}"})


@bp.route(BASE, methods=["GET"])
@handle_errors
def list_managers() -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.service import managers

    limit, token = http.page(bp.current_request)
    token = page_token(token)
    who = http.caller(bp.current_request)
    page = managers.list_page(deps(), who, limit=limit, token=token)
    return http.json(
        s.ManagerList(
            deployment_managers=[render.manager(m) for m in page.items],
            next_token=page.next_token,
        )
    )


@bp.route(BASE + "/{manager_id}", methods=["GET"])
@handle_errors
def get_manager(manager_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.service import managers

    req = bp.current_request
    http.query(req, ())
    found = managers.get(deps(), http.manager_id(manager_id), http.caller(req))
    return http.json(render.manager(found))


@bp.route(BASE + "/{manager_id}", methods=["DELETE"])
@handle_errors
def delete_manager(manager_id: str) -> Response:
    from chalicelib.service import managers

    managers.delete(deps(), http.manager_id(manager_id), http.caller(bp.current_request))
    return http.no_content()
