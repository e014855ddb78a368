"""Entry point of the CDK app: ``python infra/app.py`` (or ``make synth``) writes the
CloudFormation template to ``cdk.out/``; ``cdk deploy`` runs it through ``cdk.json``.

Context: ``stage`` (``dev`` or ``prod``, default ``dev``), and optionally ``clusterRoleArns``
and ``clusterArns``, the EKS cluster roles the functions may assume and the clusters they may
describe. Synthesis needs no AWS account: the stack is environment-agnostic.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def main() -> None:
    # Run as a script, only infra/ is on the path; the package and the Chalice app need the root.
    sys.path.insert(0, str(PROJECT_DIR))
    from infra import jsii_quiet

    jsii_quiet.silence(os.environ)
    # Chalice's packager builds boto3 clients; the region never reaches the template.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("CDK_DEFAULT_REGION", "us-east-1"))
    import aws_cdk as cdk

    from infra.settings import from_context
    from infra.stack import O2dmsStack

    outdir = None if os.environ.get("CDK_OUTDIR") else str(PROJECT_DIR / "cdk.out")
    app = cdk.App(outdir=outdir)
    O2dmsStack(app, from_context(app.node.try_get_context))
    app.synth()


if __name__ == "__main__":
    main()
