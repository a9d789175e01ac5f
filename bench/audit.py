"""The audit evidence over a generated log of about a million records (``bench/projections.py``'s
log, reused): the audit view's catch-up with its Merkle tree beside the raw read + decode of the
log in the same run; ``audit verify`` (both hash chains and the Merkle tree against witnessed
heads); an application's inclusion proofs; the cost of making and signing one tree head.

    .venv/bin/python bench/audit.py [APPLICATIONS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from adapters.audit.verify import verify  # noqa: E402
from adapters.bootstrap import build_towns  # noqa: E402
from adapters.config import load_config  # noqa: E402
from adapters.audit.evidence.checkpoints import (Cadence, Checkpoints, setup_heads,  # noqa: E402
                                           stored_tree)
from adapters.audit.evidence.heads import Signer  # noqa: E402
from adapters.audit.evidence.proofs import application_proof  # noqa: E402
from adapters.audit.evidence.witnesses import Witnesses  # noqa: E402
from bench.common import rate, table  # noqa: E402
from bench.projections import ensure_log, log_url, raw_rate  # noqa: E402
from domain.applications import application_id  # noqa: E402
from projections.audit import AuditTrail  # noqa: E402
from projections.runner import ProjectionRunner  # noqa: E402
from projections.store import ViewStore  # noqa: E402
from tests.factories import CALL  # noqa: E402

HEADS = 10  # witnessed heads over the log, at evenly spaced sizes
PAIRS = 3  # raw read + catch-up pairs, alternated


def reset(store: ViewStore, runner: ProjectionRunner) -> None:
    trail = runner.projection(AuditTrail.name)
    runner.setup()
    with store.transaction() as tx:
        trail.drop(tx, trail.live_names())
        tx.execute("DROP TABLE IF EXISTS audit_heads")
        tx.execute("DELETE FROM projection_positions WHERE name = ?", (AuditTrail.name,))
    runner.setup()
    setup_heads(store)


def witness(store: ViewStore, signer: Signer, witnesses: Witnesses, size: int) -> float:
    """Signs heads at evenly spaced sizes of the tree (as the worker would have, on the way);
    the seconds one head takes, root included, as the median."""
    times = []
    with store.transaction(read_only=True) as tx:
        tree = stored_tree(tx)
        for k in range(1, HEADS + 1):
            start = time.perf_counter()
            head = signer.head(size * k // HEADS, tree.root(size * k // HEADS))
            times.append(time.perf_counter() - start)
            witnesses.append(head)
    return statistics.median(times)


def main() -> None:
    applications = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = log_url(applications)
    towns = build_towns(load_config(), url)
    store = ViewStore(url)
    runner = ProjectionRunner(towns, store, [AuditTrail()])
    head = ensure_log(towns, applications)
    print(f"log: {head:,} notifications in {url.split('?')[1]}")
    rows, ratios = [], []
    for pair in range(1, PAIRS + 1):  # the machine is shared: pairs, and their median ratio
        reset(store, runner)
        raw_count, raw_seconds = raw_rate(towns)
        start = time.perf_counter()
        count = runner.catch_up(AuditTrail.name)
        seconds = time.perf_counter() - start
        raw = rate(raw_count, raw_seconds)
        ratios.append(rate(count, seconds) / raw)
        rows += [(f"{pair}: raw select_notifications + decode", f"{raw_count:,}",
                  f"{raw_seconds:.1f}", f"{raw:,.0f}", "100 %"),
                 (f"{pair}: audit (chains + Merkle tree)", f"{count:,}", f"{seconds:.1f}",
                  f"{rate(count, seconds):,.0f}", f"{ratios[-1] * 100:.0f} %")]
    print(f"\nthe audit view's catch-up from zero, Merkle tree included, PostgreSQL, {PAIRS} pairs "
          "(target: at least 75 % of the raw rate)")
    print(table(rows, ("reader", "events", "seconds", "events/s", "of raw")))
    print(f"median of the pairs: {statistics.median(ratios) * 100:.0f} % of raw")

    signer = Signer(Ed25519PrivateKey.generate())
    with tempfile.TemporaryDirectory() as folder:
        witnesses = Witnesses(folder, None)
        head_seconds = witness(store, signer, witnesses, count)
        sign_only = []
        for _ in range(200):
            begun = time.perf_counter()
            signer.head(count, b"\0" * 32)
            sign_only.append(time.perf_counter() - begun)
        start = time.perf_counter()
        result = verify(towns, runner, (witnesses, {signer.key_id: signer.public}))
        verify_seconds = time.perf_counter() - start
    assert result["ok"] is True, result["evidence"]["findings"][:3] or result["first_break"]
    print(f"\naudit verify over {result['checked_to']:,} records (both chains, the Merkle tree "
          f"against {result['evidence']['heads_checked']} witnessed heads): "
          f"{verify_seconds:.1f} s (target under 60 s); the raw read + decode alone: "
          f"{raw_seconds:.1f} s")
    print(f"a tree head: {head_seconds * 1000:.2f} ms with its root read from the view, "
          f"{statistics.median(sign_only) * 1e6:.0f} µs to sign")

    checkpoints = Checkpoints(store, signer, Witnesses(None, None), Cadence())
    checkpoints.sign_if_due(force=True)
    app = application_id(CALL, "G-TWENTY")
    proof_times = []
    for _ in range(100):
        begun = time.perf_counter()
        found = application_proof(store, app)
        proof_times.append((time.perf_counter() - begun) * 1000)
    proof_times.sort()
    print(f"inclusion proofs of a {len(found['items'])}-event application against the latest "
          f"head: p50 {statistics.median(proof_times):.2f} ms, p95 "
          f"{proof_times[94]:.2f} ms (target under 10 ms)")


if __name__ == "__main__":
    main()
