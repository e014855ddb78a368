"""Implementations of the domain ports: storage, deployment backends, rollout drivers."""
