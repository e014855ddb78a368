"""The ``ecs`` adapter: a deployment is an Amazon ECS service's task definition.

The service (``parameters.cluster`` + ``parameters.service``) exists already and is not ours:
we never create or delete it. Each revision of ours registers a task definition revision
copied from the one the service runs, with the container's image tag set to the version
(and the environment, cpu and memory the parameters give), then points the service at it
with ``UpdateService``. ECS rolls it out; ``DescribeServices`` tells us how it goes.

- ``target.py``: what the parameters ask for, checked.
- ``taskdefs.py``: the ``RegisterTaskDefinition`` request, from a described task definition.
- ``status.py``: a described service as the port's status (and the circuit breaker's verdict).
- ``errors.py``: ECS's errors as ours; ``calls.py``: the four ECS calls, translated.
- ``clients.py``: the ECS client: the functions' own credentials, or an EKS manager's role.
- ``plan.py``: the ``aws ecs`` commands a dry run shows.
- ``backend.py``: the ``DeploymentBackend``.
"""
