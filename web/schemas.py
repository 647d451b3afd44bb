"""The JSON API's resources: one pydantic model per request body and per response.

Request bodies are strict (unknown fields refused, errors naming the field); responses are
built through their models, and the OpenAPI document is generated from both, so what the
API says it takes and returns is what it does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from flask import Response, jsonify, request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    WithJsonSchema,
)

from custody.accounts.roles import STAFF
from custody.alerts.kinds import SourceKind
from custody.certs.x509ops import REASONS
from custody.clients.service import CONTACT_KINDS
from custody.clock import parse_when
from custody.db import ID_MAX
from custody.devices.approvals import ApprovalState
from custody.devices.models import SessionState
from custody.errors import FieldError, InvalidInput
from custody.purge.models import HoldTarget
from custody.purge.plan import PlanState, PurgeKind

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _when(value: Any) -> Any:
    """Accept an ISO date (midnight UTC) or an ISO datetime (naive means UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date or date-time string")
    return parse_when(value)


When = Annotated[datetime | None, BeforeValidator(_when),
                 WithJsonSchema({"anyOf": [{"type": "string", "format": "date"},
                                           {"type": "string", "format": "date-time"},
                                           {"type": "null"}],
                                 "description": "ISO 8601 date or date-time (UTC if no zone)"})]


def _whole(value: Any) -> Any:
    """JSON Schema counts 10.0 as an integer; so do we, but not 10.5 or "10"."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Whole = Annotated[int, BeforeValidator(_whole)]
# An id in a body: beyond the id columns' range it names nothing, and is refused as such.
Id = Annotated[int, BeforeValidator(_whole), Field(ge=1, le=ID_MAX)]
# Responses write times as Python's isoformat ("2026-11-01T11:00:00+00:00"), as they always have.
Timestamp = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str),
                      WithJsonSchema({"type": "string", "format": "date-time"})]


def one_of(*values: str, **field: Any) -> Any:
    """A string field whose allowed values the document lists; the service enforces them
    (with the message the CLI gives too). With ``default=None`` it may also be null."""
    allowed: list[str | None] = list(values)
    if "default" in field and field["default"] is None:
        allowed.append(None)
    return Field(json_schema_extra={"enum": allowed}, **field)


class Body(BaseModel):
    """A request body: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Out(BaseModel):
    """A response body; fields a caller may not see are left unset and so left out."""

    def reply(self, status: int = 200) -> tuple[Response, int]:
        return jsonify(self.model_dump(mode="json", exclude_unset=True)), status


class Items(Out, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="where the next page starts (pass it as `cursor`); "
                                  "null: the last page, or a list that is not paged")


def items(rows: list[Any], next_cursor: str | None = None) -> Items[Any]:
    return Items[Any](items=rows, next_cursor=next_cursor)


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldProblem] | None = None


class FieldProblem(BaseModel):
    field: str = Field(description="the input's name, dotted when nested (credentials.username)")
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


# -- accounts
class MeOut(Out):
    id: int
    username: str
    role: str
    client_id: int | None


class TotpStartOut(Out):
    provisioning_uri: str
    enabled: bool


class TotpConfirmIn(Body):
    code: str = Field(pattern=r"^[0-9]{6}$")
    password: str = Field(max_length=1024, description="your current password")


class TotpConfirmOut(Out):
    enabled: bool
    recovery_codes: list[str] = Field(description="each works once instead of a code; "
                                                  "shown only in this response")


# -- people: users and tokens
class UserOut(Out):
    id: int
    username: str
    role: str
    client_id: int | None
    can_read_transcripts: bool
    totp_enabled: bool
    state: str = one_of("active", "disabled", "deleted")
    created_at: Timestamp
    disabled_at: Timestamp | None


class UserPatch(Body):
    role: str | None = one_of(*STAFF, default=None)
    can_read_transcripts: bool | None = None


class OffboardOut(Out):
    user: UserOut
    ended: dict[str, int] = Field(description="what was ended: tokens, web sessions, device "
                                              "sessions, approvals")


class PasswordResetOut(Out):
    user: UserOut
    password: str = Field(description="one-time password, shown once; every web session of "
                                      "the user has ended")


class EmailIn(Body):
    email: str | None = Field(max_length=254, description="null or empty: remove it")


class EmailOut(Out):
    email: str | None
    verification_sent: bool


class LoggedOutOut(Out):
    web_sessions_ended: int


class TokenIn(Body):
    name: str = Field(default="", max_length=100)
    days: Whole | None = Field(default=None, ge=1, le=3650,
                               description="lifetime; security.token_days when left out")


class TokenOut(Out):
    id: int
    user_id: int
    name: str
    created_at: Timestamp
    expires_at: Timestamp | None
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="the secret, shown once; only its hash is kept")


# -- clients, contacts, engagements
class ClientIn(Body):
    name: str = Field(min_length=1, max_length=200)


class ClientOut(Out):
    id: int
    name: str
    status: str = one_of("active", "closed")
    created_at: Timestamp
    closed_at: Timestamp | None
    processing_restricted: bool
    erasure_requested_at: Timestamp | None
    erasure_confirmed_at: Timestamp | None = None


class ContactIn(Body):
    kind: str = one_of(*CONTACT_KINDS)
    value: str = Field(min_length=1, max_length=320)
    purposes: list[str] = Field(min_length=1, max_length=3)


class ContactPatch(Body):
    value: str | None = Field(default=None, min_length=1, max_length=320)
    purposes: list[str] | None = Field(default=None, max_length=3)


class ContactOut(Out):
    id: int
    client_id: int
    kind: str
    value: str
    purposes: list[str]
    verified: bool
    verified_at: Timestamp | None
    unsubscribed_at: Timestamp | None
    verification_sent: bool | None = Field(
        default=None, description="on creation and correction: whether the link went out")


class VerificationOut(Out):
    id: int
    verification_sent: bool


class EngagementIn(Body):
    title: str = Field(min_length=1, max_length=200)
    paid_at: When = None
    warranty_until: When = None


class EngagementPatch(Body):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    paid_at: When = None
    warranty_until: When = None
    closed_at: When = None


class EngagementOut(Out):
    id: int
    client_id: int
    title: str
    paid_at: Timestamp | None
    warranty_until: Timestamp | None
    closed_at: Timestamp | None
    device_ids: list[int]


class RestrictionIn(Body):
    restricted: bool


# -- devices
class CredentialsIn(Body):
    """Write-only: never part of a response."""

    model_config = ConfigDict(json_schema_extra={"writeOnly": True})

    username: str = Field(min_length=1, max_length=200)
    password: SecretStr | None = None
    secret: SecretStr | None = None
    private_key: SecretStr | None = None


class DeviceIn(Body):
    client_id: Id
    name: str = Field(min_length=1, max_length=200)
    host: str = Field(min_length=1, max_length=255)
    port: Whole = 22
    device_type: str = Field(description="the device family (GET a device for examples): "
                                         "cisco_ios, linux, mikrotik_routeros, ...")
    egress_ip: str | None = None
    engagement_ids: list[Id] = Field(default_factory=list)
    credentials: CredentialsIn


class DeviceOut(Out):
    """host, port, egress_ip and the key and credential flags are shown to staff only."""

    id: int
    client_id: int
    name: str
    device_type: str
    access_state: str = one_of("active", "purged")
    purged_at: Timestamp | None
    engagement_ids: list[int]
    host: str | None = None
    port: int | None = None
    egress_ip: str | None = None
    has_credentials: bool | None = None
    host_key_pinned: bool | None = None


class DevicePatchIn(Body):
    """Only the fields given change; a new host or port unpins the host key."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    host: str | None = Field(default=None, min_length=1, max_length=255)
    port: Whole | None = None
    device_type: str | None = None
    egress_ip: str | None = Field(default=None, description="null: no egress profile")
    engagement_ids: list[Id] | None = None


class EgressIn(Body):
    name: str = Field(min_length=1, max_length=100)
    source_ip: str = Field(min_length=1, max_length=64)
    node: str | None = Field(default=None, min_length=1, max_length=63,
                             description="The node that holds this address (None: any node)")


class EgressPatchIn(Body):
    """Only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    source_ip: str | None = Field(default=None, min_length=1, max_length=64)
    node: str | None = Field(default=None, min_length=1, max_length=63,
                             description="The node that holds this address (null: any node)")


class EgressOut(Out):
    id: int
    name: str
    source_ip: str
    node: str | None = None


class PolicyIn(Body):
    require_approval: bool = False
    approver_role: str = one_of(*STAFF, default="admin")
    deny_commands: list[str] = Field(default_factory=list, max_length=200)
    cert_names: list[str] | None = Field(
        default=None, max_length=200,
        description="DNS suffixes, IP addresses and e-mail domains its certificates may name")
    prefix_preserving_ips: bool | None = Field(
        default=None, description="alert addresses as Crypto-PAn pseudonyms (subnets kept)")
    alert_names: list[str] | None = Field(
        default=None, max_length=500,
        description="sites, people and brands of the client's that alerts must never show")
    privileged_role: str = one_of("technician", "admin", "none", default="technician",
                                  description="who may open privileged (enable/sudo) sessions")
    allow_commands: list[str] | None = Field(
        default=None, max_length=200,
        description="allow-list mode: only these command patterns run")
    unlisted_action: str = one_of("refuse", "confirm", default="refuse",
                                  description="what happens to a line the allow-list does not name")
    rotate_after_privileged: bool = False
    rotate_every_days: Whole | None = None


class PolicyOut(Out):
    client_id: int
    require_approval: bool
    approver_role: str
    deny_commands: list[str]
    cert_names: list[str]
    prefix_preserving_ips: bool
    alert_names: list[str]
    privileged_role: str
    allow_commands: list[str] | None
    unlisted_action: str
    rotate_after_privileged: bool
    rotate_every_days: int | None


class HostKeyIn(Body):
    fingerprint: str | None = Field(default=None, max_length=100,
                                    description="SHA256:... of the scanned key")
    public_key: str | None = Field(default=None, max_length=16384,
                                   description="'ssh-ed25519 AAAA...'")


class HostKeyScanOut(Out):
    device_id: int
    pending_fingerprint: str
    key_type: str
    next: str


class HostKeyOut(Out):
    device_id: int
    fingerprint: str
    key_type: str


class CredentialsVersionOut(Out):
    device_id: int
    version: int


# -- sessions, commands, transcripts
class SessionIn(Body):
    reason: str = Field(min_length=1, max_length=200, description="a ticket reference")
    ttl_seconds: Whole | None = None
    privileged: bool = Field(default=False,
                             description="elevated by custody at login (enable/sudo)")


class AuditEventOut(Out):
    id: int
    at: Timestamp
    actor: str = Field(description="as recorded: user:3, purge, cli, contact")
    action: str
    target: str = Field(description="as recorded: device:3, client:2 (or empty)")
    details: dict[str, Any]
    hash: str = Field(description="SHA-256 over this event and the previous one's hash")


class SessionOut(Out):
    id: int
    device_id: int
    client_id: int
    user_id: int | None
    reason: str
    state: str = one_of(*SessionState)
    ttl_seconds: int
    requested_at: Timestamp
    opened_at: Timestamp | None
    expires_at: Timestamp | None
    closed_at: Timestamp | None
    close_reason: str | None
    source_ip: str | None
    host_key_verified: bool
    privileged: bool
    node: str | None = Field(default=None, description="The node whose broker holds the "
                                                       "device connection")


class CommandIn(Body):
    command: str | None = Field(default=None, max_length=8192)
    config: list[str] | None = Field(default=None, max_length=500)
    approval_id: Id | None = Field(default=None,
                                    description="send an approved line again with its request's id")


class CommandApprovalOut(Out):
    id: int
    session_id: int
    client_id: int
    user_id: int | None
    command: str
    state: str = one_of(*ApprovalState)
    requested_at: Timestamp
    expires_at: Timestamp
    decided_by: int | None
    decided_at: Timestamp | None


class CommandOut(Out):
    output: str | None
    approval: CommandApprovalOut | None = None
    next: str | None = None


class TranscriptLineOut(Out):
    at: Timestamp
    direction: str = one_of("in", "out", "note", "cmd")
    text: str


class TranscriptOut(Out):
    session_id: int
    lines: list[TranscriptLineOut]


class TranscriptMatchOut(TranscriptLineOut):
    session_id: int


class TranscriptSearchOut(Out):
    client_id: int
    items: list[TranscriptMatchOut]


# -- purge, holds and the rights of clients
class PurgeRunIn(Body):
    dry_run: bool = False


class PlanItemOut(Out):
    kind: str = one_of(*PurgeKind)
    target: str
    target_id: int
    client_id: int | None
    name: str
    due_at: Timestamp | None
    state: str = one_of(*PlanState)
    reason: str


class ReceiptOut(Out):
    id: int | None = None
    run_id: int | None = None
    kind: str
    target_id: int
    reason: str
    state: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    counts: dict[str, int] | None = None
    secrets: list[dict[str, Any]] | None = Field(
        default=None, description="each destroyed secret: its path and the versions it had")
    outcome: str | None = None


class PurgeRunOut(Out):
    run_id: int | None
    dry_run: bool
    receipts: list[dict[str, Any]]


class HoldIn(Body):
    target_kind: str = one_of(*HoldTarget)
    target_id: Id
    reason: str = Field(min_length=1, max_length=500)
    until: When


class HoldOut(Out):
    id: int
    target_kind: str
    target_id: int
    reason: str
    until: Timestamp
    created_at: Timestamp
    released_at: Timestamp | None


# -- certificates
class GenerateIn(Body):
    common_name: str = Field(min_length=1, max_length=200)
    sans: list[str] = Field(default_factory=list, max_length=50)


class CertificateIn(Body):
    csr: str | None = Field(default=None, max_length=65536, description="PEM")
    generate: GenerateIn | None = None
    contact_id: Id | None = None


class RenewIn(Body):
    csr: str = Field(min_length=1, max_length=65536)


class RevokeIn(Body):
    reason: str = one_of(*sorted(REASONS))


class ImportIn(Body):
    pem: str | None = Field(default=None, max_length=262144)
    der_base64: str | None = Field(default=None, max_length=262144)


class CertificateOut(Out):
    id: int
    client_id: int
    ca_id: int | None
    serial: str
    fingerprint_sha256: str
    subject: str
    sans: list[str]
    not_before: Timestamp
    not_after: Timestamp
    key_origin: str = one_of("csr", "generated", "imported")
    issued_at: Timestamp
    handed_over_at: Timestamp | None
    handed_over_to: int | None = Field(description="the contact it was handed to")
    handover_method: str | None
    revoked_at: Timestamp | None
    revocation_reason: str | None
    replaces_id: int | None
    download_pending: bool
    download_expires_at: Timestamp | None
    certificate: str


class IssuedOut(CertificateOut):
    chain: list[str]
    dropped_subject_attributes: list[str] = Field(
        default_factory=list, description="what the CSR's subject held besides its common name: "
                                          "the CA builds the subject itself and left these out")
    passphrase: str | None = Field(default=None, description="shown once")
    download_url: str | None = None
    note: str | None = None


# -- alerts
class AlertSourceIn(Body):
    name: str = Field(min_length=1, max_length=100)
    kind: str = one_of(*SourceKind)
    client_id: Id | None = None


class SourceAssignIn(Body):
    client_id: Id | None


class AlertSourceOut(Out):
    id: int
    name: str
    kind: str
    client_id: int | None
    ingest_url: str
    token: str | None = Field(default=None, description="on creation only: shown once")
    note: str | None = None


class NotificationOut(Out):
    id: int
    client_id: int | None
    group_id: str
    status: str
    alertname: str
    received_at: Timestamp
    alert: dict[str, Any]
    source_id: int | None = None


class HeldOut(Out):
    items: list[NotificationOut]
    note: str


class ReidentifyIn(Body):
    client_id: Id
    token: str = Field(min_length=3, max_length=64)


class ReidentifyOut(Out):
    token: str
    matches: list[str]
    note: str


def parse_body(model: type[M]) -> M:
    """Validate the JSON body against ``model`` or raise InvalidInput naming each bad field."""
    raw = request.get_data(cache=True)
    if not request.is_json:
        raise InvalidInput("send a JSON body with Content-Type: application/json")
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        problems = field_errors(exc)
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in problems),
                           fields=problems) from None


def field_errors(exc: ValidationError) -> tuple[FieldError, ...]:
    """Each of pydantic's complaints as (field, message), the whole body being ``body``."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "body"
        if err["type"] == "extra_forbidden":
            problems.append(FieldError(field, "unknown field"))
        elif err["type"] == "json_invalid":
            problems.append(FieldError("body", "not valid JSON"))
        elif err["type"] == "model_type":
            problems.append(FieldError("body", "must be a JSON object"))
        elif err["type"] == "missing":
            problems.append(FieldError(field, "required"))
        else:
            problems.append(FieldError(field, err["msg"].removeprefix("Value error, ")))
    return tuple(problems)
