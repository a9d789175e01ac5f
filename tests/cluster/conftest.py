"""Tests that start engines of their own and break them: a three-node RabbitMQ cluster, a
PostgreSQL primary with a streaming standby, outages longer than the pools' patience.

They run with ``make cluster-test`` (and in CI after ``make test``), not with ``make test``:
each takes minutes. They never touch the shared broker's or database's processes: every engine
they stop or kill is one they started (``scripts/rabbit_cluster.sh``, ``scripts/pg_pair.sh``).
"""
