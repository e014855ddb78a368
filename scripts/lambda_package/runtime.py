"""The Lambda runtime the package is built for, declared once.

Chalice picks the runtime from whatever interpreter runs ``chalice package`` (a 3.12
virtualenv would deploy ``python3.12``). Bytecode is only valid for the Python that wrote
it and binary wheels only for their platform, so the package and the stack must agree on
one runtime: this module names it, the stack sets it on every function (``infra/package.py``)
and the build compiles with an interpreter of that version or refuses to.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import PurePath

RUNTIME = "python3.11"
ARCHITECTURE = "x86_64"
# python3.11 runs on Amazon Linux 2 (glibc 2.26): manylinux2014 (glibc 2.17) wheels load
# there, manylinux_2_28 ones do not, so no newer tag may be offered to pip. pip also takes
# the older manylinux1/2010 tags this one implies.
PLATFORMS = ("manylinux2014_x86_64",)


class RuntimeMismatch(RuntimeError):
    """No interpreter of the runtime's Python version is at hand to compile with."""


def version() -> tuple[int, int]:
    """``(3, 11)`` for ``python3.11``."""
    major, minor = RUNTIME.removeprefix("python").split(".")
    return int(major), int(minor)


def version_text() -> str:
    return "{}.{}".format(*version())


def interpreter() -> str:
    """An interpreter of the runtime's version: this one if it is, else ``python3.11`` from
    ``PATH`` (compileall and the probes need nothing but the standard library)."""
    if sys.version_info[:2] == version():
        return sys.executable
    name = f"python{version_text()}"
    found = shutil.which(name)
    if found and _reports_version(found):
        return found
    raise RuntimeMismatch(
        f"the Lambda package is compiled for {RUNTIME}, but this is Python "
        f"{sys.version.split()[0]} and no working {name} is on PATH: run the build with "
        f"Python {version_text()} (e.g. a virtualenv made with it)"
    )


def _reports_version(path: str) -> bool:
    done = subprocess.run(
        [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip() == version_text()


def cache_tag() -> str:
    """The tag of the runtime's pycs in ``__pycache__`` (``cpython-311``)."""
    return "cpython-{}{}".format(*version())


def pyc_name(source: PurePath) -> PurePath:
    """Where the runtime looks for the bytecode of ``source`` (``__pycache__`` layout)."""
    return source.parent / "__pycache__" / f"{source.stem}.{cache_tag()}.pyc"
