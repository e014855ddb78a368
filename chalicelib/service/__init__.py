"""Use cases: plain functions over the ports in ``chalicelib.domain.ports``."""
