"""Keep jsii's node-version banners out of synth output: the CDK libraries run on the node
that the machine has, and their support notice is not something a synth can act on.

Import-free on purpose (no aws_cdk here): it must run before jsii starts node.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import MutableMapping


def node_major() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    return done.stdout.strip().lstrip("v").split(".")[0] or None


def silence(environ: MutableMapping[str, str]) -> None:
    """Set jsii's opt-outs in ``environ`` unless the caller chose otherwise."""
    environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    major = node_major()
    if major:
        environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", major)
