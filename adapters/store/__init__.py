"""The stores: the event store's recorders and settings, the inbound records kept beside the
events, and the creation of tables by racing processes."""
