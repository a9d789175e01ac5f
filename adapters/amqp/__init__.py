"""RabbitMQ edges: the topology, the consumer of ``towns.inbound``, the publisher, dead letters."""
