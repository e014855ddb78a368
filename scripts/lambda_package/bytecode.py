"""Compiling the package ahead of time, so a cold start loads bytecode instead of
compiling every module it imports.

The pycs are *unchecked-hash* ones (PEP 552): the loader uses them without comparing
anything with the source. Timestamp pycs would be compared with the source's mtime, which
a zip keeps only to two seconds, and a mismatch would send every cold start back to
compiling, unable to write the result to the read-only ``/var/task``. The code objects name
their files as Lambda will see them (``/var/task/...``), whatever folder the build ran in.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

TASK_ROOT = "/var/task"  # where Lambda unpacks the zip
UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, source not checked


class CompileError(RuntimeError):
    """``compileall`` could not compile a module."""


def compile_tree(root: Path, *, python: str, keep_sources: bool) -> None:
    """Compile every module under ``root`` with ``python`` (of the runtime's version).

    With ``keep_sources``, the pycs go to ``__pycache__`` beside the sources, which stay
    so that tracebacks show their lines. Without, each becomes a legacy ``x.pyc`` in its
    source's place (a sourceless module) and the source is deleted; those pycs also leave
    out the column tables (``-X no_debug_ranges``) that only serve to underline a source
    line in a traceback, which a sourceless module cannot show (2.4 MB of the zip).
    """
    command = [python, *([] if keep_sources else ["-X", "no_debug_ranges"])]
    command += ["-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    command += ["-s", str(root), "-p", TASK_ROOT, *([] if keep_sources else ["-b"])]
    done = subprocess.run(
        [*command, str(root)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"PYTHONHASHSEED": "0"},  # set constants in a fixed order
    )
    if done.returncode != 0:
        raise CompileError(f"compileall failed under {root}:\n{done.stdout}{done.stderr}")
    if not keep_sources:
        _drop_sources(root)


def _drop_sources(root: Path) -> None:
    """Delete every ``x.py`` under ``root`` that has its legacy ``x.pyc``."""
    for source in root.rglob("*.py"):
        if source.with_suffix(".pyc").is_file():
            source.unlink()


@cache
def magic(python: str) -> bytes:
    """The pyc magic number of ``python``'s version."""
    done = subprocess.run(
        [python, "-c", "import importlib.util as u, sys; sys.stdout.write(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(done.stdout)


def is_unchecked_hash_pyc(header: bytes, *, expected_magic: bytes) -> bool:
    """Whether a pyc's first 8 bytes are ``expected_magic`` and unchecked-hash flags."""
    flags = int.from_bytes(header[4:8], "little")
    return header[:4] == expected_magic and flags == UNCHECKED_HASH_FLAGS
