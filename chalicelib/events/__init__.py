"""Non-HTTP entry points: Lambda functions invoked by Step Functions (and, later,
EventBridge schedules and CloudWatch alarms)."""
