"""Keyed pseudonyms: stable for a key, different across keys, key handling and where keys may live."""

from __future__ import annotations

import base64
import logging
import os
import subprocess

import pandas as pd
import pytest

from riskmodel.data.pseudonym import ENV_VAR, key_id, load_key, pseudonymise
from riskmodel.errors import ConfigError

IDS = pd.Series(["2023001", "2023002", None, "2023001"])


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_format_and_stability():
    key = bytes(range(32))
    first = pseudonymise(IDS, key)
    assert first.iloc[0] == first.iloc[3] and first.iloc[0] != first.iloc[1]
    assert first.iloc[2] is None
    assert first.dropna().str.fullmatch(r"S-[A-Z2-7]{10}").all()
    pd.testing.assert_series_equal(first, pseudonymise(IDS.copy(), key))
    assert pseudonymise(IDS, bytes(range(1, 33))).iloc[0] != first.iloc[0]
    # a pinned value: the scheme must not drift between versions (every earlier list would stop matching)
    assert pseudonymise(pd.Series(["2023001"]), b"k" * 16).iloc[0] == "S-J6VROS3Y4N"


def test_pseudonym_is_hmac_sha256_base32():
    import hashlib
    import hmac

    key = b"0123456789abcdef"
    expected = "S-" + base64.b32encode(hmac.new(key, b"2023001", hashlib.sha256).digest())[:10].decode()
    assert pseudonymise(pd.Series(["2023001"]), key).iloc[0] == expected


def test_key_from_environment_hex_and_base64(monkeypatch):
    key = os.urandom(32)
    monkeypatch.setenv(ENV_VAR, key.hex())
    assert load_key() == key
    monkeypatch.setenv(ENV_VAR, base64.b64encode(key).decode())
    assert load_key() == key


@pytest.mark.parametrize(("value", "message"), [("abcd", "has 2 bytes"), ("not a key!", "neither hex nor base64")])
def test_bad_environment_keys(monkeypatch, value, message):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(ConfigError, match=message):
        load_key()


def test_key_file_created_on_first_use_with_a_warning(tmp_path, caplog):
    path = tmp_path / "home" / "riskmodel" / "pseudonym.key"
    with caplog.at_level(logging.WARNING):
        key = load_key(path)
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert str(path) in warning and "changes every student's pseudonym" in warning
    assert key.hex() not in warning and key.hex() not in caplog.text
    caplog.clear()
    assert load_key(path) == key  # stable, and no second warning
    assert not caplog.records


def test_key_file_inside_a_git_work_tree_is_refused(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    with pytest.raises(ConfigError, match="inside the git work tree"):
        load_key(tmp_path / "repo" / "keys" / "pseudonym.key")
    assert not (tmp_path / "repo" / "keys" / "pseudonym.key").exists()


def test_key_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "pseudonym.key"
    path.write_text("ab" * 32)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(path)


def test_key_id_does_not_reveal_the_key():
    key = os.urandom(32)
    assert len(key_id(key)) == 12 and key.hex()[:12] != key_id(key)


def test_key_file_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the key's folder should be")
    with pytest.raises(ConfigError, match="cannot create the pseudonym key file"):
        load_key(blocker / "riskmodel" / "pseudonym.key")
