"""The O2-DMS API: a Chalice app that only wires blueprints; the work is in ``chalicelib``."""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib.api import deployments, descriptors, meta

app = Chalice(app_name="o2dms")
app.register_blueprint(descriptors.bp)
app.register_blueprint(deployments.bp)
app.register_blueprint(meta.bp)
