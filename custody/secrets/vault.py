"""SecretStore on HashiCorp Vault / OpenBao KV version 2, through hvac.

All Vault I/O of custody happens here. hvac and requests exceptions are
translated at this boundary into custody errors whose messages name the
problem but never a secret value or token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from custody.config import VaultSettings
from custody.errors import BackendUnavailable, ConfigError, SecretNotFound
from custody.secrets import check_data, split_path
from custody.sensitive import Secret

T = TypeVar("T")


class VaultSecretStore:
    """SecretStore on a KV v2 mount, every path below a configured prefix."""

    def __init__(self, settings: VaultSettings, session: requests.Session | None = None) -> None:
        self._settings = settings
        self._mount = settings.mount
        self._prefix = settings.prefix.strip("/")
        if settings.auth == "token" and settings.token is None:
            raise ConfigError("secrets.vault.token is required when secrets.vault.auth = 'token'")
        self._client = hvac.Client(
            url=settings.url,
            # Always a token of ours ("" for none): hvac would otherwise take VAULT_TOKEN or
            # ~/.vault-token, and an AppRole login would go out carrying someone's root token.
            token=settings.token.get_secret_value() if settings.token and settings.auth == "token"
            else "",
            namespace=settings.namespace,
            verify=settings.verify,
            timeout=settings.timeout,
            session=session,
        )
        if settings.auth == "approle":
            if not settings.role_id or settings.secret_id is None:
                raise ConfigError(
                    "secrets.vault.role_id and secrets.vault.secret_id are required "
                    "when secrets.vault.auth = 'approle'"
                )
            self._login_approle()

    def _login_approle(self) -> None:
        if not (self._settings.role_id and self._settings.secret_id):
            raise ConfigError("secrets.vault.role_id and secret_id are required for approle")
        role_id, secret_id = self._settings.role_id, self._settings.secret_id
        self._call(
            "log in with AppRole",
            lambda: self._client.auth.approle.login(
                role_id=role_id,
                secret_id=secret_id.get_secret_value(),
                mount_point=self._settings.approle_mount,
            ),
        )

    def _full(self, path: str) -> str:
        return f"{self._prefix}/{path}" if self._prefix else path

    def _call(self, what: str, fn: Callable[[], T], path: str | None = None) -> T:
        try:
            return self._translated(what, fn, path)
        except BackendUnavailable as exc:
            # An AppRole token that expired reads as 403: log in again, once, and retry.
            if self._settings.auth != "approle" or "403" not in str(exc) or what.startswith("log in"):
                raise
        self._login_approle()
        return self._translated(what, fn, path)

    def _translated(self, what: str, fn: Callable[[], T], path: str | None) -> T:
        where = f"Vault at {self._settings.url}"
        try:
            return fn()
        except hvac.exceptions.InvalidPath:
            raise SecretNotFound(f"no secret at {path}") from None
        except hvac.exceptions.Forbidden:
            raise BackendUnavailable(
                f"{where} refused to {what} (403 permission denied): check the token's policy "
                f"for {self._mount}/{self._prefix}"
            ) from None
        except hvac.exceptions.Unauthorized:
            raise BackendUnavailable(f"{where} refused to {what}: the credentials are invalid") from None
        except (hvac.exceptions.VaultDown, hvac.exceptions.VaultNotInitialized):
            raise BackendUnavailable(f"{where} is sealed or not initialized") from None
        except hvac.exceptions.VaultError as exc:
            status = getattr(exc, "status_code", None) or "error"
            raise BackendUnavailable(f"{where} failed to {what} (HTTP {status})") from None
        except requests.RequestException as exc:
            kind = type(exc).__name__
            raise BackendUnavailable(f"{where} is unreachable ({kind})") from None

    def request(self, what: str, method: str, path: str,
                body: dict[str, Any] | None = None) -> Any:
        """Any other Vault API call (``path`` below /v1/) on this authenticated connection,
        with the same error translation; the PKI backend uses it."""
        url = f"/v1/{path.lstrip('/')}"
        return self._call(what, lambda: self._client.adapter.request(method, url, json=body))

    def put(self, path: str, data: Mapping[str, str]) -> int:
        split_path(path)
        check_data(data)
        resp = self._call(
            "write a secret",
            lambda: self._client.secrets.kv.v2.create_or_update_secret(
                path=self._full(path), secret=dict(data), mount_point=self._mount
            ),
            path,
        )
        return int(resp["data"]["version"])

    def get(self, path: str, version: int | None = None) -> dict[str, Secret]:
        split_path(path)
        resp = self._call(
            "read a secret",
            lambda: self._client.secrets.kv.v2.read_secret_version(
                path=self._full(path), version=version, mount_point=self._mount,
                raise_on_deleted_version=True,
            ),
            path,
        )
        data = resp["data"]["data"] or {}
        return {k: Secret(str(v)) for k, v in data.items()}

    def list_paths(self, prefix: str) -> list[str]:
        found: list[str] = []
        self._walk(prefix.strip("/"), found)
        return sorted(found)

    def _walk(self, folder: str, found: list[str]) -> None:
        try:
            resp: dict[str, Any] = self._call(
                "list secrets",
                lambda: self._client.secrets.kv.v2.list_secrets(
                    path=self._full(folder), mount_point=self._mount
                ),
                folder,
            )
        except SecretNotFound:
            return
        for key in resp["data"]["keys"]:
            child = f"{folder}/{key.rstrip('/')}"
            if key.endswith("/"):
                self._walk(child, found)
            else:
                found.append(child)

    def versions(self, path: str) -> list[int]:
        split_path(path)
        try:
            resp = self._call(
                "read secret metadata",
                lambda: self._client.secrets.kv.v2.read_secret_metadata(
                    path=self._full(path), mount_point=self._mount
                ),
                path,
            )
        except SecretNotFound:
            return []
        return sorted(int(v) for v, meta in resp["data"]["versions"].items()
                      if not meta.get("destroyed") and not meta.get("deletion_time"))

    def destroy_versions(self, path: str, versions: list[int]) -> None:
        split_path(path)
        if versions:
            self._call(
                "destroy secret versions",
                lambda: self._client.secrets.kv.v2.destroy_secret_versions(
                    path=self._full(path), versions=versions, mount_point=self._mount
                ),
                path,
            )

    def destroy(self, path: str) -> list[int]:
        destroyed = self.versions(path)
        if destroyed:
            self._call(
                "destroy a secret",
                lambda: self._client.secrets.kv.v2.delete_metadata_and_all_versions(
                    path=self._full(path), mount_point=self._mount
                ),
                path,
            )
        return destroyed

    def shred_tenant(self, tenant: str) -> list[str]:
        split_path(f"{tenant}/x")
        paths = self.list_paths(tenant)
        for path in paths:
            self.destroy(path)
        return paths

    def check(self) -> None:
        self._call("look up its token", lambda: self._client.auth.token.lookup_self())
