"""Signed tree heads: ``{size, root, time, key_id}`` over the notification log's Merkle tree,
signed with Ed25519.

The private key lives in a file named by ``TOWNS_SIGNING_KEY`` (PKCS#8 PEM), never in the
database; ``key_id`` is the first 16 hex digits of the SHA-256 of the raw public key. What is
signed is ``SIGNED_PREFIX`` followed by the head's fields as canonical JSON (sorted keys, no
white space), so that a verifier in any language can rebuild the exact bytes. Without a key a
head is still made, with ``key_id`` and ``signature`` null, and says so.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from adapters.config import ConfigError
from domain.hashing import canonical

SIGNED_PREFIX = b"towns-tree-head-v1\n"
KEY_ENV = "TOWNS_SIGNING_KEY"
MAX_HEAD_TEXT = 4096
"""A witness line longer than this is not a head (a line is read whole before it is parsed)."""


class KeyProblem(ConfigError):
    """A signing or public key that cannot be used, with a sentence saying why (a
    configuration error: every command says it in one line)."""


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: str  # hex
    time: str  # ISO 8601 with an offset
    key_id: str | None = None
    signature: str | None = None  # base64

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.size, self.root, self.time, self.key_id)

    @property
    def signed(self) -> bool:
        return self.signature is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """The head as one JSON line (a witness file's line, a stream message's body)."""
        return canonical(self.as_dict()).decode("utf-8")

    @classmethod
    def parse(cls, value: Any) -> TreeHead:
        """A head from its JSON (text or decoded); ValueError when it is not one."""
        if isinstance(value, (str, bytes)):
            if len(value) > MAX_HEAD_TEXT:
                raise ValueError("too long to be a tree head")
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError("a tree head is a JSON object")
        size, root, time = value.get("size"), value.get("root"), value.get("time")
        key_id, signature = value.get("key_id"), value.get("signature")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("size is not a count")
        if not isinstance(root, str) or len(root) != 64 or not _hex(root):
            raise ValueError("root is not a SHA-256 in hex")
        if not isinstance(time, str) or not _instant(time):
            raise ValueError("time is not an instant with an offset")
        for name, field in (("key_id", key_id), ("signature", signature)):
            if field is not None and (not isinstance(field, str) or len(field) > 200):
                raise ValueError(f"{name} is not text")
        return cls(size, root, time, key_id, signature)


def signed_bytes(size: int, root: str, time: str, key_id: str | None) -> bytes:
    return SIGNED_PREFIX + canonical({"key_id": key_id, "root": root, "size": size, "time": time})


def _hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return text == text.lower()


def _instant(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).utcoffset() is not None
    except ValueError:
        return False


# -- keys -----------------------------------------------------------------------------------------


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public(text: str | bytes) -> Ed25519PublicKey:
    """A public key as ``towns audit public-key`` prints it (PEM)."""
    data = text.encode() if isinstance(text, str) else text
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise KeyProblem(f"not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem("not an Ed25519 public key")
    return key


class Signer:
    """The private key of ``TOWNS_SIGNING_KEY``: signs heads."""

    def __init__(self, private: Ed25519PrivateKey, path: str = "") -> None:
        self.private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)
        self.path = path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Signer:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise KeyProblem(f"the signing key {path} cannot be read: {error.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as error:
            raise KeyProblem(f"the signing key {path} is not a PEM private key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyProblem(f"the signing key {path} is not an Ed25519 key")
        return cls(key, str(path))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Signer | None:
        """The key ``TOWNS_SIGNING_KEY`` names, or None when it names none."""
        path = (env if env is not None else os.environ).get(KEY_ENV, "").strip()
        return cls.load(path) if path else None

    def head(self, size: int, root: bytes, time: datetime | None = None) -> TreeHead:
        stamp = (time or datetime.now(timezone.utc)).isoformat()
        signature = self.private.sign(signed_bytes(size, root.hex(), stamp, self.key_id))
        return TreeHead(size, root.hex(), stamp, self.key_id,
                        base64.b64encode(signature).decode("ascii"))


def unsigned_head(size: int, root: bytes, time: datetime | None = None) -> TreeHead:
    return TreeHead(size, root.hex(), (time or datetime.now(timezone.utc)).isoformat())


def verify_head(head: TreeHead, keys: dict[str, Ed25519PublicKey]) -> str | None:
    """None when ``head`` carries a valid signature by one of ``keys`` (by key id), else why not."""
    if head.signature is None or head.key_id is None:
        return "the head is not signed"
    public = keys.get(head.key_id)
    if public is None:
        return f"the head is signed by key {head.key_id}, which is not a key the verifier trusts"
    try:
        signature = base64.b64decode(head.signature, validate=True)
        public.verify(signature, head.signed_bytes())
    except (InvalidSignature, ValueError):
        return f"the signature of the head of size {head.size} does not verify"
    return None


def keygen(path: str | os.PathLike) -> Signer:
    """Writes a new private key to ``path`` (mode 0600; an existing file is never replaced),
    making the folders missing on its way (mode 0700: only the key's owner can list them)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        _make_parents(Path(path).parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyProblem(f"{path} exists already; a key is never overwritten") from None
    except OSError as error:
        raise KeyProblem(f"{path} cannot be written: {error.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return Signer(private, str(path))


def _make_parents(folder: Path) -> None:
    """Makes ``folder`` and the folders missing above it, each mode 0700 (``os.makedirs`` gives
    the intermediate ones the umask's mode); folders that exist are left as they are."""
    if folder.is_dir():
        return
    _make_parents(folder.parent)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        if folder.is_dir():  # made meanwhile by another process: not ours to change
            return
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder)) from None
    os.chmod(folder, 0o700)  # whatever the umask
