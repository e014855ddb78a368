"""The Helm adapter: drives the real helm 4 binary against a cluster.

``HelmBackend`` (``backend.py``) implements the ``DeploymentBackend`` port. It builds argv
lists (``commands.py``), runs them through one chokepoint (``runner.py``) that owns the
subprocess, the private kubeconfig and the stderr-to-error mapping (``errors.py``), parses
helm's JSON (``models.py``) and turns live workload objects into a rollout phase
(``workloads.py``). ``binary.py`` finds the binary. Importing this package runs nothing.
"""

from chalicelib.adapters.helm.backend import HelmBackend
from chalicelib.adapters.helm.binary import locate_helm
from chalicelib.adapters.helm.commands import HelmSettings
from chalicelib.adapters.helm.runner import HelmRunner

__all__ = ["HelmBackend", "HelmRunner", "HelmSettings", "locate_helm"]
