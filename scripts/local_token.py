"""Print a bearer token for the local run (`make token ROLE=operator [SUB=alice]`).

`make run` checks tokens against a key kept in its state directory
(`O2DMS_LOCAL_STATE_DIR`, default `.local/state`; whichever of the two comes first makes
it); this script signs one with that key for the role asked for, optionally scoped to a
namespace (`SCOPE=production` gives the group `o2dms-operator:production`). Use it as
`-H "Authorization: Bearer $TOKEN"`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # run as a script: make `scripts` importable

from chalicelib.adapters import local_tokens  # noqa: E402
from chalicelib.domain.access import Role  # noqa: E402
from scripts.local_state import signing_key_file, state_dir_from_env  # noqa: E402

DEFAULT_STATE_DIR = REPO_ROOT / ".local" / "state"
ROLES = tuple(role.label for role in Role)


def group(role: str, scope: str | None) -> str:
    return f"o2dms-{role}" + (f":{scope}" if scope else "")


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=ROLES, default="operator")
    parser.add_argument("--subject", default=None, help="the actor (default: local-<role>)")
    parser.add_argument("--scope", default=None, help="a namespace the role is limited to")
    parser.add_argument("--ttl", type=int, default=local_tokens.DEFAULT_TTL_SECONDS)
    args = parser.parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    path = signing_key_file(state_dir_from_env(env, DEFAULT_STATE_DIR))
    try:
        key = local_tokens.ensure_key(path)  # the one `make run` uses, or made for it
    except ValueError:
        print(f"token: {path} is not a signing key; delete it to make a new one", file=sys.stderr)
        return 2
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    subject = args.subject or f"local-{args.role}"
    print(
        local_tokens.mint(
            key, subject=subject, groups=[group(args.role, args.scope)], ttl_seconds=args.ttl
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
