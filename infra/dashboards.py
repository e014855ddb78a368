"""The CloudWatch dashboard ``o2dms-<stage>``: the panels of ``dashboards/grafana.json`` (seed
002's seven and seed 000's three), drawn from the metrics the functions emit in Embedded
Metric Format rather than from Prometheus, so an operator has them without running Grafana.

The app emits each metric twice: with the dimensions listed in ``DIMENSIONS`` and with only
``service`` (Powertools adds it to every dimension set). Alarms and totals read the latter;
a panel that breaks a metric down by a dimension uses a ``SEARCH`` over the metric's
dimension set, which finds every value (a platform, an adapter) without this file naming
them. CloudWatch metrics only count what
ended, so where a Prometheus panel shows a current state (the rollouts under way) the
widget shows the nearest thing the metrics can say, and its label says so.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.settings import StageSettings

NAMESPACE = "O2DMS"

# The metrics (each also emitted with ``service`` alone: the totals) and their dimensions.
OPERATIONS_ENDED = "OperationsEnded"  # Count
OPERATION_DURATION = "OperationDuration"  # Seconds
DEPLOYMENTS_ENDED = "DeploymentsEnded"  # Count
DEPLOYMENTS_FAILED = "DeploymentsFailed"  # Count
DEPLOYMENT_DURATION = "DeploymentDuration"  # Seconds
ROLLBACKS = "Rollbacks"  # Count; Cause is automatic, alarm or manual
HEALTH_CHECKS = "HealthChecks"  # Count
# Powertools Metrics adds ``service`` (POWERTOOLS_SERVICE_NAME) to every dimension set: the
# totals are the series with that one dimension (chalicelib/adapters/cloudwatch_emf.py).
SERVICE_DIMENSION = "service"
SERVICE = "o2dms"
DIMENSIONS: dict[str, tuple[str, ...]] = {
    OPERATIONS_ENDED: ("Operation", "Adapter", "Outcome", SERVICE_DIMENSION),
    OPERATION_DURATION: ("Operation", "Adapter", SERVICE_DIMENSION),
    DEPLOYMENTS_ENDED: ("Platform", "Environment", "Status", SERVICE_DIMENSION),
    DEPLOYMENTS_FAILED: ("Platform", "Environment", SERVICE_DIMENSION),
    DEPLOYMENT_DURATION: ("Platform", SERVICE_DIMENSION),
    ROLLBACKS: ("Platform", "Environment", "Cause", SERVICE_DIMENSION),
    HEALTH_CHECKS: ("Platform", "CheckType", "Status", SERVICE_DIMENSION),
}
# Dimension values the panels pick out: seed 002's status of a rollout that succeeded, an
# operation's outcome and kinds as the API writes them (the Prometheus labels' values).
ROLLOUT_COMPLETED = "completed"
OPERATION_COMPLETED = "COMPLETED"
SCALE = "scale"
ROLLBACK = "rollback"
UPGRADE = "upgrade"

# The panels, titled as in dashboards/grafana.json.
STATUS_OVERVIEW = "Deployment Status Overview"
SUCCESS_RATE = "Success Rate"
AVERAGE_DURATION = "Average Duration by Platform"
PLATFORM_DISTRIBUTION = "Platform Distribution"
HEALTH_CHECK_STATUS = "Health Check Status"
ROLLBACK_TREND = "Rollback Trend"
ACTIVE_DEPLOYMENTS = "Active Deployments"
SCALE_RATE = "Scale Operations Rate"
ROLLBACK_SUCCESS_RATE = "Rollback Success Rate"
UPGRADE_DURATION = "Average Upgrade Duration"
PANEL_TITLES = (
    STATUS_OVERVIEW,
    SUCCESS_RATE,
    PLATFORM_DISTRIBUTION,
    AVERAGE_DURATION,
    ROLLBACK_TREND,
    ACTIVE_DEPLOYMENTS,
    HEALTH_CHECK_STATUS,
    SCALE_RATE,
    ROLLBACK_SUCCESS_RATE,
    UPGRADE_DURATION,
)

FIVE_MINUTES = Duration.minutes(5)
ONE_HOUR = Duration.hours(1)
HEIGHT = 6


def search(metric_name: str, statistic: str, **values: str) -> str:
    """``SEARCH`` for every series of ``metric_name`` with its full dimension set, optionally
    narrowed to exact dimension values. No period: the widget's applies, so the same search
    serves a graph by the hour and a single number over the dashboard's time range."""
    schema = ",".join((NAMESPACE, *DIMENSIONS[metric_name]))
    unknown = set(values) - set(DIMENSIONS[metric_name])
    if unknown:
        raise ValueError(f"{metric_name} has no dimension {sorted(unknown)}")
    terms = " ".join(
        [f'MetricName="{metric_name}"', *(f'{k}="{v}"' for k, v in sorted(values.items()))]
    )
    return f"SEARCH('{{{schema}}} {terms}', '{statistic}')"


def total(metric_name: str) -> cloudwatch.Metric:
    """The total series (``service`` alone), summed: every platform, environment, adapter."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=metric_name,
        statistic="Sum",
        period=FIVE_MINUTES,
        dimensions_map={SERVICE_DIMENSION: SERVICE},
    )


def _searched(
    metric_name: str, statistic: str, label: str = "", **values: str
) -> cloudwatch.IMetric:
    """The search's series, each labelled with its dimension values, after ``label`` if any
    (without one, CloudWatch would put the whole expression before each)."""
    return cloudwatch.SearchExpression(
        expression=search(metric_name, statistic, **values), label=label
    )


def _summed(metric_name: str, **values: str) -> cloudwatch.MathExpression:
    """One series: the sum over every series the search finds."""
    return cloudwatch.MathExpression(
        expression=f"SUM({search(metric_name, 'Sum', **values)})", label=""
    )


def status_overview() -> cloudwatch.IWidget:
    return cloudwatch.GraphWidget(
        title=STATUS_OVERVIEW,
        left=[_searched(DEPLOYMENTS_ENDED, "Sum")],
        view=cloudwatch.GraphWidgetView.BAR,
        set_period_to_time_range=True,
        width=12,
        height=HEIGHT,
    )


def success_rate() -> cloudwatch.IWidget:
    """Completed rollouts as a share of those that ended, over the dashboard's time range."""
    rate = cloudwatch.MathExpression(
        expression="100 * completed / ended",
        using_metrics={
            "completed": _summed(DEPLOYMENTS_ENDED, Status=ROLLOUT_COMPLETED),
            "ended": total(DEPLOYMENTS_ENDED),
        },
        label="rollouts that completed (%)",
    )
    return cloudwatch.GaugeWidget(
        title=SUCCESS_RATE,
        metrics=[rate],
        left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
        set_period_to_time_range=True,
        width=6,
        height=HEIGHT,
    )


def platform_distribution() -> cloudwatch.IWidget:
    """Rollouts ended per platform. DeploymentsEnded is broken down by platform only together
    with environment and status; DeploymentDuration, one sample per rollout ended, has
    Platform alone, so its sample count is the per-platform total."""
    return cloudwatch.GraphWidget(
        title=PLATFORM_DISTRIBUTION,
        left=[_searched(DEPLOYMENT_DURATION, "SampleCount")],
        view=cloudwatch.GraphWidgetView.PIE,
        set_period_to_time_range=True,
        width=6,
        height=HEIGHT,
    )


def average_duration() -> cloudwatch.IWidget:
    return cloudwatch.GraphWidget(
        title=AVERAGE_DURATION,
        left=[_searched(DEPLOYMENT_DURATION, "Average")],
        left_y_axis=cloudwatch.YAxisProps(min=0, label="seconds", show_units=False),
        period=ONE_HOUR,
        width=12,
        height=HEIGHT,
    )


def rollback_trend() -> cloudwatch.IWidget:
    return cloudwatch.GraphWidget(
        title=ROLLBACK_TREND,
        left=[_searched(ROLLBACKS, "Sum")],
        left_y_axis=cloudwatch.YAxisProps(min=0, label="rollbacks an hour", show_units=False),
        stacked=True,
        period=ONE_HOUR,
        width=12,
        height=HEIGHT,
    )


def active_deployments(state_machine: sfn.IStateMachine) -> cloudwatch.IWidget:
    """Rollouts under way. The EMF metrics count only rollouts that ended, but every rollout
    is followed by one execution of the rollout state machine, so those started less those
    ended is the number in flight, counted from the start of the dashboard's time range
    (rollouts already running then are not in it)."""

    def executions(name: str, label: str | None = None) -> cloudwatch.Metric:
        return state_machine.metric(name, statistic="Sum", period=FIVE_MINUTES, label=label)

    started = executions("ExecutionsStarted", "rollouts started")
    ended = cloudwatch.MathExpression(
        expression="FILL(succeeded, 0) + FILL(failed, 0) + FILL(aborted, 0) + FILL(timedOut, 0)",
        using_metrics={
            "succeeded": executions("ExecutionsSucceeded"),
            "failed": executions("ExecutionsFailed"),
            "aborted": executions("ExecutionsAborted"),
            "timedOut": executions("ExecutionsTimedOut"),
        },
        label="rollouts ended",
    )
    in_flight = cloudwatch.MathExpression(
        expression="RUNNING_SUM(FILL(started, 0) - ended)",
        using_metrics={"started": started, "ended": ended},
        label="rollouts in flight (since the range's start)",
    )
    return cloudwatch.GraphWidget(
        title=ACTIVE_DEPLOYMENTS,
        left=[in_flight],
        right=[started, ended],
        left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
        right_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
        width=12,
        height=HEIGHT,
    )


def health_check_status() -> cloudwatch.IWidget:
    return cloudwatch.TableWidget(
        title=HEALTH_CHECK_STATUS,
        metrics=[_searched(HEALTH_CHECKS, "Sum")],
        set_period_to_time_range=True,
        summary=cloudwatch.TableSummaryProps(
            columns=[cloudwatch.TableSummaryColumn.SUM], hide_non_summary_columns=True
        ),
        width=12,
        height=HEIGHT,
    )


def scale_rate() -> cloudwatch.IWidget:
    """Seed 000's rate of scale operations, as counts per five minutes."""
    return cloudwatch.GraphWidget(
        title=SCALE_RATE,
        left=[_searched(OPERATIONS_ENDED, "Sum", Operation=SCALE)],
        left_y_axis=cloudwatch.YAxisProps(min=0, label="per 5 minutes", show_units=False),
        period=FIVE_MINUTES,
        width=8,
        height=HEIGHT,
    )


def rollback_success_rate() -> cloudwatch.IWidget:
    """Rollbacks that completed as a share of those that ended (seed 000's "success" is our
    COMPLETED outcome), over the dashboard's time range."""
    rate = cloudwatch.MathExpression(
        expression="100 * completed / ended",
        using_metrics={
            "completed": _summed(OPERATIONS_ENDED, Operation=ROLLBACK, Outcome=OPERATION_COMPLETED),
            "ended": _summed(OPERATIONS_ENDED, Operation=ROLLBACK),
        },
        label="rollbacks that completed (%)",
    )
    return cloudwatch.SingleValueWidget(
        title=ROLLBACK_SUCCESS_RATE,
        metrics=[rate],
        set_period_to_time_range=True,
        width=8,
        height=HEIGHT,
    )


def upgrade_duration() -> cloudwatch.IWidget:
    return cloudwatch.GraphWidget(
        title=UPGRADE_DURATION,
        left=[
            _searched(OPERATION_DURATION, "Average", label="average", Operation=UPGRADE),
            _searched(OPERATION_DURATION, "p95", label="p95", Operation=UPGRADE),
        ],
        left_y_axis=cloudwatch.YAxisProps(min=0, label="seconds", show_units=False),
        period=FIVE_MINUTES,
        width=8,
        height=HEIGHT,
    )


class ServiceDashboard(Construct):
    """The dashboard, rows as in Grafana: rollouts now; durations and rollbacks; what is
    under way and health; then seed 000's operations."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=settings.prefix,
            default_interval=Duration.days(1),
        )
        self.dashboard.add_widgets(status_overview(), success_rate(), platform_distribution())
        self.dashboard.add_widgets(average_duration(), rollback_trend())
        self.dashboard.add_widgets(active_deployments(state_machine), health_check_status())
        self.dashboard.add_widgets(scale_rate(), rollback_success_rate(), upgrade_duration())
