"""HTTP entry points: Chalice blueprints that translate requests into use-case calls."""
