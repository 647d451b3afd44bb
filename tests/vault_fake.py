"""A stand-in for Vault's KV v2 HTTP API on loopback, for tests only.

No Vault server can be installed here, so this replays the response shapes of
Vault's documented API (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2)
and records every request hvac sends, so tests can pin them. With
CUSTODY_TEST_VAULT_ADDR set, the same behaviour tests also run against a real Vault.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.vault_pki_fake import PkiEngine


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    token: str | None


@dataclass
class FakeVault:
    token: str = "s.test-root-token"
    role_id: str = "role-123"
    secret_id: str = "secret-456"
    mount: str = "secret"
    requests: list[Recorded] = field(default_factory=list)
    forbid: bool = False
    store: dict[str, dict[int, dict[str, str]]] = field(default_factory=dict)
    # Destroyed versions keep their number in Vault's metadata; new writes continue after them.
    destroyed: dict[str, set[int]] = field(default_factory=dict)
    pki: PkiEngine = field(default_factory=PkiEngine)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeVault:
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                vault._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        method = h.command
        if method == "GET" and parse_qs(parts.query).get("list") == ["true"]:
            method = "LIST"
        self.requests.append(Recorded(method, parts.path, parse_qs(parts.query), body,
                                      h.headers.get("X-Vault-Token")))
        status, payload = self._answer(method, parts.path, parse_qs(parts.query), body,
                                       h.headers.get("X-Vault-Token"))
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, method: str, path: str, query: dict[str, list[str]], body: Any,
                token: str | None) -> tuple[int, Any]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if method == "POST" and path == "/v1/auth/approle/login":
            if body == {"role_id": self.role_id, "secret_id": self.secret_id}:
                return 200, {"auth": {"client_token": self.token, "policies": ["custody"],
                                      "lease_duration": 3600, "renewable": True}}
            return 400, {"errors": ["invalid role or secret ID"]}
        if token != self.token:
            return 403, {"errors": ["permission denied"]}
        if self.forbid:
            return 403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
        if path == "/v1/auth/token/lookup-self":
            return 200, {"data": {"id": token, "policies": ["custody"]}}
        pki = self.pki.answer(method, path, body)
        if pki is not None:
            return pki
        data_prefix, meta_prefix = f"/v1/{self.mount}/data/", f"/v1/{self.mount}/metadata/"
        if path.startswith(data_prefix):
            key = path[len(data_prefix):]
            if method in ("POST", "PUT"):
                versions = self.store.setdefault(key, {})
                version = max([*versions, *self.destroyed.get(key, set())], default=0) + 1
                versions[version] = dict(body["data"])
                return 200, {"request_id": "r", "lease_id": "", "renewable": False,
                             "lease_duration": 0, "wrap_info": None, "warnings": None,
                             "auth": None, "data": {"created_time": now, "custom_metadata": None,
                                                    "deletion_time": "", "destroyed": False,
                                                    "version": version}}
            if method == "GET":
                versions = self.store.get(key)
                if not versions:
                    return 404, {"errors": []}
                version = int(query["version"][0]) if "version" in query else max(versions)
                if version not in versions:
                    return 404, {"errors": []}
                return 200, {"data": {"data": versions[version], "metadata": {
                    "created_time": now, "custom_metadata": None, "deletion_time": "",
                    "destroyed": False, "version": version}}}
        destroy_prefix = f"/v1/{self.mount}/destroy/"
        if path.startswith(destroy_prefix) and method in ("POST", "PUT"):
            for version in body["versions"]:
                self.store.get(path[len(destroy_prefix):], {}).pop(int(version), None)
                self.destroyed.setdefault(path[len(destroy_prefix):], set()).add(int(version))
            return 204, None
        if path.startswith(meta_prefix):
            key = path[len(meta_prefix):].rstrip("/")
            if method == "LIST":
                prefix = key + "/"
                children = sorted({k[len(prefix):].split("/")[0] + ("/" if "/" in k[len(prefix):] else "")
                                   for k in self.store if k.startswith(prefix)})
                if not children:
                    return 404, {"errors": []}
                return 200, {"data": {"keys": children}}
            if method == "GET":
                versions = self.store.get(key)
                gone = self.destroyed.get(key, set())
                if not versions and not gone:
                    return 404, {"errors": []}
                every = {v: False for v in versions or {}} | {v: True for v in gone}
                return 200, {"data": {"cas_required": False, "created_time": now,
                                      "current_version": max(every), "max_versions": 0,
                                      "oldest_version": 0, "updated_time": now,
                                      "versions": {str(v): {"created_time": now,
                                                            "deletion_time": "",
                                                            "destroyed": d}
                                                   for v, d in every.items()}}}
            if method == "DELETE":
                self.store.pop(key, None)
                self.destroyed.pop(key, None)
                return 204, None
        return 404, {"errors": []}
