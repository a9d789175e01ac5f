"""What ``towns replay`` prints: the history event by event, then the state at that point."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from adapters.views import application_view
from domain.reading import Replay


def print_replay(replay: Replay, args: argparse.Namespace, out: TextIO) -> None:
    applied = {e.originator_version for e in replay.applied}
    point = _point(args)
    print(f"history of {args.call} {args.ref} ({len(replay.events)} events){point}", file=out)
    print(
        f"  {'v':>3} {'':1} {'type':<28}{'occurred_at':<27}{'recorded_at':<34}{'actor':<34}hash",
        file=out,
    )
    for event in replay.events:
        mark = "*" if event.originator_version in applied else " "
        actor = event.actor
        who = f"{actor.get('role')}:{actor.get('city') or actor.get('id')}"
        print(
            f"  {event.originator_version:>3} {mark} {event.EVENT_TYPE:<28}"
            f"{event.occurred_at.isoformat():<27}{event.timestamp.isoformat():<34}"
            f"{who:<34}{event.hash[:16]}",
            file=out,
        )
    if point:
        print("  (* counts at that point)", file=out)
    chain = "intact" if replay.chain_break is None else f"BROKEN at {replay.chain_break.as_dict()}"
    print(f"hash chain: {chain}", file=out)
    if replay.state is None:
        print(f"state{point}: the application did not exist yet", file=out)
        return
    print(f"state{point}:", file=out)
    view = application_view(replay.state, replay.deadline)
    print(json.dumps(view, ensure_ascii=False, indent=2), file=out)


def _point(args: argparse.Namespace) -> str:
    parts = []
    if args.as_of:
        parts.append(f"as of {args.as_of.isoformat()}")
    if args.known_at:
        parts.append(f"as known at {args.known_at.isoformat()}")
    if args.version is not None:
        parts.append(f"at version {args.version}")
    return f" {', '.join(parts)}" if parts else ""
