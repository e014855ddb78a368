"""The O2-DMS API: a Chalice app that only wires blueprints; the work is in ``chalicelib``."""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib import composition
from chalicelib.api import (
    apps,
    audit,
    auth,
    deployments,
    descriptors,
    dora,
    errors,
    http,
    live,
    managers,
    meta,
    metrics,
)
from chalicelib.api import automation as automation_api
from chalicelib.events import automation, rollout

app = Chalice(app_name="o2dms")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.register_blueprint(descriptors.bp)
app.register_blueprint(deployments.bp)
app.register_blueprint(managers.bp)
app.register_blueprint(automation_api.bp)
app.register_blueprint(meta.bp)
app.register_blueprint(audit.bp)
app.register_blueprint(apps.bp)
app.register_blueprint(dora.bp)
app.register_blueprint(metrics.bp)
# Any declared media type (bodies are read as JSON), and Chalice's own errors in our shape.
http.accept_any_media_type(app)
app.register_middleware(errors.framework_errors, "http")
app.register_middleware(http.log_keys, "http")
# Credentials on every route but the public ones, before any view runs.
app.register_middleware(auth.middleware(lambda: composition.deps().settings), "http")

# Tasks of the rollout state machine (infra/rollout.asl.json).
rollout_follow = app.lambda_function(name="rollout_follow")(rollout.follow)
rollout_abort = app.lambda_function(name="rollout_abort")(rollout.abort)

# Automation triggers: EventBridge Scheduler's target, and the alarm rule's target.
scheduled_scale = app.lambda_function(name="scheduled_scale")(automation.scheduled_scale)
alarm_rollback = app.on_cw_event(automation.ALARM_EVENT_PATTERN, name="alarm_rollback")(
    automation.alarm_rollback
)

# Live progress (seed 002's WebSocket updates): the WebSocket API's routes, and the table's
# stream, whose every change reaches the connections that follow it.
websocket_connect = app.on_ws_connect(name="websocket_connect")(live.connect)
websocket_message = app.on_ws_message(name="websocket_message")(live.message)
websocket_disconnect = app.on_ws_disconnect(name="websocket_disconnect")(live.disconnect)
live_updates = app.on_dynamodb_record(
    stream_arn=live.STREAM_ARN_PLACEHOLDER, name="live_updates", batch_size=100
)(live.stream)
