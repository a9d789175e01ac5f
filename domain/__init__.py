"""The programme's rules: the Application aggregate, its life cycle, the criteria, the calls,
and the application service. Imports nothing but the standard library and eventsourcing."""
