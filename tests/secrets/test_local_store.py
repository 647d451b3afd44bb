"""The embedded store's own promises: encryption at rest, key file rules, crypto-shredding."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from custody.errors import BackendUnavailable, ConfigError, SecretNotFound
from custody.secrets.local import LocalSecretStore, generate_kek_file, load_kek


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


def test_nothing_is_stored_in_clear(tmp_path: Path) -> None:
    store = LocalSecretStore(tmp_path / "s.db", os.urandom(32))
    store.put("client-1/devices/1", {"password": "ZZ-clear-text-canary"})
    assert b"ZZ-clear-text-canary" not in _all_bytes(tmp_path)
    assert oct((tmp_path / "s.db").stat().st_mode & 0o777) == "0o600"


def test_shredding_a_tenant_makes_an_old_backup_unreadable(tmp_path: Path) -> None:
    kek = os.urandom(32)
    live, backup = tmp_path / "live", tmp_path / "backup"
    live.mkdir()
    store = LocalSecretStore(live / "s.db", kek)
    store.put("client-1/devices/1", {"password": "backup-canary"})
    store.put("client-2/devices/1", {"password": "other-tenant"})
    store.check()
    shutil.copytree(live, backup)  # an operator's file backup taken before the purge
    store.shred_tenant("client-1")
    # Restore only the secret rows from the backup into the live store: without the
    # shredded data key they cannot be decrypted.
    import sqlite3

    src = sqlite3.connect(backup / "s.db")
    rows = src.execute("SELECT * FROM secrets WHERE tenant='client-1'").fetchall()
    src.close()
    assert rows, "the backup holds the ciphertext"
    dst = sqlite3.connect(live / "s.db")
    dst.executemany("INSERT INTO secrets VALUES (?, ?, ?, ?, ?, ?)", rows)
    dst.commit()
    dst.close()
    with pytest.raises(SecretNotFound):
        store.get("client-1/devices/1")
    assert store.get("client-2/devices/1")["password"].reveal() == "other-tenant"


def test_a_wrong_kek_is_reported_not_crashed(tmp_path: Path) -> None:
    LocalSecretStore(tmp_path / "s.db", os.urandom(32)).put("client-1/d/1", {"p": "x"})
    with pytest.raises(BackendUnavailable, match="wrong key"):
        LocalSecretStore(tmp_path / "s.db", os.urandom(32)).get("client-1/d/1")


def test_kek_file_rules(tmp_path: Path) -> None:
    key_file = tmp_path / "kek.key"
    with pytest.raises(ConfigError, match=r"kek.key does not exist; run `custody init`"):
        load_kek(key_file, "CUSTODY_KEK", environ={})
    generate_kek_file(key_file)
    assert len(load_kek(key_file, "CUSTODY_KEK", environ={})) == 32
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="has mode 0644; it must be readable by its owner only"):
        load_kek(key_file, "CUSTODY_KEK", environ={})
    key_file.chmod(0o600)
    key_file.write_text("c2hvcnQ=\n")
    with pytest.raises(ConfigError, match="must hold 32 random bytes"):
        load_kek(key_file, "CUSTODY_KEK", environ={})
    key_file.write_text("%%% not base64 %%%")
    with pytest.raises(ConfigError, match="is not base64"):
        load_kek(key_file, "CUSTODY_KEK", environ={})


def test_kek_from_environment_wins(tmp_path: Path) -> None:
    key = os.urandom(32)
    env = {"MY_KEK": base64.b64encode(key).decode()}
    assert load_kek(tmp_path / "absent.key", "MY_KEK", environ=env) == key


def test_unreadable_kek_file(tmp_path: Path) -> None:
    key_file = tmp_path / "kek.key"
    key_file.mkdir(mode=0o700)  # unreadable as a file even for root
    with pytest.raises(ConfigError, match="kek.key cannot be read"):
        load_kek(key_file, "CUSTODY_KEK", environ={})
