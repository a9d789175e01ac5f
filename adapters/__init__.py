"""Edges: schemas, the ingest path, configuration, the composition root, the CLI."""
