"""Fakes and fixtures shared by the Helm adapter tests: recorded helm output, a runner that
answers from it, and a credentials provider that hands out secrets worth looking for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.adapters.helm.runner import Completed
from chalicelib.domain.models import ChartRef, JsonObject
from chalicelib.domain.ports import ClusterCredentials, ReleaseRef, ReleaseTarget

# The repository sits beside shared/ (here and in CI).
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
HELM4 = FIXTURES / "helm4"
K8S = FIXTURES / "k8s"
REPO_HELM = Path(__file__).resolve().parents[1] / ".local" / "bin" / "helm"

TOKEN = "k8s-aws-v1.c2VjcmV0LXRva2VuLW5ldmVyLWxvZ2dlZA"
PASSWORD = "pa55w0rd-never-on-argv"
CA_DATA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
SECRETS = (TOKEN, PASSWORD, CA_DATA)

REPO_CHART = ChartRef("https://charts.example.com/stable", "demo", "0.1.0")
REF = ReleaseRef(release="demo", namespace="apps")


def target(
    *,
    chart: ChartRef = REPO_CHART,
    values: JsonObject | None = None,
    revision: int = 1,
    timeout_seconds: int = 300,
) -> ReleaseTarget:
    return ReleaseTarget(
        release="demo",
        namespace="apps",
        chart=chart,
        values={"replicaCount": 2, "auth": {"password": PASSWORD}} if values is None else values,
        revision=revision,
        operation_id="op-1",
        timeout_seconds=timeout_seconds,
    )


def fixture(name: str) -> bytes:
    return (HELM4 / name).read_bytes()


@dataclass
class StaticCredentials:
    """``CredentialsProvider`` that records who asked."""

    credentials: ClusterCredentials = field(
        default_factory=lambda: ClusterCredentials(
            server="https://eks.example.com", certificate_authority_data=CA_DATA, token=TOKEN
        )
    )
    asked: list[str | None] = field(default_factory=list)

    def __call__(self, *, operation_id: str | None = None) -> ClusterCredentials:
        self.asked.append(operation_id)
        return self.credentials


@dataclass(frozen=True)
class Call:
    argv: tuple[str, ...]
    stdin: bytes | None
    timeout: float
    credentials: ClusterCredentials | None

    @property
    def subcommand(self) -> str:
        return " ".join(self.argv[1:3] if self.argv[1] in {"get", "show"} else self.argv[1:2])


Answer = bytes | Exception | Callable[[Call], bytes]


@dataclass
class FakeRunner:
    """``Runner`` answering each subcommand from ``answers`` (a list is used up in order)."""

    answers: dict[str, Answer | list[Answer]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None,
        timeout: float,
        credentials: ClusterCredentials | None,
    ) -> Completed:
        call = Call(tuple(argv), stdin, timeout, credentials)
        self.calls.append(call)
        answer = self.answers.get(call.subcommand, b"")
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        out = answer(call) if callable(answer) else answer
        return Completed(call.argv, out, "", 0.01)

    def subcommands(self) -> list[str]:
        return [c.subcommand for c in self.calls]
