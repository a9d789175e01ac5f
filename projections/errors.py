"""What a projection runner refuses with."""


class RebuildRefused(Exception):
    """A rebuilt view disagrees with what vouches for the live one: it is not switched."""


class Busy(Exception):
    """Another runner holds the projection."""


class NotSetAside(KeyError):
    """No open set-aside record at the position asked for."""
