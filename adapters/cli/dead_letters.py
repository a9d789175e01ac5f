"""``towns dead-letters list`` and ``towns dead-letters requeue``: dead letters in the database,
and their re-drive into ``towns.inbound`` (CONTRACT.md §2, §4).

Both take the dead-letter filter of the HTTP API and the page
(``adapters.store.dead_letter_filter``): ``--code``, ``--type``, ``--ref``, ``--call``, ``--user``,
``--since``, ``--until``, all of which must hold. ``requeue`` with a filter takes the open letters
it matches (as ``--all`` does, narrowed), ``--limit`` at most; it re-drives them ``BATCH`` at a
time, each batch a bounded re-drive recorded on its own (``adapters.amqp.redrive.requeue``), and
walks forward through the letters, so that one refused again meanwhile is not taken twice. Its
progress goes to stderr (``adapters.cli.progress``) when more than ``HANDFUL`` letters go; stdout
says ``requeued N`` as ever.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from contextlib import nullcontext

from adapters.bootstrap import build_towns
from adapters.cli.common import Failure, reason_option, uuid_arg, whole
from adapters.config import load_config
from adapters.store.dead_letter_filter import (
    INSTANTS,
    NAMES,
    TEXTS,
    FilterError,
    LetterFilter,
)
from adapters.store.dead_letter_filter import instant as instant_criterion
from adapters.store.dead_letter_filter import text as text_criterion

BATCH = 500
"""Letters per re-drive, as over HTTP."""
HANDFUL = 10
"""Up to this many letters go without a progress report."""


def register(commands) -> None:
    dead = commands.add_parser("dead-letters", help="inspect and re-drive dead letters")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION")
    listing = dead_commands.add_parser(
        "list", help="the dead letters in the database (open ones unless --all)"
    )
    listing.add_argument("--all", action="store_true", help="include the re-driven ones")
    listing.add_argument("--json", action="store_true",
                         help="one JSON object a line (body as text, or base64 with "
                              'body_encoding "base64")')
    listing.add_argument("--limit", type=whole(1, what="a limit"),
                         help="at most this many (default: all, read a page at a time)")
    filter_options(listing)
    listing.set_defaults(run=run_dead_letters_list, usage=listing.error)
    requeue = dead_commands.add_parser(
        "requeue",
        help="re-drive dead letters into towns.inbound",
        description=(
            "Publishes each chosen dead letter's stored body to towns.inbound as the service's "
            "own user (the user of TOWNS_AMQP_URL) on behalf of its original sender, takes its "
            "copies off towns.inbound.dead and records who re-drove it and when. --all takes "
            "every open dead letter; a filter (--code, --type, --ref, --call, --user, --since, "
            "--until: all must hold) the open ones it matches, with or without --all; --id "
            f"re-drives the letters named, whatever their state. Open letters go {BATCH} per "
            "re-drive, each recorded; progress goes to stderr."
        ),
    )
    chosen = requeue.add_mutually_exclusive_group()
    chosen.add_argument("--id", dest="ids", type=uuid_arg, nargs="+", action="extend",
                        metavar="ID", help="a dead letter's id (see `towns dead-letters list`)")
    chosen.add_argument("--all", action="store_true", help="every open dead letter")
    filter_options(requeue)
    requeue.add_argument("--limit", type=whole(1, what="a limit"),
                         help="with --all or a filter: at most this many (default: every match)")
    requeue.add_argument("--by", metavar="NAME", help="who re-drives them (default: the OS user name)")
    reason_option(requeue)
    requeue.set_defaults(run=run_dead_letters_requeue, usage=requeue.error)


def filter_options(parser: argparse.ArgumentParser) -> None:
    """The filter's options, each value checked as it is read (a bad one is bad usage)."""
    for name in NAMES:
        what = TEXTS[name][1] if name in TEXTS else INSTANTS[name]
        metavar = "T" if name in INSTANTS else name.upper()
        parser.add_argument(f"--{name}", type=_criterion(name), metavar=metavar,
                            help=f"only letters with {what}" if name in TEXTS else f"only letters {what}")


def _criterion(name: str) -> Callable[[str], str]:
    check = instant_criterion if name in INSTANTS else text_criterion

    def convert(value: str) -> str:
        try:
            check(name, value)
        except FilterError as error:
            raise argparse.ArgumentTypeError(f"{error.details[name]}, not {value!r}") from None
        return value

    return convert


def letter_filter(args: argparse.Namespace) -> LetterFilter:
    """The filter the options give; an empty range is bad usage."""
    try:
        return LetterFilter.parse({name: getattr(args, name, None) for name in NAMES})
    except FilterError as error:
        args.usage("; ".join(f"--{name}: {message}" for name, message in error.details.items()))
        raise  # not reached: usage exits


def run_dead_letters_list(args: argparse.Namespace) -> None:
    from itertools import islice

    from adapters.cli.dead_letters_view import print_json_lines, print_table
    from adapters.ops.dead_letters import MAX_LIMIT, every
    from adapters.store.inbound_records import InboundRecords

    where = letter_filter(args)
    towns = build_towns(load_config())
    try:
        size = min(args.limit or MAX_LIMIT, MAX_LIMIT)
        letters = islice(every(InboundRecords(towns), not args.all, size, where or None), args.limit)
        (print_json_lines if args.json else print_table)(letters, sys.stdout, include_closed=args.all)
    finally:
        towns.close()


def run_dead_letters_requeue(args: argparse.Namespace) -> None:
    from eventsourcing.persistence import PersistenceError

    from adapters.amqp.redrive import RedriveError
    from adapters.amqp.topology import amqp_url
    from adapters.audit.evidence.actions import local_actor
    from adapters.store.inbound_records import InboundRecords

    where = letter_filter(args)
    if args.ids and (where or args.limit):
        args.usage("--id names the letters: no filter or --limit with it")
    if not args.ids and not args.all and not where:
        args.usage("one of the arguments --id --all or a filter (--code, --type, --ref, --call, "
                   "--user, --since, --until) is required")
    url = amqp_url()
    if not url:
        raise Failure("TOWNS_AMQP_URL is not set: re-driving needs RabbitMQ")
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    towns = build_towns(load_config())
    try:
        records = InboundRecords(towns)
        by = args.by or local_actor()
        redrive = _redrive_named if args.ids else _redrive_matching
        requeued = redrive(records, url, args, by)
    except RedriveError as error:
        raise Failure(str(error)) from None
    except PersistenceError as error:
        raise Failure(f"the database failed: {error}") from None
    finally:
        towns.close()
    print(f"requeued {requeued}")


def _redrive_named(records, url: str, args: argparse.Namespace, by: str) -> int:
    from adapters.amqp.redrive import requeue

    total = len(set(args.ids))
    with _reporter(total) as report:
        return len(requeue(records, url, args.ids, False, by, args.reason, on_progress=report))


def _redrive_matching(records, url: str, args: argparse.Namespace, by: str) -> int:
    """The open letters the filter matches (every open one without), ``BATCH`` per re-drive,
    each batch after the last letter of the one before; ``args.limit`` at most."""
    from adapters.amqp.redrive import RedriveError, requeue
    from adapters.ops.dead_letters import count

    where = letter_filter(args) or None
    found = count(records, where)
    total = found["redrivable"] if args.limit is None else min(found["redrivable"], args.limit)
    done, after = 0, None
    with _reporter(total) as report:
        while args.limit is None or done < args.limit:
            size = BATCH if args.limit is None else min(BATCH, args.limit - done)
            before = done

            def progress(n: int, _: int, before: int = before) -> None:
                if report is not None:
                    report(before + n, max(total, before + n))

            try:
                batch = requeue(records, url, None, True, by, args.reason, limit=size,
                                where=where, after=after, on_progress=progress)
            except RedriveError as error:
                if done:
                    raise RedriveError(f"{error} (after {done} re-driven in earlier batches of "
                                       "this run)") from error
                raise
            done += len(batch)
            if len(batch) < size:
                break
            after = batch[-1].id
    return done


def _reporter(total: int):
    """A progress reporter on stderr for more than ``HANDFUL`` letters; None for fewer."""
    from adapters.cli.progress import progress

    if total <= HANDFUL:
        return nullcontext(None)
    return progress("towns dead-letters requeue", "letters re-driven")
