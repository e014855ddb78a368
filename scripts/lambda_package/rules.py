"""What the build removes from the installed dependencies, and why: each rule says what
nothing at run time reads.

Patterns are globs over paths relative to the install directory, one ``/``-separated part
at a time: ``*`` stays inside a part, ``**`` spans any number of parts, and a trailing
``/`` matches directories only. A rule's ``keep`` names survive it (the models of the
services in ``services.py``, say). ``matching_rule`` is what the build prunes with and what
the tests check the zip against.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from scripts.lambda_package.services import BOTOCORE_SERVICES


@dataclass(frozen=True, slots=True)
class Rule:
    reason: str
    patterns: tuple[str, ...]
    keep: frozenset[str] = field(default_factory=frozenset)

    def matches(self, path: str, *, is_dir: bool) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is pruned by this rule."""
        name = path.rsplit("/", 1)[-1]
        if name.endswith(".pyc"):
            name = name[:-1]  # a kept module stays kept once compiled
        if name in self.keep:
            return False
        parts = path.split("/")
        for pattern in self.patterns:
            dirs_only = pattern.endswith("/")
            if dirs_only and not is_dir:
                continue
            if _glob(pattern.rstrip("/").split("/"), parts):
                return True
        return False


def _glob(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _glob(rest, parts[1:])


def _distributions(*names: str) -> tuple[str, ...]:
    """The import packages ``names`` and their ``.dist-info`` folders."""
    return tuple(p for name in names for p in (f"{name}/", f"{name}-*.dist-info/"))


ASYNCIO_ONLY = (
    "aiohttp",
    "aiohttp_retry",
    "aiohappyeyeballs",
    "aiosignal",
    "frozenlist",
    "multidict",
    "propcache",
    "yarl",
)

RULES: tuple[Rule, ...] = (
    Rule(
        "the asyncio Kubernetes client; chalicelib uses the synchronous one",
        ("kubernetes/aio/",),
    ),
    Rule(
        "the asyncio HTTP stack: only kubernetes.aio imports it, no module of the synchronous "
        "client or of chalicelib does",
        _distributions(*ASYNCIO_ONLY),
    ),
    Rule(
        "integrations for aiohttp, which is pruned; nothing imports them without it",
        ("prometheus_client/aiohttp/", "aws_xray_sdk/ext/aiohttp/"),
    ),
    Rule(
        "models of AWS services no function makes a client for (services.py)",
        ("botocore/data/*/", "boto3/data/*/"),
        keep=frozenset(BOTOCORE_SERVICES),
    ),
    Rule(
        "request examples: only botocore's documentation builder reads them",
        ("botocore/data/**/examples-1.json",),
    ),
    Rule(
        "botocore's fallback CA bundle: with certifi installed it uses certifi's",
        ("botocore/cacert.pem",),
    ),
    Rule(
        "test suites and benchmarks shipped inside packages",
        ("**/tests/", "kubernetes/**/*_test.py", "jsonschema/benchmarks/"),
    ),
    Rule(
        "type stubs and markers: only type checkers read them",
        ("**/*.pyi", "**/py.typed", "wrapt-stubs/"),
    ),
    Rule("console scripts pip writes for --target; Lambda runs none", ("bin/",)),
    Rule(
        "pip's record of the install: only pip (uninstalling) reads it",
        ("*.dist-info/RECORD", "*.dist-info/INSTALLER", "*.dist-info/REQUESTED"),
    ),
    Rule(
        "LibYAML bindings: only yaml.CLoader/CDumper use them, and both chalicelib and the "
        "Kubernetes client call the pure-Python yaml.safe_load",
        ("yaml/_yaml.*.so", "_yaml/"),
    ),
    Rule(
        "cffi's build-time half and its C parser: cryptography's compiled module loads only "
        "the _cffi_backend extension, which stays",
        ("cffi/", "pycparser/", "pycparser-*.dist-info/"),
    ),
    Rule(
        "pydantic's 1.x API: only `import pydantic.v1` or a v1-style type (__get_validators__) "
        "reaches it, and the code has neither",
        ("pydantic/v1/",),
    ),
    Rule(
        "the asyncio credentials of google-auth and azure-identity: the GKE and AKS providers "
        "use the synchronous ones, and no synchronous module imports these",
        (
            "google/auth/aio/",
            "google/auth/*_async.py",
            "google/oauth2/*_async.py",
            "google/auth/transport/_aiohttp_requests.py",
            "azure/identity/aio/",
        ),
    ),
    Rule(
        "google-auth's signer for keys of the `rsa` package (not installed) and the ASN.1 "
        "libraries only it imports: google-auth signs with cryptography",
        ("google/auth/crypt/_python_rsa.py", *_distributions("pyasn1", "pyasn1_modules")),
    ),
    Rule(
        "msal's command line (`python -m msal`), which Lambda never runs",
        ("msal/__main__.py",),
    ),
    Rule(
        "Powertools utilities beyond the logging, metrics and tracing the functions use "
        "(those import only utilities.typing and utilities.jmespath_utils)",
        ("aws_lambda_powertools/event_handler/", "aws_lambda_powertools/utilities/*"),
        keep=frozenset({"__init__.py", "jmespath_utils", "typing"}),
    ),
)


def matching_rule(path: str, *, is_dir: bool) -> Rule | None:
    """The rule that prunes ``path`` (or None): the build's and the tests' one judge."""
    return next((r for r in RULES if r.matches(path, is_dir=is_dir)), None)


def pruned_by_ancestry(path: str) -> Rule | None:
    """The rule pruning ``path`` (a file) or any folder above it."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        rule = matching_rule("/".join(parts[:depth]), is_dir=True)
        if rule is not None:
            return rule
    return matching_rule(path, is_dir=False)


def prune(root: Path) -> dict[Rule, int]:
    """Remove from ``root`` what the rules match: how many paths each rule removed."""
    counts = dict.fromkeys(RULES, 0)
    for path, is_dir in list(_matches(root)):
        rule = matching_rule(path, is_dir=is_dir)
        assert rule is not None
        counts[rule] += 1
        target = root / path
        if is_dir:
            shutil.rmtree(target)
        else:
            target.unlink()
    return counts


def _matches(root: Path) -> Iterator[tuple[str, bool]]:
    """Top-down, the matched paths (a matched folder's contents are not visited)."""
    for folder, dirnames, filenames in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        kept_dirs = []
        for name in sorted(dirnames):
            if matching_rule(prefix + name, is_dir=True):
                yield prefix + name, True
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            if matching_rule(prefix + name, is_dir=False):
                yield prefix + name, False


def fingerprint() -> str:
    """The rules as text, for the dependency cache's key (``keep`` sorted: a frozenset's
    order changes from one process to the next)."""
    return "\n".join(f"{r.reason}|{r.patterns}|{sorted(r.keep)}" for r in RULES)
