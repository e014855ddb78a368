"""What a failed AWS call says, in the words a cluster-credentials message quotes.

EKS and kubeconfig providers both turn botocore's errors into ``BackendUnavailable`` at their
boundary; this is the one place that decides how such an error reads: ``Code: Message`` for
a call AWS refused, botocore's own text for one that never got an answer.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError


def aws_detail(exc: ClientError | BotoCoreError) -> str:
    """``Code: Message`` of a refused call, or botocore's text for a call that got no answer."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}"
    return str(exc)
