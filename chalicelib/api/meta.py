"""Routes about the API itself: its OpenAPI document and a health check."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.errors import handle_errors

bp = Blueprint(__name__)


@bp.route("/o2dms/v1/openapi.json", methods=["GET"])
@handle_errors
def openapi_document() -> Response:
    from chalicelib.api.openapi import document

    return Response(body=document(), status_code=200, headers={"Content-Type": "application/json"})


@bp.route("/o2dms/v1/health", methods=["GET"])
@handle_errors
def health() -> Response:
    from chalicelib.api import http
    from chalicelib.api import schemas as s

    return http.json(s.HealthOut(status="ok"))
