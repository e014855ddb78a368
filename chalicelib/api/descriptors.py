"""Routes for ``/o2dms/v1/nfDeploymentDescriptors``.

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
BASE = "/o2dms/v1/nfDeploymentDescriptors"


@bp.route(BASE, methods=["POST"])
@handle_errors
def create_descriptor() -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.domain.models import ChartRef
    from chalicelib.service import descriptors

    req = bp.current_request
    request = http.body(req, s.DescriptorCreate)
    d = deps()
    if request.artifact_repo_url.startswith("file://") and not d.settings.allow_local_charts:
        raise InvalidRequest(
            "file:// chart sources are not allowed in this stage (O2DMS_ALLOW_LOCAL_CHARTS)"
        )
    created = descriptors.create(
        d,
        descriptors.NewDescriptor(
            id=request.descriptor_id,
            name=request.name,
            chart=ChartRef(
                request.artifact_repo_url, request.artifact_name, request.artifact_version
            ),
            default_parameters=request.default_parameters,
            parameter_schema=request.parameter_schema,
            adapters=tuple(dict.fromkeys(request.supported_adapters)),
        ),
        http.caller(req),
    )
    return http.json(render.descriptor(created), 201, {"Location": f"{BASE}/{created.id}"})


@bp.route(BASE, methods=["GET"])
@handle_errors
def list_descriptors() -> Response:
    from chalicelib.api import render
    from chalicelib.api import schemas as s
    from chalicelib.service import descriptors

    limit, token = http.page(bp.current_request)
    token = page_token(token)
    who = http.caller(bp.current_request)
    page = descriptors.list_page(deps(), who, limit=limit, token=token)
    return http.json(
        s.DescriptorList(
            nf_deployment_descriptors=[render.descriptor(i) for i in page.items],
            next_token=page.next_token,
        )
    )


@bp.route(BASE + "/{descriptor_id}", methods=["GET"])
@handle_errors
def get_descriptor(descriptor_id: str) -> Response:
    from chalicelib.api import render
    from chalicelib.service import descriptors

    who = http.caller(bp.current_request)
    found = descriptors.get(deps(), http.descriptor_id(descriptor_id), who)
    return http.json(render.descriptor(found))


@bp.route(BASE + "/{descriptor_id}", methods=["DELETE"])
@handle_errors
def delete_descriptor(descriptor_id: str) -> Response:
    from chalicelib.service import descriptors

    who = http.caller(bp.current_request)
    descriptors.delete(deps(), http.descriptor_id(descriptor_id), who)
    return http.no_content()
