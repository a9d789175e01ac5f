"""The ``reply_to`` names that made the broker close the replies' connection
(``adapters.amqp.reply_sender``), so that such a name is not given a new connection at every
batch.

The names out when the broker closed the connection (for a cause of its own, not a forced close
nor a lost socket) are suspects: the next reply to a suspect is published alone, after the
batch's other replies, and a suspect answered by the broker is one no longer. A name alone out
when the broker closes the connection is refused from then on, as an invalid ``reply_to``,
until the consumer restarts. Both lists are bounded (``REMEMBERED``, the oldest forgotten
first).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

from pika import spec
from pika.exceptions import ConnectionClosedByBroker

from adapters.amqp.reply_results import short

log = logging.getLogger("towns.consume")

REMEMBERED = 1000
"""The most ``reply_to`` names kept as suspects, and as refused."""


class ReplySuspects:
    """The suspected and the refused ``reply_to`` names of one consumer's replies."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.remembered = remembered
        self._suspects: OrderedDict[str, None] = OrderedDict()
        self._refused: OrderedDict[str, str] = OrderedDict()  # name: why
        self._out: list[str] = []  # the names out when the replies' connection went

    def refusal(self, name: str | None) -> str | None:
        """Why replies to ``name`` are refused; None when they are not."""
        return self._refused.get(name)

    def refused_again(self, name: str | None) -> str | None:
        """``refusal``; a name refused again is the last to be forgotten."""
        if name not in self._refused:
            return None
        self._refused.move_to_end(name)
        return self._refused[name]

    def suspected(self, name: str | None) -> bool:
        return name in self._suspects

    def answered(self, name: str | None) -> None:
        """The broker settled a reply to ``name``: it took the name, which is no suspect."""
        self._suspects.pop(name, None)

    def out(self, names: Iterable[str | None]) -> None:
        """The names of the replies out when the replies' connection went (for ``blame``)."""
        self._out = list(names)

    def blame(self, error: BaseException) -> bool:
        """After the broker closed the replies' connection: a name alone out then is refused
        from now on (True); several are suspects. A forced close (the broker stops, an operator)
        or a lost socket blames no one."""
        names, self._out = list(dict.fromkeys(self._out)), []
        if not isinstance(error, ConnectionClosedByBroker) or error.reply_code == spec.CONNECTION_FORCED:
            return False
        if len(names) == 1:
            [name] = names
            why = (f"reply_to made the broker close the replies' connection "
                   f"({error.reply_code} {error.reply_text}): refused from now on")
            _remember(self._refused, name, why, self.remembered)
            self._suspects.pop(name, None)
            log.warning("reply_to %s made the broker close the replies' connection (%s %s): "
                        "replies to it are refused from now on", short(name), error.reply_code,
                        error.reply_text)
            return True
        for name in names:
            _remember(self._suspects, name, None, self.remembered)
        return False


def _remember(kept: OrderedDict, name: str, value, limit: int) -> None:
    kept[name] = value
    kept.move_to_end(name)
    while len(kept) > limit:
        kept.popitem(last=False)
