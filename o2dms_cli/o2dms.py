"""``o2dms``: the O2-DMS lifecycle of the service's /o2dms/v1, with tables that fit 80 columns.

o2dms descriptors create --id nginx-chart-1.2.0 --name nginx --repo https://charts.example.com \\
    --chart nginx --version 1.2.0 --param replicaCount=2 --param image.tag=1.20.0
o2dms deployments create --name nginx-prod --descriptor nginx-chart-1.2.0 --namespace production
o2dms deployments scale nginx-prod --replicas 5 --watch
o2dms deployments upgrade nginx-prod --param image.tag=1.21.0 --dry-run
o2dms deployments rollback nginx-prod --reason "bad tag"
o2dms deployments history nginx-prod
o2dms deployments delete nginx-prod --yes
"""

from __future__ import annotations

import click

from o2dms_cli.common import connection_options
from o2dms_cli.errors import EXIT_CODES_HELP
from o2dms_cli.o2 import records  # noqa: F401 - registers its commands on ``deployments``
from o2dms_cli.o2.automation import alarms, schedules
from o2dms_cli.o2.catalog import descriptors, managers
from o2dms_cli.o2.deployments import deployments
from o2dms_cli.o2.shared import HELP


@click.group(epilog=EXIT_CODES_HELP, context_settings=HELP)
@connection_options
def o2dms(api_url: str | None, token: str | None, profile: str | None) -> None:
    """Manage O2-DMS NF deployments (the service's /o2dms/v1).

    Descriptors say what can be deployed, managers where; deployments are created, changed,
    followed and terminated; schedules and alarms change them by themselves."""


for _group in (descriptors, managers, deployments, schedules, alarms):
    o2dms.add_command(_group)


def main() -> None:
    o2dms(prog_name="o2dms")


if __name__ == "__main__":
    main()
