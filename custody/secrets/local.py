"""The embedded secret store: AES-256-GCM envelope encryption in a SQLite file.

A key-encryption key (KEK) from a 0600 file or an environment variable wraps
one random data key per tenant. Destroying a tenant's data key makes every copy
of its secrets unreadable, backups of this file included.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custody.db import use_wal
from custody.errors import BackendUnavailable, ConfigError, SecretNotFound
from custody.secrets import check_data, split_path
from custody.sensitive import Secret

KEK_BYTES = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    tenant TEXT PRIMARY KEY, nonce BLOB NOT NULL, wrapped BLOB NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (
    path TEXT NOT NULL, version INTEGER NOT NULL, tenant TEXT NOT NULL,
    nonce BLOB NOT NULL, ciphertext BLOB NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (path, version));
CREATE INDEX IF NOT EXISTS secrets_tenant ON secrets (tenant);
"""


def generate_kek_file(path: Path) -> None:
    """Write a new random KEK, base64 encoded, readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(os.urandom(KEK_BYTES)).decode() + "\n")


def load_kek(key_file: Path, env_name: str, environ: Mapping[str, str] | None = None) -> bytes:
    """Read the KEK from ``env_name`` if set, else from ``key_file`` (which must be 0600)."""
    environ = os.environ if environ is None else environ
    if environ.get(env_name):
        return _decode_kek(environ[env_name], f"environment variable {env_name}")
    try:
        mode = key_file.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"key-encryption key file {key_file} does not exist; run `custody init` "
            f"or set {env_name}"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"key-encryption key file {key_file} has mode {stat.S_IMODE(mode):04o}; "
            "it must be readable by its owner only (chmod 600)"
        )
    try:
        text = key_file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"key-encryption key file {key_file} cannot be read") from None
    return _decode_kek(text, f"key-encryption key file {key_file}")


def _decode_kek(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ConfigError(f"{where} is not base64") from None
    if len(key) != KEK_BYTES:
        raise ConfigError(f"{where} must hold {KEK_BYTES} random bytes, base64 encoded")
    return key


class LocalSecretStore:
    """SecretStore on a local SQLite file with per-tenant envelope encryption."""

    def __init__(self, path: Path, kek: bytes) -> None:
        self._path = path
        self._kek = AESGCM(kek)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            use_wal(db.cursor())  # once: the mode stays with the file
            db.executescript(_SCHEMA)
        os.chmod(path, 0o600)
        # Held open, unused, for as long as the store lives: SQLite removes the WAL files
        # when the last connection closes, and a full disk would then refuse every new
        # connection (which must create them again), reads included.
        self._keeper = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._keeper.execute("SELECT 1 FROM data_keys LIMIT 1").fetchall()  # opens the WAL

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"secret store {self._path} cannot be opened: {exc}") from None
        try:
            conn.execute("PRAGMA secure_delete=ON")
            yield conn
        finally:
            conn.close()

    def _data_key(self, db: sqlite3.Connection, tenant: str, create: bool) -> AESGCM | None:
        row = db.execute("SELECT nonce, wrapped FROM data_keys WHERE tenant=?", (tenant,)).fetchone()
        if row is None:
            if not create:
                return None
            raw = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(12)
            wrapped = self._kek.encrypt(nonce, raw, tenant.encode())
            db.execute(
                "INSERT INTO data_keys VALUES (?, ?, ?, ?)", (tenant, nonce, wrapped, _now())
            )
            return AESGCM(raw)
        try:
            return AESGCM(self._kek.decrypt(row[0], row[1], tenant.encode()))
        except InvalidTag:
            raise BackendUnavailable(
                "the key-encryption key does not open this secret store (wrong key?)"
            ) from None

    def put(self, path: str, data: Mapping[str, str]) -> int:
        tenant, _ = split_path(path)
        check_data(data)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                key = self._data_key(db, tenant, create=True)
                if key is None:  # create=True makes one; None means the row vanished under us
                    raise BackendUnavailable(f"no data key for {tenant} could be made")
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM secrets WHERE path=?", (path,)
                ).fetchone()
                version = int(last) + 1
                nonce = os.urandom(12)
                blob = key.encrypt(nonce, json.dumps(dict(data)).encode(), _aad(path, version))
                db.execute(
                    "INSERT INTO secrets VALUES (?, ?, ?, ?, ?, ?)",
                    (path, version, tenant, nonce, blob, _now()),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return version

    def get(self, path: str, version: int | None = None) -> dict[str, Secret]:
        tenant, _ = split_path(path)
        with self._connect() as db:
            if version is None:
                row = db.execute(
                    "SELECT version, nonce, ciphertext FROM secrets WHERE path=? "
                    "ORDER BY version DESC LIMIT 1", (path,)
                ).fetchone()
            else:
                row = db.execute(
                    "SELECT version, nonce, ciphertext FROM secrets WHERE path=? AND version=?",
                    (path, version),
                ).fetchone()
            key = self._data_key(db, tenant, create=False)
        if row is None or key is None:
            raise SecretNotFound(f"no secret at {path}")
        try:
            clear = key.decrypt(row[1], row[2], _aad(path, int(row[0])))
        except InvalidTag:
            raise BackendUnavailable(f"secret at {path} failed its integrity check") from None
        return {k: Secret(v) for k, v in json.loads(clear).items()}

    def list_paths(self, prefix: str) -> list[str]:
        prefix = prefix.rstrip("/") + "/"
        with self._connect() as db:
            rows = db.execute(
                "SELECT DISTINCT path FROM secrets WHERE substr(path, 1, ?) = ? ORDER BY path",
                (len(prefix), prefix),
            ).fetchall()
        return [r[0] for r in rows]

    def versions(self, path: str) -> list[int]:
        split_path(path)
        with self._connect() as db:
            rows = db.execute(
                "SELECT version FROM secrets WHERE path=? ORDER BY version", (path,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def destroy_versions(self, path: str, versions: list[int]) -> None:
        split_path(path)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("DELETE FROM secrets WHERE path=? AND version=?",
                           [(path, v) for v in versions])
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def destroy(self, path: str) -> list[int]:
        split_path(path)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute("SELECT version FROM secrets WHERE path=?", (path,)).fetchall()
            db.execute("DELETE FROM secrets WHERE path=?", (path,))
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sorted(int(r[0]) for r in rows)

    def shred_tenant(self, tenant: str) -> list[str]:
        split_path(f"{tenant}/x")
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(
                "SELECT DISTINCT path FROM secrets WHERE tenant=? ORDER BY path", (tenant,)
            ).fetchall()
            db.execute("DELETE FROM secrets WHERE tenant=?", (tenant,))
            db.execute("DELETE FROM data_keys WHERE tenant=?", (tenant,))
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return [r[0] for r in rows]

    def check(self) -> None:
        with self._connect() as db:
            db.execute("SELECT 1 FROM data_keys LIMIT 1").fetchall()


def _aad(path: str, version: int) -> bytes:
    return f"{path}\x00{version}".encode()


def _now() -> str:
    return datetime.now(UTC).isoformat()
