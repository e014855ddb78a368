"""The command line: ``apm`` (seed 002's deployment commands) and ``o2dms`` (seed 000's
whole lifecycle), over the service's HTTP API. It imports neither chalice nor boto3, and
loads its HTTP, WebSocket and terminal libraries only when a command runs, so that
``--help`` and completion start fast."""
