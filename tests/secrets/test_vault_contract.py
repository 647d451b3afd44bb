"""Contract tests for the Vault backend: the exact HTTP requests hvac sends.

Vault itself cannot be installed here, so tests/vault_fake.py (a loopback HTTP
server replaying Vault's documented KV v2 responses) records each request; the
assertions pin method, path and body to what Vault's API documentation specifies.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from custody.config import VaultSettings
from custody.errors import BackendUnavailable, ConfigError
from custody.secrets.vault import VaultSecretStore
from tests.peers import free_port
from tests.vault_fake import FakeVault


@pytest.fixture
def fake() -> Iterator[FakeVault]:
    vault = FakeVault().start()
    yield vault
    vault.stop()


def make(fake: FakeVault, **extra: object) -> VaultSecretStore:
    return VaultSecretStore(VaultSettings.model_validate(
        {"url": fake.url, "token": fake.token, "mount": "secret", "prefix": "custody"} | extra))


def calls(fake: FakeVault) -> list[tuple[str, str, object]]:
    return [(r.method, r.path, r.body) for r in fake.requests]


def test_write_read_list_destroy_requests(fake: FakeVault) -> None:
    store = make(fake)
    store.put("client-3/devices/12", {"username": "ops", "password": "Pw-abc-123"})
    store.get("client-3/devices/12")
    store.get("client-3/devices/12", version=1)
    store.list_paths("client-3")
    store.destroy("client-3/devices/12")
    assert calls(fake) == [
        ("POST", "/v1/secret/data/custody/client-3/devices/12",
         {"options": {}, "data": {"username": "ops", "password": "Pw-abc-123"}}),
        ("GET", "/v1/secret/data/custody/client-3/devices/12", None),
        ("GET", "/v1/secret/data/custody/client-3/devices/12", None),
        ("LIST", "/v1/secret/metadata/custody/client-3", None),
        ("LIST", "/v1/secret/metadata/custody/client-3/devices", None),
        ("GET", "/v1/secret/metadata/custody/client-3/devices/12", None),
        # KV v2 "Delete Metadata and All Versions": a hard delete, not a soft delete.
        ("DELETE", "/v1/secret/metadata/custody/client-3/devices/12", None),
    ]
    assert fake.requests[2].query == {"version": ["1"]}
    assert all(r.token == fake.token for r in fake.requests)


def test_rotation_request(fake: FakeVault) -> None:
    store = make(fake)
    store.put("client-3/devices/12", {"password": "old"})
    store.put("client-3/devices/12", {"password": "new"})
    fake.requests.clear()
    store.destroy_versions("client-3/devices/12", [1])
    assert calls(fake) == [("POST", "/v1/secret/destroy/custody/client-3/devices/12",
                            {"versions": [1]})]


def test_approle_login_then_token_use(fake: FakeVault) -> None:
    store = VaultSecretStore(VaultSettings.model_validate({
        "url": fake.url, "auth": "approle", "role_id": fake.role_id,
        "secret_id": fake.secret_id}))
    store.put("provider/ca/root", {"key": "k"})
    login, write = fake.requests
    assert (login.method, login.path, login.body) == (
        "POST", "/v1/auth/approle/login", {"role_id": fake.role_id, "secret_id": fake.secret_id})
    assert login.token is None
    assert write.path == "/v1/secret/data/custody/provider/ca/root" and write.token == fake.token


def test_bad_approle_stops_start_up(fake: FakeVault) -> None:
    with pytest.raises(BackendUnavailable, match="failed to log in with AppRole"):
        VaultSecretStore(VaultSettings.model_validate({
            "url": fake.url, "auth": "approle", "role_id": "x", "secret_id": "wrong"}))


def test_forbidden_is_a_clear_error_without_the_token(fake: FakeVault) -> None:
    store = make(fake)
    fake.forbid = True
    with pytest.raises(BackendUnavailable) as info:
        store.put("client-1/devices/1", {"password": "Secret-Value-1"})
    message = str(info.value)
    assert "403 permission denied" in message and "secret/custody" in message
    assert fake.token not in message and "Secret-Value-1" not in message
    with pytest.raises(BackendUnavailable, match="403"):
        store.check()


def test_vault_down_is_a_clear_error() -> None:
    port = free_port()
    store = VaultSecretStore(VaultSettings.model_validate(
        {"url": f"http://127.0.0.1:{port}", "token": "t", "timeout": 2}))
    with pytest.raises(BackendUnavailable, match=rf"Vault at http://127.0.0.1:{port} is unreachable"):
        store.get("client-1/devices/1")


def test_token_auth_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="secrets.vault.token is required"):
        VaultSecretStore(VaultSettings())
