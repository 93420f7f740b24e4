"""Keyed pseudonyms: the same student gets the same short code for a key, and nobody can reverse it.

``pseudonym = "S-" + first 10 base32 characters of HMAC-SHA256(key, student_id)`` (50 bits; among
100,000 students the chance that two share a pseudonym is about 1 in 20,000, and
:func:`pseudonymise` refuses to return a collision rather than mix two students up).

The key (at least 16 bytes) comes from, in this order:

1. the environment variable ``RISKMODEL_PSEUDONYM_KEY`` (hex, or base64);
2. a key file (``settings.data.pseudonym_key_file``, default ``~/.config/riskmodel/pseudonym.key``),
   created with 32 random bytes on first use, mode 0600, with a WARNING that says where it is and that
   losing it changes every pseudonym. A key file inside a git work tree is refused: it would end up
   committed next to the code.

The key is never written to any output, log or notebook parameter; only :func:`key_id` (a short
fingerprint that cannot give the key back) may be recorded, so that two runs can be seen to share a key.

Example
-------
>>> key = bytes(range(32))
>>> pseudonymise(pd.Series(["2023001", "2023002", "2023001"]), key).tolist()  # doctest: +ELLIPSIS
['S-...', 'S-...', 'S-...']
>>> a = pseudonymise(pd.Series(["2023001"]), key).iloc[0]
>>> a == pseudonymise(pd.Series(["2023001"]), key).iloc[0], len(a)
(True, 12)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.errors import ConfigError
from riskmodel.i18n import text
from riskmodel.outputs import write_text

__all__ = ["ENV_VAR", "DEFAULT_KEY_FILE", "MIN_KEY_BYTES", "load_key", "key_id", "pseudonymise"]

log = logging.getLogger(__name__)

ENV_VAR = "RISKMODEL_PSEUDONYM_KEY"
DEFAULT_KEY_FILE = Path("~/.config/riskmodel/pseudonym.key")
MIN_KEY_BYTES = 16
PREFIX = "S-"
LENGTH = 10  # base32 characters: 50 bits
_BASE32 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)


def _decode(encoded: str, where: str, lang: str) -> bytes:
    encoded = encoded.strip()
    try:
        key = bytes.fromhex(encoded)
    except ValueError:
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(text("data.error.key_format", lang, where=where)) from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(text("data.error.key_short", lang, where=where, n=len(key), minimum=MIN_KEY_BYTES))
    return key


def _read_key_file(key_file: Path, lang: str) -> str:
    """The key file's text; a key is hex or base64, so a byte outside ASCII means a wrong or damaged file."""
    try:
        data = key_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key_file}: cannot read the pseudonym key file ({exc.strerror}); make it readable by "
                          f"this account (chmod 600) or set {ENV_VAR}.") from None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:  # the key's own bytes are never shown: only that the file is not a key
        raise ConfigError(text("data.error.key_format", lang, where=key_file)) from None


def _git_work_tree(path: Path) -> Path | None:
    for folder in [path.parent, *path.parent.parents]:
        if (folder / ".git").exists():
            return folder
    return None


def load_key(path: str | Path | None = None, *, lang: str = "en") -> bytes:
    """The pseudonym key: from ``RISKMODEL_PSEUDONYM_KEY``, else the key file (created on first use).

    Parameters
    ----------
    path
        Key file; ``None`` means ``~/.config/riskmodel/pseudonym.key``. The environment variable,
        when set, wins over any file.

    Raises
    ------
    ConfigError
        When the key is malformed or too short, the key file sits inside a git work tree, or the
        key file can be read by other accounts.

    Example
    -------
    >>> import os
    >>> os.environ[ENV_VAR] = "00" * 32
    >>> len(load_key())
    32
    >>> del os.environ[ENV_VAR]
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return _decode(env, ENV_VAR, lang)
    key_file = Path(path if path is not None else DEFAULT_KEY_FILE).expanduser().resolve()
    tree = _git_work_tree(key_file)
    if tree is not None:
        raise ConfigError(text("data.error.key_in_git", lang, path=key_file, tree=tree, default=DEFAULT_KEY_FILE,
                               env=ENV_VAR))
    if key_file.exists():
        if key_file.stat().st_mode & 0o077:
            raise ConfigError(text("data.error.key_readable", lang, path=key_file))
        return _decode(_read_key_file(key_file, lang), str(key_file), lang)
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_text(key_file, secrets.token_hex(32) + "\n", encoding="ascii")
    except OSError as exc:
        raise ConfigError(text("data.error.key_unwritable", lang, path=key_file, detail=exc.strerror, env=ENV_VAR)) from None
    log.warning(
        "created a new pseudonym key at %s (mode 0600). Keep it and back it up: losing or replacing it "
        "changes every student's pseudonym, so earlier lists and reports no longer match.", key_file,
    )
    return load_key(key_file, lang=lang)


def key_id(key: bytes) -> str:
    """A short fingerprint of ``key`` (safe to record; it does not give the key back)."""
    return hashlib.sha256(b"riskmodel-key-id:" + key).hexdigest()[:12]


def pseudonymise(ids: pd.Series, key: bytes) -> pd.Series:
    """``"S-"`` + 10 base32 characters of HMAC-SHA256(``key``, id) for each id; ``None`` stays ``None``.

    Raises
    ------
    ConfigError
        When two different ids get one pseudonym (about 1 in 20,000 for 100,000 students): use a new key.
    """
    unique = pd.Series(ids.dropna().astype(str).unique())
    # one HMAC per distinct id (hashing has no vector form; ~6 µs each in OpenSSL), then base32 of the
    # first 50 bits for all ids at once: the same characters as base64.b32encode(digest)[:10]
    head = b"".join(hmac.digest(key, value.encode("utf-8"), "sha256")[:8] for value in unique.tolist())
    bits = np.frombuffer(head, dtype=">u8").astype(np.uint64)
    shifts = np.arange(59, 59 - 5 * LENGTH, -5, dtype=np.uint64)  # 5-bit groups from the top
    letters = _BASE32[((bits[:, None] >> shifts[None, :]) & np.uint64(31)).astype(np.intp)]
    codes = [PREFIX + word for word in letters.view(f"S{LENGTH}").ravel().astype(str).tolist()]
    if len(set(codes)) != len(codes):
        raise ConfigError(text("data.error.key_collision", "en"))
    table = dict(zip(unique.tolist(), codes))
    out = ids.astype(object).where(ids.isna(), ids.astype(str)).map(table)
    return out.astype(object).where(out.notna(), None).rename("pseudonym")
