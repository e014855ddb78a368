"""Where the helm binary is: one rule, so Lambda, tests and the local run agree.

Lambda gets helm from the kubectl layer, mounted at ``/opt/helm/helm``; a checkout gets the
same binary from ``make setup`` (``scripts/install_helm.py``) in ``<repo>/.local/bin/helm``.
``O2DMS_HELM_BINARY`` overrides both (a test's fake helm, or a helm elsewhere).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_VAR = "O2DMS_HELM_BINARY"
LAMBDA_LAYER_HELM = Path("/opt/helm/helm")
REPO_LOCAL_HELM = Path(__file__).resolve().parents[3] / ".local" / "bin" / "helm"


def locate_helm(
    env: Mapping[str, str] | None = None,
    *,
    layer: Path = LAMBDA_LAYER_HELM,
    local: Path = REPO_LOCAL_HELM,
) -> Path:
    """The helm to run: ``$O2DMS_HELM_BINARY``, else the layer's when present, else the repo's.

    The answer may not exist yet (a checkout before ``make setup``): the runner then fails
    with ``BackendUnavailable`` naming this path, which says what to do.
    """
    configured = (os.environ if env is None else env).get(ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser()
    if layer.is_file():
        return layer
    return local
