"""Audit evidence that holds without trusting the database: signed tree heads over the log's
Merkle tree (``heads``), the witnesses that keep them outside the database (``witnesses``)."""
