"""Write ``adapters/inbound/demo_batch.jsonl``: the demo batch of the call GD-ITOWN-2017-B2.

Run from the repository root::

    .venv/bin/python scripts/make_demo_batch.py            # writes the file, prints a summary
    .venv/bin/python scripts/make_demo_batch.py --expect   # also prints each line's expected answer

Standard library only, and ``domain.lifecycle`` for the transition table; ``random.Random(2017)``
makes the output the same on every run. The tables (jurisdictions, towns and their paths, projects,
stages, the fault lines) are data, in ``scripts/demo_batch_tables.json`` beside this script; the
logic is the package ``scripts/demo_batch/`` (one module a job: tables and time, towns, indicators,
steps, flows, paths, faults, the expected-answer model, building); this script parses the command
line. After changing any of them, run it again: ``tests/unit/test_demo_batch.py`` checks that the
shipped batch is what it makes.

The line format
---------------
One JSON object per line, in arrival (record) order. Three kinds:

``{"principal": NAME, "envelope": {...}}``
    A contract envelope (CONTRACT.md §2) sent as the principal NAME of ``adapters/towns.toml``.
    A ``null`` principal, or a name not in the configuration (``"ghost-system"``), means the
    sender has no valid credentials.
``{"principal": NAME, "raw": TEXT}``
    Bytes that are not a usable envelope, as text: not JSON, a JSON array, truncated JSON.
``{"control": "deadline_check", "call_id": "GD-ITOWN-2017-B2", "as_of": "2017-03-31T23:59:59+08:00"}``
    Exactly one line: the deadline check runs here (cutoff 2017-03-30T23:59:59+08:00, grace one
    day). Every line after it arrives "late" in record time.

What the batch holds
--------------------
About eighty applications from all 22 jurisdictions (Pearl River Delta and east, west and north
Guangdong), both tracks, named after real towns (``"Beijiao Town (北滘镇)"``, refs such as
``SD-2017-001``), with declared indicators that pass, warn (area shortfalls the province waives
with a reason), fail (2 backbone and 8 internet enterprises, an R&D share of 19 %, funding
1 : 0.5 : 1, 50 Mbps fibre) or sit exactly on a threshold (300 mu, 3 of 10 = 30 %).

Every path of the life cycle appears: approved (materials in one receipt or two); returned,
resubmitted and approved; rejected by the city from submitted, returned and city_verified;
rejected by the province after evaluation (with a failing clause) and from recommended;
withdrawn from every open state (and after the check); re-evaluated; left open at recommended
or evaluated; lapsing at the check (never verified, never recommended, returned and abandoned,
materials missing, incomplete, not A4-bound or dated after the cutoff). After the check: timely
evidence that reinstates lapsed applications, late evidence refused, timely submissions that
first arrive after the check (they lapse at once; one is then reinstated), and more
evaluations, approvals and a rejection.

Faults are mixed in: exact duplicates (one with its keys in another order), reused message ids
with another body, malformed bytes, schema errors, an unknown type, an unknown call, senders
without credentials, forbidden senders in all their forms, unknown applications, events out of
order, invalid transitions, failed preconditions and submissions after the deadline.

The script replays the batch through a small model of DOMAIN.md's rules and stops if any line
would not get the answer it was written for; ``--expect`` prints that answer for every line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the package scripts/demo_batch/
from demo_batch.cli import run  # noqa: E402
from demo_batch.common import OUT  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", action="store_true",
                        help="print every line's expected answer")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    return run(args.out, args.expect)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
