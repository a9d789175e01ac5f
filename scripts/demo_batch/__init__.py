"""The demo batch generator behind ``scripts/make_demo_batch.py``, by job.

``common``      paths, the tables (``scripts/demo_batch_tables.json``), constants, time
``towns``       the applications: towns, their tracks, profiles and paths
``indicators``  declared indicators, and the criteria they are assessed against
``batch``       the lines being built (steps), envelopes and actors
``flow``        payload builders and one application's flow of events
``paths``       the life-cycle paths, one function each
``faults``      the fault lines
``schema``      the envelope and payload shape checks of the expected-answer model
``model``       the expected answers: a small model of DOMAIN.md's rules
``cli``         building, checking and writing the batch
"""

import sys
from pathlib import Path

# The transition table (domain.lifecycle) is imported from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
