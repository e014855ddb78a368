"""The Lambda package the stack deploys: ``build/deployment.zip``, small and precompiled.

Chalice's own packaging ships every pinned dependency whole (the asyncio Kubernetes
client, every AWS service model) and no bytecode, so each cold start compiles every module
it imports: Lambda's ``/var/task`` is read-only and nothing is ever cached. This package
builds the zip instead, in steps that each have a module:

- ``runtime``: the one Lambda runtime (and wheel platform) everything is built for;
- ``dependencies``: ``requirements.txt`` installed for that runtime, pruned (``rules``,
  ``services``) and compiled, cached under ``.local/cache/`` by a hash of its inputs;
- ``bytecode``: ``compileall`` with unchecked-hash pycs, the only kind a read-only zip
  can ship without them being judged stale;
- ``archive``: a reproducible zip (sorted entries, fixed times), so CDK's asset hash only
  changes with the content;
- ``build``: the whole build, skipped when its inputs have not changed, and its size check.
"""
