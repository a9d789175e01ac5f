"""Background work on dramatiq: the broker set-up, thin actors, and the deadline scheduler.

Import order (this package imports nothing itself): ``workers.broker.setup_broker`` sets
dramatiq's broker and only then imports ``workers.actors``, whose decorators bind to it;
``workers.actors`` refuses to load before a broker is set. The composition root
(``adapters.bootstrap.build_runtime``) calls ``setup_broker`` and installs the actors' context
(``workers.context``) before any worker consumes.
"""
