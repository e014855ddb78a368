"""The Lambda package (``make package``, ``scripts/lambda_package/``): within its size
budget, every module precompiled for the runtime, nothing left that the prune rules remove,
every AWS client the code makes still possible, and, as the acceptance test of the change,
a status request served from the unpacked zip the way Lambda runs it, without compiling a
single module of the package.

The zip is built (or found up to date) once per worker; builds wait for each other on the
build's own lock, so with xdist only the first worker (or the stack's synthesis) builds.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from scripts.lambda_package import bytecode, rules, runtime
from scripts.lambda_package.build import MAX_BYTES, Package, ensure_built
from scripts.lambda_package.services import BOTOCORE_SERVICES
from scripts.status_table import Seeded, seeded_table
from tests.cdk_template import resources

ROOT = Path(__file__).resolve().parent.parent
APP_CODE = ("app.py", "chalice/", "chalicelib/")  # shipped with sources; the rest without


@dataclass(frozen=True, slots=True)
class Built:
    package: Package
    zip_path: Path  # this worker's copy: a synth may rebuild the original meanwhile
    unpacked: Path  # as Lambda's /var/task
    names: frozenset[str]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("lambda-package")
    copy = folder / "deployment.zip"
    for _ in range(3):  # a concurrent rebuild replaces the zip between build and copy
        package = ensure_built(ROOT)
        shutil.copyfile(package.path, copy)
        if _sha256(copy) == package.sha256:
            break
    else:
        pytest.fail("build/deployment.zip kept changing while it was copied")
    with zipfile.ZipFile(copy) as archive:
        names = frozenset(archive.namelist())
        archive.extractall(folder / "task")
    return Built(package, copy, folder / "task", names)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    # Once: moto's server runs in a process of its own, out of reach of other tests' mocks.
    with seeded_table() as found:
        yield found


def test_package_fits_its_budget(built: Built) -> None:
    assert built.zip_path.stat().st_size == built.package.size
    assert built.package.size <= MAX_BYTES, f"{built.package.megabytes:.1f} MB"
    assert built.package.runtime == runtime.RUNTIME


def test_every_module_has_unchecked_hash_bytecode_for_the_runtime(built: Built) -> None:
    sources = sorted(n for n in built.names if n.endswith(".py"))
    missing = [
        n for n in sources if runtime.pyc_name(PurePosixPath(n)).as_posix() not in built.names
    ]
    assert not missing, missing[:10]
    magic = bytecode.magic(runtime.interpreter())
    with zipfile.ZipFile(built.zip_path) as archive:
        wrong = [
            n
            for n in sorted(built.names)
            if n.endswith(".pyc")
            and not bytecode.is_unchecked_hash_pyc(archive.read(n)[:8], expected_magic=magic)
        ]
    assert not wrong, wrong[:10]
    assert built.package.pyc == sum(n.endswith(".pyc") for n in built.names)


def test_app_code_keeps_its_sources_and_dependencies_ship_bytecode_only(built: Built) -> None:
    repo_modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "chalicelib").rglob("*.py")}
    assert {"app.py", "chalice/app.py", "chalice/__init__.py"} | repo_modules <= built.names
    third_party_sources = [
        n for n in built.names if n.endswith(".py") and not n.startswith(APP_CODE)
    ]
    assert not third_party_sources, third_party_sources[:10]
    assert "botocore/client.pyc" in built.names
    assert "kubernetes/client/api_client.pyc" in built.names


def test_nothing_the_prune_rules_remove_is_shipped(built: Built) -> None:
    shipped = {n: rules.pruned_by_ancestry(n) for n in built.names}
    assert not {n: r.reason for n, r in shipped.items() if r is not None}
    folders = {n.rsplit("/", 1)[0] + "/" for n in built.names if "/" in n}
    prefixes = {p for n in folders for p in _prefixes(n)}
    for gone in ("kubernetes/aio/", "aiohttp/", "multidict/", "yarl/", "botocore/data/ec2/"):
        assert gone not in prefixes, gone
    assert not [n for n in built.names if n.endswith((".pyi", "/py.typed", "/RECORD"))]
    for kept in ("kubernetes/client/", "botocore/data/dynamodb/", "aws_lambda_powertools/"):
        assert kept in prefixes, kept
    assert {"botocore/data/endpoints.json", "botocore/data/partitions.json"} <= built.names


@pytest.mark.parametrize(
    ("path", "is_dir", "pruned"),
    [
        ("botocore/data/ec2", True, True),
        ("botocore/data/dynamodb", True, False),
        ("botocore/data/dynamodb/2012-08-10", True, False),  # ``*`` stays in one part
        ("botocore/data/endpoints.json", False, False),  # a file: the pattern ends in /
        ("botocore/data/dynamodb/2012-08-10/examples-1.json", False, True),
        ("kubernetes/config/kube_config_test.py", False, True),
        ("kubernetes/config/kube_config.py", False, False),
        ("jsonschema/tests", True, True),
        ("aiohttp-3.14.5.dist-info", True, True),
        ("aws_lambda_powertools/utilities/parser", True, True),
        ("aws_lambda_powertools/utilities/typing", True, False),
        ("aws_lambda_powertools/utilities/__init__.pyc", False, False),  # kept once compiled
        ("azure/identity/aio", True, True),
        ("azure/identity/_credentials", True, False),
        ("google/auth/_default_async.py", False, True),
        ("google/auth/crypt/_python_rsa.py", False, True),
        ("google/auth/crypt/_cryptography_rsa.py", False, False),
        ("pyasn1_modules-0.4.2.dist-info", True, True),
    ],
)
def test_prune_rules_match_what_they_say(path: str, is_dir: bool, pruned: bool) -> None:
    assert (rules.matching_rule(path, is_dir=is_dir) is not None) is pruned


def _prefixes(folder: str) -> Iterator[str]:
    parts = folder.rstrip("/").split("/")
    return ("/".join(parts[:depth]) + "/" for depth in range(1, len(parts) + 1))


# --------------------------------------------------------------- AWS clients and imports


def client_services(root: Path) -> dict[str, set[str]]:
    """Service names the code passes to a client factory, with where: ``boto3.client``,
    ``session.client``, ``aws("dynamodb")`` / ``make_client(...)`` (composition's
    factories) or ``aws_clients(settings)("stepfunctions")``."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            if _is_client_factory(node.func):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(first.value, set()).add(where)
    return found


def _is_client_factory(func: ast.expr) -> bool:
    if isinstance(func, ast.Call):  # aws_clients(settings)("stepfunctions")
        return True
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return "client" in name.lower() or name == "aws"


def test_kept_service_models_cover_every_client_the_code_makes(built: Built) -> None:
    used = client_services(ROOT / "chalicelib")
    # The scan must see the factories it is meant to (a broken scan would pass anything).
    assert {"dynamodb", "sts", "stepfunctions", "apigatewaymanagementapi", "ssm"} <= used.keys()
    uncovered = {
        name: sorted(where) for name, where in used.items() if name not in BOTOCORE_SERVICES
    }
    assert not uncovered, f"add to scripts/lambda_package/services.py: {uncovered}"
    # Loaded at run time without a call in chalicelib: EKS tokens and botocore's assume-role
    # credentials (sts), the X-Ray SDK's sampling poller under Powertools' Tracer (xray).
    assert {"sts", "xray"} <= BOTOCORE_SERVICES.keys()
    assert all(f"botocore/data/{name}/" in _folders(built) for name in BOTOCORE_SERVICES)


def _folders(built: Built) -> set[str]:
    return {p for n in built.names if "/" in n for p in _prefixes(n.rsplit("/", 1)[0])}


def third_party_imports(paths: list[Path]) -> set[str]:
    """Every import statement of a third-party module in ``paths``, as written (those
    under ``if TYPE_CHECKING:`` left out), function-level ones included."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", "")
            for child in node.orelse if name == "TYPE_CHECKING" else [*node.body, *node.orelse]:
                self.visit(child)

        def visit_Import(self, node: ast.Import) -> None:
            if any(_third_party(alias.name) for alias in node.names):
                found.add(ast.unparse(node))

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level == 0 and node.module and _third_party(node.module):
                found.add(ast.unparse(node))

    for path in paths:
        Visitor().visit(ast.parse(path.read_text(), str(path)))
    return found


def _third_party(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    return top not in sys.stdlib_module_names and top not in {"chalicelib", "__future__"}


IMPORTS_CHILD = r"""
import json, sys
failed = []
for statement in json.loads(sys.argv[1]):
    try:
        exec(statement, {})
    except Exception as exc:
        failed.append(f"{statement}: {exc!r}")
import boto3
for service in json.loads(sys.argv[2]):
    try:
        boto3.client(service)
    except Exception as exc:
        failed.append(f"boto3.client({service!r}): {exc!r}")
boto3.session.Session().get_available_regions("eks")
from aws_lambda_powertools import Tracer
Tracer(service="o2dms")  # in Lambda (AWS_LAMBDA_FUNCTION_NAME): patches what X-Ray can
print(json.dumps(failed))
"""


def test_every_import_of_the_code_and_every_kept_client_work_from_the_package(
    built: Built,
) -> None:
    statements = third_party_imports([ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")])
    assert any("kubernetes" in s for s in statements)  # the lazy ones are found too
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(built.unpacked),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "o2dms-dev-rollout_follow",
    }
    done = subprocess.run(
        [
            runtime.interpreter(),
            "-S",
            "-c",
            IMPORTS_CHILD,
            json.dumps(sorted(statements)),
            json.dumps(sorted(BOTOCORE_SERVICES)),
        ],
        cwd=built.unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# ----------------------------------------------------------------- served as Lambda does


def test_unzipped_package_serves_a_status_request_from_its_bytecode(
    built: Built, seeded: Seeded
) -> None:
    answer = seeded.as_lambda(built.unpacked)

    assert answer["status"] == 200, answer["body"]
    body = json.loads(answer["body"])
    assert body["deploymentId"] == seeded.deployment_id
    assert body["status"] == "INSTANTIATED"
    assert answer["compiled"] == []  # every module came from the shipped bytecode


def test_unzipped_package_answers_404_for_an_unknown_deployment(
    built: Built, seeded: Seeded
) -> None:
    answer = seeded.as_lambda(built.unpacked, deployment="no-such-one")

    assert answer["status"] == 404, answer["body"]
    assert json.loads(answer["body"])["error"] == "NotFound"
    assert answer["compiled"] == []


# ------------------------------------------------------------------------------- the stack


def test_every_function_deploys_the_package_on_its_runtime(stack_template: dict[str, Any]) -> None:
    deployed = resources(stack_template, "AWS::Serverless::Function")
    assert len(deployed) == 9
    assert {f["Properties"]["Runtime"] for f in deployed.values()} == {runtime.RUNTIME}
    code = {json.dumps(f["Properties"]["CodeUri"], sort_keys=True) for f in deployed.values()}
    assert len(code) == 1, code
    assert not resources(stack_template, "AWS::Serverless::LayerVersion")
