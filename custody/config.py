"""Load and validate the one TOML configuration file, with ``CUSTODY_*`` overrides.

Environment variables override file values with ``__`` between levels:
``CUSTODY_DATABASE__URL``, ``CUSTODY_SECRETS__VAULT__TOKEN``. Relative paths
are resolved against the directory holding the config file.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    model_validator,
)

from custody.errors import ConfigError

ENV_PREFIX = "CUSTODY_"
CONFIG_ENV = "CUSTODY_CONFIG"
DEFAULT_CONFIG_NAME = "custody.toml"
# Variables that are read elsewhere and are not config overrides.
_NOT_OVERRIDES = {"CUSTODY_CONFIG", "CUSTODY_KEK"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=2, ge=1, le=64)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    base_url: str | None = None
    session_key_file: Path = Path("var/session.key")
    # Proxies whose X-Forwarded-For is believed (CIDRs); otherwise the peer address counts.
    trusted_proxies: list[IPvAnyNetwork] = []


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/custody.db"
    # SQLite only: "normal" survives any process dying, "full" a power cut too.
    synchronous: Literal["normal", "full"] = "normal"


class LocalSecretsSettings(_Section):
    path: Path = Path("var/secrets.db")
    kek_file: Path = Path("var/kek.key")
    kek_env: str = "CUSTODY_KEK"


class VaultSettings(_Section):
    url: str = "http://127.0.0.1:8200"
    mount: str = "secret"
    prefix: str = "custody"
    auth: Literal["token", "approle"] = "token"
    token: SecretStr | None = None
    role_id: str | None = None
    secret_id: SecretStr | None = None
    approle_mount: str = "approle"
    namespace: str | None = None
    verify: bool | str = True
    timeout: float = Field(default=10.0, gt=0)


class SecretsSettings(_Section):
    backend: Literal["local", "vault"] = "local"
    local: LocalSecretsSettings = LocalSecretsSettings()
    vault: VaultSettings = VaultSettings()


class MailSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "custody@localhost"
    timeout: float = Field(default=10.0, gt=0)
    ca_file: Path | None = None


class SecuritySettings(_Section):
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    login_rate_limit: str = "10 per minute"
    api_rate_limit: str = "600 per minute"
    # Failed logins before backoff starts (per address and username, and per account:
    # then the account counts as under attack), and how long failures are remembered.
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    # Every login to an account under attack waits this long, the right one too.
    attack_delay_seconds: float = Field(default=1.0, ge=0, le=10)
    session_hours: int = Field(default=8, ge=1)
    verification_link_hours: int = Field(default=72, ge=1)
    token_days: int = Field(default=90, ge=1, le=3650)
    # Roles whose users must enrol a second factor (TOTP) before they may do anything else.
    require_totp_roles: list[Literal["admin", "technician", "client"]] = []
    # Where security notices go (an account under attack); else to admins' verified e-mail.
    notify_email: str | None = None
    # /metrics answers loopback callers, and others that send this as a bearer token.
    metrics_token: SecretStr | None = None


class SsoSettings(_Section):
    """Staff single sign-on with an OpenID Connect provider (client users keep passwords)."""

    enabled: bool = False
    issuer: str | None = None  # discovery at <issuer>/.well-known/openid-configuration
    client_id: str | None = None
    client_secret: SecretStr | None = None  # set it with CUSTODY_SSO__CLIENT_SECRET
    scopes: str = "openid email profile"
    label: str = "your company account"
    groups_claim: str = "groups"
    # Provider group -> custody role; someone in no mapped group is refused.
    roles: dict[str, Literal["admin", "technician"]] = {}
    # Admins must show one of these amr values (or acr values); empty lists: not required.
    admin_amr: list[str] = []
    admin_acr: list[str] = []
    create_users: bool = True  # just-in-time staff users on first sign-in
    # Whether staff may still sign in with a custody password; break-glass admins always
    # may (and every such login is audited and announced).
    local_passwords: bool = True
    break_glass: list[str] = []

    @model_validator(mode="after")
    def _complete(self) -> SsoSettings:
        if self.enabled:
            missing = [n for n in ("issuer", "client_id", "client_secret")
                       if getattr(self, n) in (None, "")]
            if missing:
                raise ValueError(f"sso.enabled needs {', '.join('sso.' + m for m in missing)}")
            if not self.roles:
                raise ValueError("sso.enabled needs sso.roles (provider group -> role)")
        return self


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class BrokerSettings(_Section):
    connect_timeout: float = Field(default=10.0, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)
    default_ttl_seconds: int = Field(default=3600, ge=60)
    max_ttl_seconds: int = Field(default=14400, ge=60)
    max_sessions_per_device: int = Field(default=2, ge=1)
    socket: Path = Path("var/broker.sock")
    approval_email: str | None = None
    deny_commands: list[str] = []
    # How long a line held for approval (allow-list mode, "confirm") waits before it is refused.
    confirm_timeout_seconds: int = Field(default=300, ge=10, le=3600)


NODE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


class NodeSettings(_Section):
    """This node's own settings (give each node its own, e.g. CUSTODY_NODE__NAME).

    One node needs none of them. With several, each runs `custody serve` with a name,
    and an address where the other nodes reach its broker over mutual TLS."""

    name: str = Field(default="", max_length=63)  # empty: the host's name
    # host:port the node channel listens on; empty: no channel (one node only).
    listen: str = ""
    # host:port other nodes dial (default: listen).
    advertise: str = ""
    # This node's key and certificate from the cluster's node CA.
    dir: Path = Path("var/node")
    join_token: SecretStr | None = None
    heartbeat_seconds: float = Field(default=5.0, gt=0, le=300)
    # A node not heard from for this long is dead: its sessions end as failed.
    lease_seconds: float = Field(default=20.0, gt=0, le=3600)
    # Whether this node's broker also competes to run the scheduled jobs.
    scheduler: bool = True

    @model_validator(mode="after")
    def _lease_outlasts_heartbeats(self) -> NodeSettings:
        if self.lease_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("node.lease_seconds must be at least twice node.heartbeat_seconds")
        if self.name and not NODE_NAME.fullmatch(self.name):
            raise ValueError(f"node.name {self.name!r}: use lower-case letters, digits, '-' "
                             "and '.' (it is the name in the node's certificate)")
        for field in ("listen", "advertise"):
            value = getattr(self, field)
            if value:
                host, sep, port = value.rpartition(":")
                if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
                    raise ValueError(f"node.{field} must be host:port, not {value!r}")
        return self


class PurgeSettings(_Section):
    grace_days: int = Field(default=0, ge=0)
    notice_days: int = Field(default=7, ge=0)
    digest_email: str | None = None
    session_retention_days: int = Field(default=90, ge=1)
    sweep_minutes: int = Field(default=60, ge=1)


class CertSettings(_Section):
    backend: Literal["builtin", "vault"] = "builtin"
    vault_mount: str = "pki"
    key_type: Literal["ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"] = "ecdsa-p256"
    allowed_key_types: list[Literal["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072",
                                    "rsa-4096"]] = ["ecdsa-p256", "ecdsa-p384", "rsa-3072",
                                                    "rsa-4096"]
    leaf_days: int = Field(default=397, ge=1, le=825)
    root_days: int = Field(default=3650, ge=30)
    issuing_days: int = Field(default=1825, ge=30)
    crl_days: int = Field(default=7, ge=1)
    download_hours: int = Field(default=24, ge=1)
    notice_days: list[int] = [30, 14, 3]


class AlertSettings(_Section):
    retention_days: int = Field(default=30, ge=1)
    # Alerts that map to no client (or to several) wait this long for an admin.
    held_retention_days: int = Field(default=7, ge=1, le=90)
    key_retention_days: int = Field(default=62, ge=31)
    hourly_cap: int = Field(default=20, ge=1)
    max_attempts: int = Field(default=10, ge=1)
    extra_labels: dict[str, str] = {}
    deliver_seconds: int = Field(default=30, ge=1)
    # A group that changed state flap_changes times within flap_window_minutes is
    # flapping: its news is collapsed into one e-mail per flap_hold_minutes.
    flap_changes: int = Field(default=4, ge=2)
    flap_window_minutes: int = Field(default=60, ge=1)
    flap_hold_minutes: int = Field(default=15, ge=1)


class DemoSettings(_Section):
    # Set by `custody demo` only: where its mail catcher keeps what custody sends, which
    # the admin's /admin/demo/mail page shows.
    mail_folder: Path | None = None


class Settings(_Section):
    """Every setting of one custody installation, validated and frozen."""

    base_dir: Path = Path(".")
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    secrets: SecretsSettings = SecretsSettings()
    mail: MailSettings = MailSettings()
    security: SecuritySettings = SecuritySettings()
    logging: LoggingSettings = LoggingSettings()
    broker: BrokerSettings = BrokerSettings()
    node: NodeSettings = NodeSettings()
    purge: PurgeSettings = PurgeSettings()
    certs: CertSettings = CertSettings()
    alerts: AlertSettings = AlertSettings()
    sso: SsoSettings = SsoSettings()
    demo: DemoSettings = DemoSettings()

    @property
    def tls_enabled(self) -> bool:
        return self.server.tls_cert is not None and self.server.tls_key is not None

    @property
    def public_url(self) -> str:
        """Where links in e-mails point: ``server.base_url``, else the address served.

        Never the request's Host header, which whoever sends the request chooses.
        """
        if self.server.base_url:
            return self.server.base_url.rstrip("/")
        host = self.server.host
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls_enabled else 'http'}://{shown}:{self.server.port}"

    @property
    def node_name(self) -> str:
        """This node's name: ``node.name``, else the host's name."""
        return self.node.name or socket.gethostname().lower()[:63]

    def path(self, value: Path) -> Path:
        """Resolve a configured path against the configuration's directory."""
        return value if value.is_absolute() else (self.base_dir / value)

    @property
    def database_url(self) -> str:
        """The database URL, with a relative SQLite file made absolute."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(Path(url[len(prefix):])))
        return url


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """Pick the config file: ``--config``, else ``CUSTODY_CONFIG``, else ``./custody.toml``."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load_settings(
    path: Path | None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read ``path`` (may be None for pure defaults), apply env overrides, validate."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"config file {path} does not exist; run `custody init` to create one "
                "or pass --config FILE"
            ) from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        base_dir = path.resolve().parent
    if "base_dir" in raw:
        raise ConfigError("config key 'base_dir' is not allowed: it is the config file's folder")
    _apply_env_overrides(raw, environ)
    raw["base_dir"] = base_dir
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_OVERRIDES:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__")]
        if len(keys) < 2 or not all(keys):
            continue  # not a SECTION__KEY override, e.g. CUSTODY_TEST_... variables
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name}: {key} is not a section")
            node = child
        node[keys[-1]] = _env_value(name, value)


def _env_value(name: str, value: str) -> Any:
    """A list-valued setting comes as a JSON list (``'["rsa-3072", "ecdsa-p256"]'``), a
    table as a JSON object (``'{"custody-admins": "admin"}'``); anything else stays a
    string for the settings to read."""
    start = value.lstrip()[:1]
    if start not in ("[", "{"):
        return value
    kind, example = ("list", "'[\"a\", \"b\"]'") if start == "[" else \
        ("object", "'{\"key\": \"value\"}'")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"environment variable {name}: not a JSON {kind} ({exc.msg} at "
                          f"character {exc.pos}); write it like {example}") from None
    if not isinstance(parsed, list if start == "[" else dict):
        raise ConfigError(f"environment variable {name}: a JSON {kind} is expected")
    return parsed


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path else ""
    lines = [f"invalid configuration{where}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        env = ENV_PREFIX + "__".join(str(p).upper() for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (see config.example.toml; env form {env})")
        else:
            lines.append(f"  {key}: {err['msg']} (env form {env})")
    return "\n".join(lines)
