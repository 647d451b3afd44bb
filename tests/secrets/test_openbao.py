"""The Vault backend against a real OpenBao: AppRole with exactly the README's policy,
no ambient credentials, token expiry, refusals and an outage custody recovers from."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from custody.config import VaultSettings
from custody.db import transaction
from custody.errors import BackendUnavailable, ConfigError, SecretNotFound
from custody.secrets.vault import VaultSecretStore
from tests.peers import OpenBao, SmtpSink, free_port

README = Path(__file__).parents[2] / "README.md"


def readme_policy(name: str) -> str:
    """The HCL block of README.md that starts with ``# name``."""
    text = README.read_text()
    block = re.search(r"```hcl\n\s*# " + re.escape(name) + r"\n(.*?)```", text, re.S)
    assert block, f"README.md has no ```hcl block starting with # {name}"
    return "\n".join(line.strip() for line in block.group(1).splitlines())


def approle_store(server: OpenBao, name: str, policy: str, **role: str) -> VaultSecretStore:
    role_id, secret_id = server.approle(name, policy, **role)
    return VaultSecretStore(VaultSettings.model_validate({
        "url": server.url, "auth": "approle", "role_id": role_id, "secret_id": secret_id,
        "mount": "secret", "prefix": "custody"}))


def test_the_readme_policy_is_all_the_store_needs(openbao: OpenBao) -> None:
    store = approle_store(openbao, "custody-kv", readme_policy("custody-kv"))
    tenant = f"client-{uuid.uuid4().int % 10**6}"
    path = f"{tenant}/devices/1"
    assert store.put(path, {"username": "ops", "password": "First-Pw-1"}) == 1
    assert store.put(path, {"username": "ops", "password": "Second-Pw-2"}) == 2
    assert store.get(path)["password"].reveal() == "Second-Pw-2"
    assert store.list_paths(tenant) == [path]
    store.destroy_versions(path, [1])  # a rotation destroys the old credential
    assert store.versions(path) == [2]
    store.check()
    assert store.shred_tenant(tenant) == [path]
    with pytest.raises(SecretNotFound):
        store.get(path)
    # ...and nothing beyond it: the policy does not reach outside the prefix.
    with pytest.raises(BackendUnavailable, match="403 permission denied"):
        store.request("read another mount's secret", "GET", "secret/data/other/thing")


def test_no_ambient_credentials(openbao: OpenBao, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    """The root token lies in ~/.vault-token and VAULT_TOKEN, as `bao server -dev` and a
    shell leave them: custody's AppRole login must not carry it, and its work must be
    done with the AppRole's own narrow token."""
    (tmp_path / ".vault-token").write_text(openbao.token)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    role_id, _ = openbao.approle("custody-kv", readme_policy("custody-kv"))
    with pytest.raises(BackendUnavailable, match="log in with AppRole"):
        VaultSecretStore(VaultSettings.model_validate({
            "url": openbao.url, "auth": "approle", "role_id": role_id,
            "secret_id": "not-the-secret-id"}))
    store = approle_store(openbao, "custody-kv", readme_policy("custody-kv"))
    me = store.request("look up its token", "GET", "auth/token/lookup-self")
    assert me["data"]["policies"] == ["custody-kv", "default"]


def test_an_expired_approle_token_is_replaced_by_a_new_login(openbao: OpenBao) -> None:
    store = approle_store(openbao, "custody-short", readme_policy("custody-kv"),
                          token_ttl="2s", token_max_ttl="2s")
    tenant = f"client-{uuid.uuid4().int % 10**6}"
    store.put(f"{tenant}/devices/1", {"password": "Pw-1"})
    time.sleep(3)  # the server's own clock expires the token: nothing to fake here
    assert store.get(f"{tenant}/devices/1")["password"].reveal() == "Pw-1"
    store.shred_tenant(tenant)


def test_a_refusal_names_the_policy_never_the_token(openbao: OpenBao) -> None:
    read_only = 'path "secret/data/custody/*" { capabilities = ["read"] }\n'
    store = approle_store(openbao, "custody-read-only", read_only)
    with pytest.raises(BackendUnavailable) as info:
        store.put("client-1/devices/1", {"password": "Secret-Value-1"})
    message = str(info.value)
    assert "403 permission denied" in message and "secret/custody" in message
    assert "Secret-Value-1" not in message and openbao.token not in message


def test_nothing_listening_is_a_clear_error() -> None:
    port = free_port()
    store = VaultSecretStore(VaultSettings.model_validate(
        {"url": f"http://127.0.0.1:{port}", "token": "t", "timeout": 2}))
    with pytest.raises(BackendUnavailable, match=rf"Vault at http://127.0.0.1:{port} is unreachable"):
        store.get("client-1/devices/1")


def test_token_auth_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="secrets.vault.token is required"):
        VaultSecretStore(VaultSettings())


def test_the_service_answers_503_while_openbao_is_down_and_loses_nothing(
        tmp_path: Path, sqlite_url: str, smtp: SmtpSink) -> None:
    """A server with its data on disk, stopped and started again under a running custody:
    enrolling a device meanwhile answers a clear 503 and leaves no device (nor any
    secret) behind; once it is back, the same request works, with no restart of custody."""
    from custody.accounts.passwords import Passwords
    from custody.devices.models import Device
    from custody.services import build_services
    from custody.web import create_app
    from tests.conftest import auth, write_settings

    server = OpenBao(storage=tmp_path / "bao-data")
    services = None
    try:
        settings = write_settings(tmp_path, sqlite_url, smtp.port, secrets={
            "backend": "vault", "vault": {"url": server.url, "token": server.token,
                                          "timeout": 3}})
        services = build_services(settings, passwords=Passwords.cheap())
        client = create_app(services=services).test_client()
        with transaction(services.db) as db:
            services.accounts.create_user(db, "test", "root", "admin", password="Root-Pass-12345")
            token = services.tokens.create(db, "test", "root")
        h = auth(token)
        client.post("/api/v1/egress-profiles", headers=h,
                    json={"name": "node-a", "source_ip": "127.0.0.2"})
        client_id = client.post("/api/v1/clients", headers=h, json={"name": "Acme"}).json["id"]
        device = {"client_id": client_id, "name": "edge-1", "host": "10.0.0.1", "port": 22,
                  "device_type": "cisco_ios", "egress_ip": "127.0.0.2",
                  "credentials": {"username": "ops", "password": "Device-Pw-123"}}
        server.stop()
        down = client.post("/api/v1/devices", headers=h, json=device)
        assert down.status_code == 503 and "is unreachable" in down.json["error"]["message"]
        with pytest.raises(BackendUnavailable, match="is unreachable"):
            services.secrets.check()
        assert server.token not in down.get_data(as_text=True)
        assert client.get("/healthz").status_code == 503
        with services.db() as db:
            assert db.scalars(select(Device)).all() == []
        server.start()
        assert client.get("/healthz").status_code == 200
        up = client.post("/api/v1/devices", headers=h, json=device)
        assert up.status_code == 201, up.json
        assert services.secrets.list_paths(f"client-{client_id}") == [
            f"client-{client_id}/devices/{up.json['id']}"]
    finally:
        if services is not None:
            services.engine.dispose()
        server.stop()


@pytest.mark.parametrize("name", ["custody-kv", "custody-pki"])
def test_the_policy_files_are_the_readmes(name: str) -> None:
    """scripts/cluster applies deploy/openbao/*.hcl; users copy the README's: the same."""
    kept = (Path(__file__).parents[2] / "deploy" / "openbao" / f"{name}.hcl").read_text()
    rules = [line for line in kept.splitlines() if line and not line.startswith("#")]
    assert rules == [line.strip() for line in readme_policy(name).splitlines() if line.strip()]
