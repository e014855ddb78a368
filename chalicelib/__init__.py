"""O2-DMS service code, packaged by Chalice next to ``app.py``.

Layers point one way: ``api`` (HTTP entry points) -> ``service`` (use cases) ->
``domain`` (models, states, errors, ports). ``adapters`` implement the ports and
``composition`` wires them together.
"""
