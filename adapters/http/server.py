"""``towns serve``: the app under waitress, a production WSGI server (never Flask's dev server).

One line is logged with the address; SIGTERM or SIGINT stops the server cleanly (requests in
flight get waitress's grace period), closes the service, and the command exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType

from waitress import create_server

from adapters.config import Config
from adapters.http.app import create_app
from domain.service import Towns
from projections.runner import ProjectionRunner

log = logging.getLogger("towns.http")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SERVER_MAX_BODY_BYTES = 1024 * 1024
"""What waitress takes of a request body at most (its default is 1 GiB, buffered to disk), read
before the app sees the request. Up to this the app answers the contract's ``malformed`` for a
body over 256 KiB; above it waitress refuses with its own 413 without reading the body."""


def serve(towns: Towns, config: Config, host: str, port: int, threads: int,
          close: Callable[[], object] | None = None,
          runner: ProjectionRunner | None = None) -> None:
    """Serves ``towns`` on ``host:port`` with ``threads`` worker threads until SIGTERM/SIGINT.

    Returns normally after a clean stop; a port that cannot be bound exits 1 with one line on
    stderr (the CLI's convention). Either way ``close`` (default: ``towns.close``) is called
    once the server is down: a runtime passes its own, which stops its workers before the
    service they use is closed. ``runner`` serves the read models (default: the app builds
    one on ``towns``' database).
    """
    _configure_logging()
    close = close or towns.close
    app = create_app(towns, config, runner)
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="towns",
                               max_request_body_size=SERVER_MAX_BODY_BYTES)
    except (OSError, ValueError) as error:  # waitress: ValueError for a host it cannot resolve
        logging.getLogger("dramatiq").setLevel(logging.WARNING)  # the one line below says it all
        close()
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(f"towns serve: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        raise SystemExit(1) from None
    previous = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS}
    try:
        log.info("towns serve: listening on http://%s:%s", _host(server), server.effective_port)
        server.run()  # returns after _stop's SystemExit, once waitress has shut its threads down
        log.info("towns serve: stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
        close()


def _stop(signum: int, frame: FrameType | None) -> None:
    log.info("towns serve: %s received, stopping", signal.Signals(signum).name)
    raise SystemExit(0)


def _host(server) -> str:
    host = str(server.effective_host)
    return f"[{host}]" if ":" in host else host


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    # waitress warns once per request queued behind busy threads: noise when writes serialise.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
