"""The inbound edge, whatever the transport: the ingest path every entry point uses
(``ingest``), the message schemas and their compiler (``schemas``, ``schema_fields``,
``schema_compiler``), batch files (``batch``), the order in which early messages are held back
and released (``ordering``), and the demo (``demo``, its data ``demo_batch.jsonl``)."""
