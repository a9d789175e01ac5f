"""``towns``: the one command line entry point (CONTRACT.md §4).

Exit codes: 0 on success, 1 on a failure explained in one line on stderr, 2 on bad usage.
A reader that stops early (``towns replay ... | head``) is not a failure: output to a closed
pipe ends the command quietly with 0, its standard output pointed at the null device so that
nothing is written, and nothing complains, at exit. Each module of this package registers its
commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys

import psycopg
from eventsourcing.persistence import MapperDeserialisationError, PersistenceError

from adapters import collector
from adapters.amqp.topology import AmqpUrlError
from adapters.inbound.batch import BatchError
from adapters.bootstrap import DatabaseUrlError
from adapters.cli import amqp, audit, backup, local, ops, workers
from adapters.cli.common import Failure
from adapters.config import ConfigError
from domain.errors import DomainError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="towns", description="Guangdong 'Internet+' towns case management")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (local, amqp, audit, workers, ops, backup):
        module.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    collector.tune()
    code = 0
    try:
        code = _run(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
    except BrokenPipeError:  # the reader is gone: not a failure of the command
        _quiet_stdout()
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        args.run(args)
    except BrokenPipeError:
        raise
    except (Failure, ConfigError, DatabaseUrlError, AmqpUrlError, BatchError) as error:
        print(f"towns {args.command}: {error}", file=sys.stderr)
        return 1
    except DomainError as error:
        print(f"towns {args.command}: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except (MapperDeserialisationError, json.JSONDecodeError) as error:
        print(f"towns {args.command}: the store holds an event that cannot be read "
              f"(`towns audit verify` names it): {' '.join(str(error).split())[:300]}",
              file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error, psycopg.Error, PersistenceError) as error:
        # the machine or the store: a file that cannot be read, a database that cannot be used
        print(f"towns {args.command}: {_environment(error)}", file=sys.stderr)
        return 1
    return 0


def _quiet_stdout() -> None:
    """The rest of what the command had to say goes nowhere (the reader is gone)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _environment(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"cannot use {error.filename}: {error.strerror}"
    what = "the database" if not isinstance(error, OSError) else type(error).__name__
    return f"{what}: {' '.join(str(error).split()) or type(error).__name__}"
