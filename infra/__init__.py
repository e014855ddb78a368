"""The deployable service: an AWS CDK app that wraps the Chalice app with everything else it
needs (table, rollout state machine, schedules, alarm wiring, helm layer, IAM, alarms).

Run ``python infra/app.py`` (or ``make synth``) to write the CloudFormation template.
"""
