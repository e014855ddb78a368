"""The ``kubernetes`` adapter: a plain ``apps/v1`` Deployment (and optionally a Service),
driven through the Kubernetes API with no Helm and no GitOps controller."""
