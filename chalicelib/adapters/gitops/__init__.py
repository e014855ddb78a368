"""The GitOps deployment backends: Argo CD ``Application``s and Flux ``HelmRelease``s.

Both drive a cluster only through custom objects that a controller in the cluster then
reconciles. Importing this package is free: the Kubernetes client is imported inside the
methods that talk to a cluster (``kube.py``), never at import time.
"""
