"""Request bodies of the JSON API: strict types, unknown fields refused, errors naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError

from custody.clock import parse_when
from custody.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def _when(value: Any) -> Any:
    """Accept an ISO date (midnight UTC) or an ISO datetime (naive means UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date or date-time string")
    return parse_when(value)


When = Annotated[datetime | None, BeforeValidator(_when)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TotpConfirmIn(Body):
    code: str = Field(pattern=r"^[0-9]{6}$")


class ClientIn(Body):
    name: str = Field(min_length=1, max_length=200)


class ContactIn(Body):
    kind: str
    value: str = Field(min_length=1, max_length=320)
    purposes: list[str] = Field(min_length=1, max_length=3)


class EngagementIn(Body):
    title: str = Field(min_length=1, max_length=200)
    paid_at: When = None
    warranty_until: When = None


class EngagementPatch(Body):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    paid_at: When = None
    warranty_until: When = None
    closed_at: When = None


class CredentialsIn(Body):
    username: str = Field(min_length=1, max_length=200)
    password: SecretStr | None = None
    secret: SecretStr | None = None
    private_key: SecretStr | None = None


class DeviceIn(Body):
    client_id: int
    name: str = Field(min_length=1, max_length=200)
    host: str = Field(min_length=1, max_length=255)
    port: int = 22
    device_type: str
    egress_ip: str | None = None
    engagement_ids: list[int] = Field(default_factory=list)
    credentials: CredentialsIn


def parse_body(model: type[M]) -> M:
    """Validate the JSON body against ``model`` or raise InvalidInput naming each bad field."""
    raw = request.get_data(cache=True)
    if not request.is_json:
        raise InvalidInput("send a JSON body with Content-Type: application/json")
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        raise InvalidInput(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "body"
        if err["type"] == "extra_forbidden":
            problems.append(f"{field}: unknown field")
        elif err["type"] == "json_invalid":
            problems.append("body: not valid JSON")
        elif err["type"] == "model_type":
            problems.append("body: must be a JSON object")
        elif err["type"] == "missing":
            problems.append(f"{field}: required")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {msg}")
    return "; ".join(problems)


class EgressIn(Body):
    name: str = Field(min_length=1, max_length=100)
    source_ip: str = Field(min_length=1, max_length=64)


class PolicyIn(Body):
    require_approval: bool = False
    approver_role: str = "admin"
    deny_commands: list[str] = Field(default_factory=list, max_length=200)
    cert_names: list[str] | None = Field(default=None, max_length=200)
    prefix_preserving_ips: bool | None = None
    alert_names: list[str] | None = Field(default=None, max_length=500)
    privileged_role: str = "technician"
    allow_commands: list[str] | None = Field(default=None, max_length=200)
    unlisted_action: str = "refuse"
    rotate_after_privileged: bool = False
    rotate_every_days: int | None = None


class HostKeyIn(Body):
    fingerprint: str | None = Field(default=None, max_length=100)
    public_key: str | None = Field(default=None, max_length=16384)


class SessionIn(Body):
    reason: str = Field(min_length=1, max_length=200)
    ttl_seconds: int | None = None
    privileged: bool = False


class CommandIn(Body):
    command: str | None = Field(default=None, max_length=8192)
    config: list[str] | None = Field(default=None, max_length=500)
    approval_id: int | None = None


class PurgeRunIn(Body):
    dry_run: bool = False


class HoldIn(Body):
    target_kind: str
    target_id: int
    reason: str = Field(min_length=1, max_length=500)
    until: When


class ContactPatch(Body):
    value: str | None = Field(default=None, min_length=1, max_length=320)
    purposes: list[str] | None = Field(default=None, max_length=3)


class RestrictionIn(Body):
    restricted: bool


class GenerateIn(Body):
    common_name: str = Field(min_length=1, max_length=200)
    sans: list[str] = Field(default_factory=list, max_length=50)


class CertificateIn(Body):
    csr: str | None = Field(default=None, max_length=65536)
    generate: GenerateIn | None = None
    contact_id: int | None = None


class RenewIn(Body):
    csr: str = Field(min_length=1, max_length=65536)


class RevokeIn(Body):
    reason: str


class ImportIn(Body):
    pem: str | None = Field(default=None, max_length=262144)
    der_base64: str | None = Field(default=None, max_length=262144)


class AlertSourceIn(Body):
    name: str = Field(min_length=1, max_length=100)
    kind: str
    client_id: int | None = None


class SourceAssignIn(Body):
    client_id: int | None


class ReidentifyIn(Body):
    client_id: int
    token: str = Field(min_length=3, max_length=64)
