"""Build ``build/deployment.zip``, the Lambda package the stack deploys (``make package``).

Up to date, it only checks so; otherwise it rebuilds what changed (the dependencies only
when ``requirements.txt`` or the prune rules did). See ``scripts/lambda_package/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository root holds ``scripts``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.lambda_package.build import MAX_BYTES, ensure_built

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    force = parser.parse_args().force
    package = ensure_built(ROOT, force=force)
    print(
        f"{package.path.relative_to(ROOT)}: {package.megabytes:.1f} MB "
        f"(budget {MAX_BYTES / 1e6:.0f} MB), {package.pyc:,} .pyc for {package.runtime}, "
        f"sha256 {package.sha256[:12]}"
    )


if __name__ == "__main__":
    main()
