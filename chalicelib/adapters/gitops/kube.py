"""The one door from the GitOps adapters to a cluster's API server.

Argo CD and Flux are driven through custom objects (and Flux's secret values through one
core ``Secret`` per release), so the adapters need only get, create, patch and delete on a
few resources; the ``kubernetes`` adapter (``adapters/workloads``) uses the same door for
Deployments, ReplicaSets, Services and Pods, and lists them by label. Every change is first
built as a ``Request`` (plain data, no I/O): the same value is what a plan shows and what
``send`` sends, so a dry run shows exactly what a real run would do.

``KubeApi.session`` asks the ``CredentialsProvider`` for fresh credentials (EKS tokens
expire within minutes) and builds a Kubernetes client from a kubeconfig document or from
server + CA + bearer token. The ``kubernetes`` package is imported there, never at import
time: it costs ~670 ms and the cold-start path must not pay it. Its errors are translated
into ours at this one chokepoint:

    404                        -> ReleaseNotFound
    409                        -> ReleaseConflict
    400, 422 (schema, patch)   -> BackendFailure, with the API server's own message
    403 (a permission the identity lacks) -> BackendForbidden, a BackendUnavailable
    401, 429, 5xx,
    connection and TLS errors  -> BackendUnavailable
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.errors import (
    BackendError,
    BackendFailure,
    BackendForbidden,
    BackendTimeout,
    BackendUnavailable,
    ReleaseConflict,
    ReleaseNotFound,
)
from chalicelib.domain.models import JsonObject
from chalicelib.domain.ports import ClusterCredentials, CredentialsProvider

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"  # RFC 6902: replaces whole subtrees exactly
MERGE_PATCH = "application/merge-patch+json"  # RFC 7386


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource type, as the API server addresses it (``group`` empty: the core API)."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def core(self) -> bool:
        return not self.group

    @property
    def api_version(self) -> str:
        return self.version if self.core else f"{self.group}/{self.version}"

    def path(self, namespace: str, name: str | None = None) -> str:
        api = f"/api/{self.version}" if self.core else f"/apis/{self.group}/{self.version}"
        base = f"{api}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{name}" if name else base


APPLICATION = Resource("argoproj.io", "v1alpha1", "applications", "Application")
HELM_RELEASE = Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
HELM_REPOSITORY = Resource("source.toolkit.fluxcd.io", "v1", "helmrepositories", "HelmRepository")
SECRET = Resource("", "v1", "secrets", "Secret")
DEPLOYMENT = Resource("apps", "v1", "deployments", "Deployment")
REPLICA_SET = Resource("apps", "v1", "replicasets", "ReplicaSet")
SERVICE = Resource("", "v1", "services", "Service")
POD = Resource("", "v1", "pods", "Pod")
ENDPOINT_SLICE = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
HIDDEN = "***"  # what a plan shows of a Secret's data


@dataclass(frozen=True, slots=True)
class Request:
    """One change to send: create (``POST``), patch (``PATCH``) or delete (``DELETE``)."""

    method: str
    resource: Resource
    namespace: str
    name: str
    body: JsonObject | list[JsonObject] | None = None
    content_type: str = JSON

    def describe(self) -> JsonObject:
        """The HTTP request, as a plan step's body shows it."""
        create = self.method == "POST"
        shown: JsonObject = {
            "method": self.method,
            "path": self.resource.path(self.namespace, None if create else self.name),
        }
        if self.body is not None:
            shown["contentType"] = self.content_type
            shown["body"] = _hide_data(self.body) if self.resource is SECRET else self.body
        return shown


def _hide_data(body: JsonObject | list[JsonObject]) -> JsonObject | list[JsonObject]:
    """A Secret's body with every value of its ``data``/``stringData`` shown as ``***``."""
    if not isinstance(body, dict):
        return body
    return {
        key: {k: HIDDEN for k in value} if key in ("data", "stringData") and value else value
        for key, value in body.items()
    }


def create(resource: Resource, obj: JsonObject) -> Request:
    meta = obj["metadata"]
    return Request("POST", resource, meta["namespace"], meta["name"], obj)


def json_patch(resource: Resource, namespace: str, name: str, ops: list[JsonObject]) -> Request:
    return Request("PATCH", resource, namespace, name, ops, JSON_PATCH)


def merge_patch(resource: Resource, namespace: str, name: str, patch: JsonObject) -> Request:
    return Request("PATCH", resource, namespace, name, patch, MERGE_PATCH)


def delete(resource: Resource, namespace: str, name: str) -> Request:
    return Request("DELETE", resource, namespace, name)


def pointer(*parts: str) -> str:
    """A JSON Pointer (RFC 6901) to ``parts``, escaping ``~`` and ``/`` inside them."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


class KubeSession:
    """Custom-object calls on one cluster with one set of credentials."""

    def __init__(self, api: CustomObjectsApi, timeout: tuple[float, float]) -> None:
        self._api = api
        self._timeout = timeout

    def get(self, resource: Resource, namespace: str, name: str) -> JsonObject | None:
        """The object, or ``None`` when there is none."""
        what = f"{resource.kind} {namespace}/{name}"
        try:
            found = self._call(
                what,
                lambda: (
                    self._core("GET", resource.path(namespace, name))
                    if resource.core
                    else self._api.get_namespaced_custom_object(
                        resource.group,
                        resource.version,
                        namespace,
                        resource.plural,
                        name,
                        _request_timeout=self._timeout,
                    )
                ),
            )
        except ReleaseNotFound:
            return None
        if not isinstance(found, dict):
            raise BackendFailure(f"the API server answered {what} with a {type(found).__name__}")
        return found

    def select(self, resource: Resource, namespace: str, selector: str) -> list[JsonObject]:
        """The objects of ``resource`` in ``namespace`` whose labels match ``selector``."""
        what = f"{resource.kind}s in {namespace} ({selector})"
        found = self._call(
            what,
            lambda: (
                self._core("GET", resource.path(namespace), query=[("labelSelector", selector)])
                if resource.core
                else self._api.list_namespaced_custom_object(
                    resource.group,
                    resource.version,
                    namespace,
                    resource.plural,
                    label_selector=selector,
                    _request_timeout=self._timeout,
                )
            ),
        )
        items = found.get("items") if isinstance(found, dict) else None
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def namespace(self, name: str) -> JsonObject | None:
        """The Namespace object (its labels say whether a service mesh injects sidecars)."""
        what = f"Namespace {name}"
        try:
            found = self._call(what, lambda: self._core("GET", f"/api/v1/namespaces/{name}"))
        except ReleaseNotFound:
            return None
        return found if isinstance(found, dict) else None

    def proxy_get(
        self, namespace: str, service: str, port: int, path: str, *, timeout: float
    ) -> tuple[int, str]:
        """GET ``path`` of a Service through the API server's service proxy
        (``/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH``): the status and the start
        of the body, whatever the status. The API server's own refusals (no endpoints, a
        connection refused) come back the same way, as a ``Status`` body; a request that
        outlasts ``timeout`` raises ``BackendTimeout``."""
        import urllib3

        client = self._api.api_client
        where = f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/"
        serialized = client.param_serialize(
            "GET",
            where + path.lstrip("/"),
            header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )
        method, url, headers = serialized[0], serialized[1], serialized[2]
        try:  # one attempt, bounded by the check's timeout (no client retries)
            response = client.rest_client.pool_manager.request(
                method,
                url,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=False,
            )
            body = response.data
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            cause = getattr(exc, "reason", None)  # urllib3 wraps a timeout in its retries
            if isinstance(exc, urllib3.exceptions.TimeoutError) or isinstance(
                cause, urllib3.exceptions.TimeoutError
            ):
                raise BackendTimeout(f"no answer within {timeout:g}s") from exc
            raise BackendUnavailable(f"Kubernetes API server unreachable: {exc}") from exc
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        return int(response.status), text[:2048]

    def send(self, request: Request) -> None:
        r, ns = request.resource, request.namespace
        what = f"{r.kind} {ns}/{request.name}"
        group, version, plural = r.group, r.version, r.plural
        if r.core:
            creating = request.method == "POST"
            path = r.path(ns, None if creating else request.name)
            self._call(
                what,
                lambda: self._core(request.method, path, request.body, request.content_type),
                creating=creating,
            )
        elif request.method == "POST":
            assert isinstance(request.body, dict)
            body = request.body
            self._call(
                what,
                lambda: self._api.create_namespaced_custom_object(
                    group,
                    version,
                    ns,
                    plural,
                    body,
                    _headers={"Content-Type": request.content_type},  # the client sends none
                    _request_timeout=self._timeout,
                ),
                creating=True,
            )
        elif request.method == "PATCH":
            assert request.body is not None
            patch = request.body
            self._call(
                what,
                lambda: self._api.patch_namespaced_custom_object(
                    group,
                    version,
                    ns,
                    plural,
                    request.name,
                    patch,
                    _content_type=request.content_type,
                    _request_timeout=self._timeout,
                ),
            )
        elif request.method == "DELETE":
            self._call(
                what,
                lambda: self._api.delete_namespaced_custom_object(
                    group, version, ns, plural, request.name, _request_timeout=self._timeout
                ),
            )
        else:
            raise ValueError(f"unsupported method {request.method}")

    def _core(
        self,
        method: str,
        path: str,
        body: JsonObject | list[JsonObject] | None = None,
        content_type: str = JSON,
        *,
        query: list[tuple[str, str]] | None = None,
    ) -> object:
        """One call on the core API (``/api/v1``), which the custom-objects client cannot make."""
        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = content_type
        client = self._api.api_client
        serialized = client.param_serialize(
            method,
            path,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = client.call_api(*serialized, _request_timeout=self._timeout)
        response.read()
        return client.response_deserialize(response, {"2XX": "object"}).data

    @staticmethod
    def _call(what: str, call: Callable[[], object], *, creating: bool = False) -> object:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        from chalicelib import tracing

        try:
            with tracing.subsegment(f"kubernetes {what}"):
                return call()
        except ApiException as exc:
            raise _translate(exc, what, creating=creating) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise BackendUnavailable(f"Kubernetes API server unreachable ({what}): {exc}") from exc


def _server_message(exc: ApiException) -> str:
    """The ``message`` of the ``Status`` object the API server answered with."""
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])
    return str(exc.reason or exc.body or "no message")


def _translate(exc: ApiException, what: str, *, creating: bool) -> BackendError:
    code = int(exc.status or 0)
    says = _server_message(exc)
    if code == 404 and creating:  # the CRD is not installed, or the namespace is missing
        return BackendFailure(f"cannot create {what}: {says}")
    if code == 404:
        return ReleaseNotFound(f"{what} not found: {says}")
    if code == 409:
        return ReleaseConflict(f"{what}: {says}")
    if code in (400, 422):
        return BackendFailure(f"the API server rejected {what}: {says}")
    if code == 403:
        return BackendForbidden(f"the cluster's identity may not act on {what}: {says}")
    if code in (0, 401, 429) or code >= 500:
        return BackendUnavailable(f"Kubernetes API server unavailable ({what}): {code} {says}")
    return BackendFailure(f"{what}: {code} {says}")


class KubeApi:
    """Opens sessions on one cluster, with credentials fresh for each."""

    def __init__(
        self,
        credentials: CredentialsProvider,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
    ) -> None:
        self._credentials = credentials
        self._timeout = (connect_timeout, read_timeout)

    @contextmanager
    def session(self, *, operation_id: str | None = None) -> Iterator[KubeSession]:
        from kubernetes.client import CustomObjectsApi

        client = api_client(self._credentials(operation_id=operation_id))
        try:
            yield KubeSession(CustomObjectsApi(client), self._timeout)
        finally:
            client.close()  # type: ignore[no-untyped-call]

    def get(self, resource: Resource, namespace: str, name: str) -> JsonObject | None:
        """The object, or ``None`` when there is none, read in a session of its own."""
        with self.session() as kube:
            return kube.get(resource, namespace, name)

    def existing(self, resource: Resource, namespace: str, name: str) -> JsonObject:
        """The object; ``ReleaseNotFound`` when there is none."""
        found = self.get(resource, namespace, name)
        if found is None:
            raise ReleaseNotFound(f"{resource.kind} {namespace}/{name} not found")
        return found

    def send(self, *requests: Request, operation_id: str | None = None) -> None:
        """Send ``requests`` in order, in one session with credentials for ``operation_id``."""
        with self.session(operation_id=operation_id) as kube:
            for request in requests:
                kube.send(request)


def api_client(credentials: ClusterCredentials) -> ApiClient:
    """A Kubernetes client for ``credentials``: a kubeconfig, or server + CA + token."""
    if credentials.kubeconfig:
        return _from_kubeconfig(credentials.kubeconfig, credentials.context)
    from kubernetes.client import ApiClient, Configuration

    if not credentials.server:
        raise BackendUnavailable("the cluster's credentials name no API server")
    configuration = Configuration(host=credentials.server.rstrip("/"))
    if credentials.token:
        configuration.api_key = {"BearerToken": credentials.token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    if credentials.certificate_authority_data:
        try:
            pem = base64.b64decode(credentials.certificate_authority_data, validate=True)
        except binascii.Error as exc:
            raise BackendUnavailable("the cluster's CA data is not base64") from exc
        configuration.ca_cert_data = pem.decode()
    return ApiClient(configuration)


def _from_kubeconfig(document: str, context: str | None) -> ApiClient:
    import yaml
    from kubernetes.config import ConfigException, new_client_from_config_dict

    try:
        loaded = yaml.safe_load(document)
    except yaml.YAMLError as exc:
        raise BackendUnavailable(f"the cluster's kubeconfig is not YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise BackendUnavailable("the cluster's kubeconfig is not a YAML mapping")
    try:
        client: ApiClient = new_client_from_config_dict(  # type: ignore[no-untyped-call]
            loaded, context=context, persist_config=False
        )
    except ConfigException as exc:
        raise BackendUnavailable(f"cannot use the cluster's kubeconfig: {exc}") from exc
    return client
