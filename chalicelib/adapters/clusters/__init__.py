"""Credentials for target clusters: EKS (assumed role + presigned STS token) and kubeconfig."""
