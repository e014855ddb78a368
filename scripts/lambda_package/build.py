"""The whole build of ``build/deployment.zip``, and the check that it stays small.

The zip holds the cached dependencies (``dependencies.py``) and the app code as Chalice
packages it (``app.py``, ``chalicelib/`` and Chalice's own runtime, ``chalice/app.py`` and
``chalice/__init__.py``), the app code with its sources and ``__pycache__`` beside them.
``build/deployment.json`` records what a zip was built from; ``ensure_built`` rebuilds only
when that changed, so synthesizing the stack (which calls it) costs a hash when nothing did.
Concurrent builds (test workers, a synth) wait for each other on ``build/.lock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from scripts.lambda_package import archive, bytecode, dependencies, runtime

OUT = Path("build")
ZIP_NAME = "deployment.zip"
MANIFEST_NAME = "deployment.json"
MAX_BYTES = 20 * 1000 * 1000  # 20 MB (Chalice's own package: 40 MB)
APP_TREE = "app"  # the compiled app code, under build/
BUILDER = Path(__file__).resolve().parent  # its modules are inputs too


class PackageTooLarge(RuntimeError):
    """The zip is over its budget: something grew, or a new dependency needs pruning."""


@dataclass(frozen=True, slots=True)
class Package:
    path: Path
    size: int  # bytes
    pyc: int  # .pyc entries
    sha256: str
    inputs: str  # hash of everything the zip was built from
    runtime: str

    @property
    def megabytes(self) -> float:
        return self.size / 1e6


def app_sources(project: Path) -> dict[str, Path]:
    """The app's files by their name in the zip, as Chalice's packager picks them."""
    import chalice
    import chalice.app

    found = {
        "app.py": project / "app.py",
        "chalice/__init__.py": Path(inspect.getfile(chalice)),
        "chalice/app.py": Path(inspect.getfile(chalice.app)),
    }
    lib = project / "chalicelib"
    for path in sorted(lib.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            found[path.relative_to(project).as_posix()] = path
    return found


def inputs_digest(project: Path) -> str:
    """A hash of the dependency cache's key, the app's files and the builder's modules."""
    digest = hashlib.sha256(dependencies.key(project / "requirements.txt").encode())
    builder = {f"builder/{p.name}": p for p in sorted(BUILDER.glob("*.py"))}
    for name, path in sorted((app_sources(project) | builder).items()):
        digest.update(f"\0{name}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def ensure_built(project: Path, *, force: bool = False) -> Package:
    """``build/deployment.zip``, rebuilt if its inputs changed since (or ``force``)."""
    out = project / OUT
    out.mkdir(exist_ok=True)
    with _locked(out / ".lock"):
        inputs = inputs_digest(project)
        built = None if force else _recorded(out)
        if built is not None and built.inputs == inputs and _intact(built):
            return built
        return _build(project, out, inputs)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _recorded(out: Path) -> Package | None:
    try:
        fields = json.loads((out / MANIFEST_NAME).read_text())
        return Package(**fields | {"path": out / ZIP_NAME})
    except (OSError, ValueError, TypeError):
        return None


def _intact(package: Package) -> bool:
    return package.path.is_file() and _sha256(package.path) == package.sha256


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(project: Path, out: Path, inputs: str) -> Package:
    python = runtime.interpreter()
    deps = dependencies.ensure(project, python=python)
    app = out / APP_TREE
    shutil.rmtree(app, ignore_errors=True)
    for name, source in app_sources(project).items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, app / name)
    bytecode.compile_tree(app, python=python, keep_sources=True)
    shipped, own = archive.tree(deps.shipped), archive.tree(app)
    clash = sorted(shipped.keys() & own.keys())
    if clash:
        raise RuntimeError(f"a dependency ships the app's own files: {clash[:5]}")
    zip_path = out / ZIP_NAME
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    archive.write(shipped | own, zip_path)
    package = Package(
        path=zip_path,
        size=zip_path.stat().st_size,
        pyc=sum(name.endswith(".pyc") for name in shipped | own),
        sha256=_sha256(zip_path),
        inputs=inputs,
        runtime=runtime.RUNTIME,
    )
    if package.size > MAX_BYTES:
        raise PackageTooLarge(
            f"{zip_path} is {package.megabytes:.1f} MB, over its {MAX_BYTES / 1e6:.0f} MB "
            "budget: prune what the new weight brings (scripts/lambda_package/rules.py)"
        )
    record = {k: v for k, v in asdict(package).items() if k != "path"}
    (out / MANIFEST_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return package
