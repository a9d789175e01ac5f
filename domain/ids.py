"""Name-based ids: ``uuid.uuid5`` without its per-call costs.

The standard library's ``uuid5`` re-imports ``sha1``, converts the namespace to bytes, and builds
the UUID through the general constructor's checks on every call; the ingest path makes one or
two per message. ``Namespace.uuid5`` gives the very same UUID (same 128 bits, same version and
variant, same ``is_safe``), held equal to the standard one by a property test.
"""

from __future__ import annotations

from hashlib import sha1
from uuid import UUID, SafeUUID

_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (5 << 76)  # RFC 4122 variant, version 5


class Namespace:
    """A namespace of name-based ids; its bytes are computed once."""

    def __init__(self, namespace: UUID) -> None:
        self.uuid = namespace
        self._bytes = namespace.bytes

    def uuid5(self, name: str) -> UUID:
        """``uuid.uuid5(self.uuid, name)``."""
        digest = sha1(self._bytes + name.encode("utf-8")).digest()
        return _uuid(int.from_bytes(digest[:16], "big") & _CLEAR | _SET)


def _uuid(value: int) -> UUID:
    made = object.__new__(UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", SafeUUID.unknown)
    return made
