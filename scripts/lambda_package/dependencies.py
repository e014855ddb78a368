"""The pinned dependencies as the zip ships them: installed for the Lambda runtime, pruned
and compiled, once per change of their inputs.

pip installs ``requirements.txt`` (already complete and pinned, hence ``--no-deps``) as
binary wheels for the runtime's platform and Python, whatever this machine runs. The
result is cached under ``.local/cache/lambda-deps/<key>/``, the key hashing everything that
shapes it (requirements, prune rules, kept services, runtime, layout), so a second build
only re-zips the app code. Each entry keeps two trees:

- ``sources``: pruned, as installed (what the package was, less dead weight: what the
  benchmark's "without bytecode" side runs);
- ``shipped``: the same compiled to sourceless ``x.pyc`` files (``bytecode.py``).
  Third-party sources beside their bytecode would take the zip far over its 20 MB budget
  (``build.py``), and a traceback through a dependency still names its file and line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from scripts.lambda_package import bytecode, rules, runtime
from scripts.lambda_package.services import BOTOCORE_SERVICES

CACHE = Path(".local") / "cache" / "lambda-deps"
# Bumped by hand when the steps below change what a cache entry holds.
LAYOUT = "legacy unchecked-hash pycs, no sources, no debug ranges, /var/task names; v1"
DONE_MARKER = "complete.json"


class InstallError(RuntimeError):
    """pip could not install the requirements for the runtime."""


@dataclass(frozen=True, slots=True)
class Dependencies:
    key: str
    sources: Path
    shipped: Path


def key(requirements: Path) -> str:
    """A hash of every input of a cache entry."""
    digest = hashlib.sha256(requirements.read_bytes())
    for part in (
        rules.fingerprint(),
        ",".join(sorted(BOTOCORE_SERVICES)),
        runtime.RUNTIME,
        runtime.ARCHITECTURE,
        ",".join(runtime.PLATFORMS),
        LAYOUT,
    ):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:20]


def ensure(project: Path, *, python: str) -> Dependencies:
    """The cache entry for ``project``'s requirements, built if missing. Callers hold the
    build's lock (``build.py``): two builds never fill one entry."""
    cache = project / CACHE
    entry_key = key(project / "requirements.txt")
    entry = cache / entry_key
    if not (entry / DONE_MARKER).is_file():
        _fill(project / "requirements.txt", cache, entry, python=python)
    return Dependencies(entry_key, entry / "sources", entry / "shipped")


def _fill(requirements: Path, cache: Path, entry: Path, *, python: str) -> None:
    partial = cache / f"{entry.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(entry, ignore_errors=True)
    install(requirements, partial / "sources")
    counts = rules.prune(partial / "sources")
    shutil.copytree(partial / "sources", partial / "shipped", symlinks=True)
    bytecode.compile_tree(partial / "shipped", python=python, keep_sources=False)
    pruned = {rule.reason: count for rule, count in counts.items()}
    (partial / DONE_MARKER).write_text(json.dumps({"pruned": pruned}, indent=2) + "\n")
    partial.rename(entry)
    for stale in cache.iterdir():  # entries of earlier requirements or rules
        if stale != entry:
            shutil.rmtree(stale, ignore_errors=True)


def install(requirements: Path, target: Path) -> None:
    """``pip install --target`` of binary wheels for the Lambda runtime."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--no-compile", "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", runtime.version_text()]
    for platform in runtime.PLATFORMS:
        command += ["--platform", platform]
    command += ["--target", str(target), "-r", str(requirements)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=os.environ | {"PYTHONUTF8": "1"}
    )
    if done.returncode != 0:
        raise InstallError(
            f"pip could not install {requirements.name} for {runtime.RUNTIME} "
            f"({', '.join(runtime.PLATFORMS)}):\n{done.stderr[-4000:]}"
        )
