"""What operators see and do (CONTRACT.md §3 ``/api/v1/ops/*``, §4 ``towns queues``):

- ``queues``: the queue view — every queue of the service with its depth, consumers and rates
  (RabbitMQ's management API, or what AMQP can tell when that does not answer), the
  projections' lag and set-aside events, the parked messages and the open dead letters;
- ``queues_table``: that view as ``towns queues`` prints it;
- ``management_api``: RabbitMQ's management HTTP API, one request at a time;
- ``dead_letters``: dead letters a page at a time, in the contract's shape;
- ``set_aside``: the events the read models could not take, a page at a time;
- ``metrics``: the Prometheus metrics of every process.

Nothing here connects to anything when imported.
"""
