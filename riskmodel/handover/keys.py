"""A centre's key pair: ``centre.key`` (private, mode 0600) and ``centre.pub`` (given to other centres).

One centre holds two key pairs from pyca/cryptography, kept together in one documented structure:

* **Ed25519** to sign the packets it sends;
* **X25519** to receive packets encrypted for it.

Both files are UTF-8 JSON with a ``kind`` header naming what they are, raw 32-byte keys in base64::

    {"kind": "riskmodel-centre-private-key", "version": 1, "name": "...", "created": "2026-03-01",
     "fingerprint": "...", "ed25519_private": "<base64>", "x25519_private": "<base64>"}
    {"kind": "riskmodel-centre-public-key", "version": 1, "name": "...", "created": "2026-03-01",
     "fingerprint": "...", "ed25519_public": "<base64>", "x25519_public": "<base64>"}

The **fingerprint** (SHA-256 over both public keys, 32 hex digits shown in groups of four) is what
two centres compare by telephone or in person before trusting a ``.pub`` file (docs/handover.md).

Example
-------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "keys"
>>> pair = init_keys(folder, name="demo centre")
>>> oct((folder / "centre.key").stat().st_mode & 0o777), load_public(folder / "centre.pub").fingerprint == pair.fingerprint
('0o600', True)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from riskmodel.errors import RiskmodelError
from riskmodel.outputs import write_text

__all__ = [
    "PRIVATE_FILE",
    "PUBLIC_FILE",
    "CentreKeys",
    "CentrePublic",
    "HandoverError",
    "fingerprint",
    "init_keys",
    "load_keys",
    "load_public",
]

PRIVATE_FILE = "centre.key"
PUBLIC_FILE = "centre.pub"
_PRIVATE_KIND = "riskmodel-centre-private-key"
_PUBLIC_KIND = "riskmodel-centre-public-key"


class HandoverError(RiskmodelError, ValueError):
    """A key or packet that cannot be used: nothing was written (exit status 2)."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(value: object, path: Path, field: str) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise HandoverError(f"{path}: field {field!r} is not a 32-byte key in base64; the file is damaged. Ask for "
                            "the file again, or make new keys with `riskmodel keys init`.")
    return raw


def fingerprint(ed25519_public: bytes, x25519_public: bytes) -> str:
    """SHA-256 over both public keys, first 32 hex digits: the centre's identity in packets and files."""
    return hashlib.sha256(b"riskmodel-centre/1\0" + ed25519_public + x25519_public).hexdigest()[:32]


@dataclass(frozen=True)
class CentrePublic:
    """What another centre knows of a centre: its public keys, name and fingerprint."""

    name: str
    ed25519: Ed25519PublicKey
    x25519: X25519PublicKey

    @property
    def ed25519_raw(self) -> bytes:
        return self.ed25519.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def x25519_raw(self) -> bytes:
        return self.x25519.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.ed25519_raw, self.x25519_raw)

    def document(self, created: str) -> dict:
        """The ``centre.pub`` content."""
        return {"kind": _PUBLIC_KIND, "version": 1, "name": self.name, "created": created,
                "fingerprint": self.fingerprint, "ed25519_public": _b64(self.ed25519_raw),
                "x25519_public": _b64(self.x25519_raw)}


@dataclass(frozen=True)
class CentreKeys:
    """A centre's own keys (private and public)."""

    name: str
    ed25519: Ed25519PrivateKey
    x25519: X25519PrivateKey

    @property
    def public(self) -> CentrePublic:
        return CentrePublic(self.name, self.ed25519.public_key(), self.x25519.public_key())

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint


def _inside_work_tree(folder: Path) -> Path | None:
    """The git work tree (or repository) ``folder`` lies in, if any."""
    for parent in (folder, *folder.parents):
        if (parent / ".git").exists() or (parent / "HEAD").is_file() and (parent / "objects").is_dir():
            return parent
    return None


def init_keys(folder: str | Path, *, name: str = "") -> CentreKeys:
    """Make a new key pair in ``folder``: ``centre.key`` (0600) and ``centre.pub`` (0600; copy it to others).

    Raises
    ------
    HandoverError
        ``folder`` lies inside a git work tree or repository (a private key must never be committed), or
        already holds a key (a key is never overwritten: keep it, or move it away deliberately).
    """
    folder = Path(folder).absolute()
    tree = _inside_work_tree(folder)
    if tree is not None:
        raise HandoverError(f"{folder}: inside the git work tree {tree}; a private key must never be where it can be "
                            "committed. Choose a folder outside any repository, e.g. ~/.riskmodel/keys.")
    for file in (PRIVATE_FILE, PUBLIC_FILE):
        if (folder / file).exists():
            raise HandoverError(f"{folder / file}: already exists; keys are never overwritten. Keep the centre's key, "
                                "or move the old pair away first (docs/handover.md, rotating keys).")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = CentreKeys(name, Ed25519PrivateKey.generate(), X25519PrivateKey.generate())
    created = date.today().isoformat()
    private = {"kind": _PRIVATE_KIND, "version": 1, "name": name, "created": created, "fingerprint": keys.fingerprint,
               "ed25519_private": _b64(keys.ed25519.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())),
               "x25519_private": _b64(keys.x25519.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))}
    write_text(folder / PRIVATE_FILE, json.dumps(private, ensure_ascii=False, indent=1) + "\n")
    write_text(folder / PUBLIC_FILE, json.dumps(keys.public.document(created), ensure_ascii=False, indent=1) + "\n")
    return keys


def _read(path: Path, kind: str) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HandoverError(f"{path}: no such key file; make the centre's keys with `riskmodel keys init DIR`.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HandoverError(f"{path}: not a riskmodel key file ({exc.__class__.__name__}).") from None
    if not isinstance(document, dict) or document.get("kind") != kind or document.get("version") != 1:
        found = document.get("kind") if isinstance(document, dict) else type(document).__name__
        raise HandoverError(f"{path}: a {found!r} file, not a {kind} (version 1); pass the right file.")
    return document


def load_keys(folder: str | Path) -> CentreKeys:
    """The centre's own keys from ``folder/centre.key`` (refused when others can read it)."""
    path = Path(folder) / PRIVATE_FILE
    if path.exists() and os.name == "posix" and path.stat().st_mode & 0o077:
        raise HandoverError(f"{path}: readable by other users (mode {oct(path.stat().st_mode & 0o777)}); "
                            f"run `chmod 600 {path}` and consider the key exposed (docs/handover.md).")
    document = _read(path, _PRIVATE_KIND)
    keys = CentreKeys(str(document.get("name", "")),
                      Ed25519PrivateKey.from_private_bytes(_unb64(document.get("ed25519_private"), path, "ed25519_private")),
                      X25519PrivateKey.from_private_bytes(_unb64(document.get("x25519_private"), path, "x25519_private")))
    if document.get("fingerprint") not in (None, keys.fingerprint):
        raise HandoverError(f"{path}: the keys do not match the fingerprint written in the file; the file is damaged.")
    return keys


def load_public(path: str | Path) -> CentrePublic:
    """Another centre's public keys from its ``centre.pub``."""
    path = Path(path)
    document = _read(path, _PUBLIC_KIND)
    public = CentrePublic(str(document.get("name", "")),
                          Ed25519PublicKey.from_public_bytes(_unb64(document.get("ed25519_public"), path, "ed25519_public")),
                          X25519PublicKey.from_public_bytes(_unb64(document.get("x25519_public"), path, "x25519_public")))
    if document.get("fingerprint") not in (None, public.fingerprint):
        raise HandoverError(f"{path}: the keys do not match the fingerprint written in the file; the file is damaged "
                            "or was edited. Ask the centre for its key again and compare fingerprints.")
    return public
