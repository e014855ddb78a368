"""A Kubernetes API server for the GitOps adapter tests, reached over real HTTP.

kmock's ``KubernetesEmulator`` keeps objects in memory and answers the Kubernetes REST API
(create, get, JSON/merge patch, delete with finalizers, ``Status`` errors). It is an asyncio
server; the Kubernetes client is synchronous, so the emulator runs on its own event loop in
a background thread and the adapters call it like any API server, with credentials.
What the controllers would write (``status``, finalizer removal) the tests write through
``as_controller``, by the same API.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kmock

from chalicelib.adapters.gitops.kube import Resource
from chalicelib.domain.models import ChartRef, JsonObject
from chalicelib.domain.ports import ClusterCredentials, ReleaseRef, ReleaseTarget

T = TypeVar("T")
TOKEN = "k8s-aws-v1.emulator-token"


@dataclass
class Credentials:
    """A ``CredentialsProvider`` that records the operation id of every request for them."""

    credentials: ClusterCredentials
    asked: list[str | None] = field(default_factory=list)

    def __call__(self, *, operation_id: str | None = None) -> ClusterCredentials:
        self.asked.append(operation_id)
        return self.credentials


@dataclass(frozen=True)
class Seen:
    """One request the emulator received."""

    method: str
    path: str
    content_type: str | None
    authorization: str | None
    data: Any
    query: dict[str, str] = field(default_factory=dict)


class EmulatedCluster:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="kmock", daemon=True)
        self.url = ""
        self.emulator: kmock.KubernetesEmulator | None = None

    def __enter__(self) -> EmulatedCluster:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        stop = self._stop
        assert stop is not None
        self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)
        self._loop.close()

    def _serve(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(10)

    @property
    def _kmock(self) -> kmock.KubernetesEmulator:
        assert self.emulator is not None
        return self.emulator

    # ---------------------------------------------------------------- credentials

    def credentials(self) -> Credentials:
        """Server + bearer token, as the EKS credentials come."""
        return Credentials(ClusterCredentials(server=self.url, token=TOKEN))

    def kubeconfig_credentials(self) -> Credentials:
        """A kubeconfig document, as clusters registered by kubeconfig come."""
        document = f"""
apiVersion: v1
kind: Config
clusters:
- name: emulated
  cluster: {{server: "{self.url}"}}
users:
- name: tester
  user: {{token: "{TOKEN}"}}
contexts:
- name: emulated
  context: {{cluster: emulated, user: tester}}
current-context: emulated
"""
        return Credentials(ClusterCredentials(kubeconfig=document, context="emulated"))

    # ------------------------------------------------------------------- reading

    def read(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (a deep copy), or ``None`` if it does not exist."""

        async def read() -> dict[str, Any] | None:
            kind = kmock.resource(
                group=resource.group, version=resource.version, plural=resource.plural
            )
            key = (kind, namespace, name)
            objects = self._kmock.objects
            if key not in objects or objects[key].deleted:
                return None
            return copy.deepcopy(objects[key].raw)

        return self._run(read())

    def seen(self) -> list[Seen]:
        async def seen() -> list[Seen]:
            return [
                Seen(
                    method=str(getattr(r.method, "value", r.method)),
                    path=r.url.path,
                    content_type=r.headers.get("Content-Type"),
                    authorization=r.headers.get("Authorization"),
                    data=copy.deepcopy(r.data),
                    query=dict(r.url.query),
                )
                for r in self._kmock
            ]

        return self._run(seen())

    def changes(self) -> list[Seen]:
        """The requests that changed something (not the reads)."""
        return [s for s in self.seen() if s.method in ("POST", "PATCH", "DELETE")]

    # --------------------------------------------------------- as the controller

    def as_controller(self, resource: Resource, namespace: str, name: str, patch: Any) -> None:
        """Merge-patch the object as a controller would (``status``, finalizers)."""
        from kubernetes import client

        api = client.ApiClient(client.Configuration(host=self.url))
        try:
            client.CustomObjectsApi(api).patch_namespaced_custom_object(
                resource.group, resource.version, namespace, resource.plural, name, patch
            )
        finally:
            api.close()  # type: ignore[no-untyped-call]

    def as_someone_else(self, resource: Resource, obj: dict[str, Any]) -> None:
        """Create ``obj`` as another client would (``kubectl create``)."""
        from kubernetes import client

        api = client.ApiClient(client.Configuration(host=self.url))
        try:
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                resource.group, resource.version, obj["metadata"]["namespace"], resource.plural, obj
            )
        finally:
            api.close()  # type: ignore[no-untyped-call]

    def answer(self, criteria: str, status: int, message: str) -> None:
        """Answer requests matching ``criteria`` (e.g. ``"patch"``) with a ``Status`` error."""
        body = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "code": status,
        }
        self._kmock[criteria] << status << body


def nginx_target(ref: ReleaseRef, revision: int, chart: ChartRef, **values: Any) -> ReleaseTarget:
    """What the service would hand an adapter for revision ``revision`` of an nginx release."""
    base: JsonObject = {"replicaCount": 2, "image": {"repository": "nginx", "tag": "1.20.0"}}
    return ReleaseTarget(
        release=ref.release,
        namespace=ref.namespace,
        chart=chart,
        values={**base, **values},
        revision=revision,
        operation_id=f"op-{revision}",
        timeout_seconds=300,
    )
