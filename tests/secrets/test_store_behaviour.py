"""One behaviour suite for every SecretStore implementation: the embedded store, and the
Vault backend against a real OpenBao server (the open-source fork of Vault, same API)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from custody.config import VaultSettings
from custody.errors import InvalidInput, SecretNotFound
from custody.secrets import SecretStore
from custody.secrets.local import LocalSecretStore
from custody.secrets.vault import VaultSecretStore
from custody.sensitive import Secret
from tests.peers import OpenBao


@pytest.fixture(params=["local", "openbao"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecretStore]:
    if request.param == "local":
        yield LocalSecretStore(tmp_path / "secrets.db", os.urandom(32))
        return
    server: OpenBao = request.getfixturevalue("openbao")
    real = VaultSecretStore(VaultSettings.model_validate({
        "url": server.url, "token": server.token, "mount": "secret",
        "prefix": f"custody-test-{uuid.uuid4().hex[:8]}"}))
    yield real
    for tenant in ("client-1", "client-2", "provider"):
        real.shred_tenant(tenant)


def test_store_implements_the_protocol(store: SecretStore) -> None:
    assert isinstance(store, SecretStore)


def test_versions_and_reads(store: SecretStore) -> None:
    path = "client-1/devices/7"
    assert store.put(path, {"username": "admin", "password": "first-Pw1"}) == 1
    assert store.put(path, {"username": "admin", "password": "second-Pw2"}) == 2
    latest = store.get(path)
    assert latest["password"] == Secret("second-Pw2")
    assert repr(latest["password"]) == "Secret(****)" and str(latest["password"]) == "****"
    assert store.get(path, version=1)["password"].reveal() == "first-Pw1"
    assert store.versions(path) == [1, 2]


def test_list_is_recursive_and_tenant_scoped(store: SecretStore) -> None:
    store.put("client-1/devices/1", {"password": "a"})
    store.put("client-1/devices/2", {"password": "b"})
    store.put("client-1/users/3/totp", {"seed": "c"})
    store.put("client-2/devices/9", {"password": "d"})
    assert store.list_paths("client-1") == ["client-1/devices/1", "client-1/devices/2",
                                      "client-1/users/3/totp"]
    assert store.list_paths("client-1/devices") == ["client-1/devices/1", "client-1/devices/2"]
    assert store.list_paths("client-3") == []


def test_destroy_removes_every_version(store: SecretStore) -> None:
    path = "client-1/devices/4"
    store.put(path, {"password": "v1"})
    store.put(path, {"password": "v2"})
    assert store.destroy(path) == [1, 2]
    assert store.versions(path) == []
    with pytest.raises(SecretNotFound):
        store.get(path)
    with pytest.raises(SecretNotFound):
        store.get(path, version=1)
    assert store.destroy(path) == []  # idempotent
    assert store.put(path, {"password": "fresh"}) == 1  # metadata is gone too


def test_rotation_destroys_old_versions(store: SecretStore) -> None:
    path = "client-1/devices/5"
    for n in (1, 2, 3):
        store.put(path, {"password": f"gen-{n}"})
    store.destroy_versions(path, [1, 2])
    assert store.versions(path) == [3]
    assert store.get(path)["password"].reveal() == "gen-3"
    with pytest.raises(SecretNotFound):
        store.get(path, version=1)
    assert store.put(path, {"password": "gen-4"}) == 4


def test_shred_tenant_leaves_others(store: SecretStore) -> None:
    store.put("client-1/devices/1", {"password": "a"})
    store.put("client-1/users/2/totp", {"seed": "b"})
    store.put("client-2/devices/1", {"password": "c"})
    assert sorted(store.shred_tenant("client-1")) == ["client-1/devices/1",
                                                      "client-1/users/2/totp"]
    assert store.list_paths("client-1") == []
    assert store.get("client-2/devices/1")["password"].reveal() == "c"


def test_missing_secret(store: SecretStore) -> None:
    with pytest.raises(SecretNotFound, match="no secret at client-1/devices/404"):
        store.get("client-1/devices/404")
    assert store.versions("client-1/devices/404") == []


@pytest.mark.parametrize("path", ["devices/1", "client-x/devices/1", "client-1/../etc",
                                  "client-1//a", "client-1"])
def test_bad_paths_are_refused(store: SecretStore, path: str) -> None:
    with pytest.raises(InvalidInput, match="secret path"):
        store.put(path, {"password": "x"})


def test_empty_or_non_string_data_is_refused(store: SecretStore) -> None:
    with pytest.raises(InvalidInput, match="at least one field"):
        store.put("client-1/devices/1", {})
    with pytest.raises(InvalidInput, match="strings"):
        store.put("client-1/devices/1", {"port": 22})  # type: ignore[dict-item]
    assert store.versions("client-1/devices/1") == []


def test_check_passes_when_usable(store: SecretStore) -> None:
    store.check()
