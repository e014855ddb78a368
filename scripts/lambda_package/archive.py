"""A reproducible zip: the same files give the same bytes.

CDK names an asset by the hash of its file, so a zip that embedded build times or the
order a directory happened to list in would be a new asset, and a new Lambda version, on
every synth. Entries are sorted by name, dated at zip's epoch, and carry only a regular
file's mode (executable or not).
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
LEVEL = 9  # deflate's smallest; the zip is written once per change of the app code
UNIX = 3  # ZipInfo.create_system: the mode bits are Unix ones


def write(entries: Mapping[str, Path], out: Path) -> None:
    """Write ``entries`` (name in the zip -> file) to ``out``, atomically."""
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            source = entries[name]
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.create_system = UNIX
            executable = source.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            archive.writestr(
                info, source.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=LEVEL
            )
    partial.replace(out)


def tree(root: Path, prefix: str = "") -> dict[str, Path]:
    """Every file under ``root`` by its name in the zip (``prefix`` + relative path)."""
    return {
        prefix + path.relative_to(root).as_posix(): path
        for path in root.rglob("*")
        if path.is_file()
    }
