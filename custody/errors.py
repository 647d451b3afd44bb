"""The one exception hierarchy of the domain; adapters map it to HTTP or exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class CustodyError(Exception):
    """Base of every error the domain raises on purpose; its message is safe to show."""

    code = "error"


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` is the API's name for it (dotted when nested)."""

    field: str
    message: str


class InvalidInput(CustodyError):
    """The caller sent something malformed or outside policy.

    ``field`` (or ``fields``, for several) says which input the problem is with, so a form
    can put it next to that field and the API can name it without parsing the message."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None,
                 fields: tuple[FieldError, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields or ((FieldError(field, message),) if field else ())


class NotFound(CustodyError):
    """The object does not exist, or the caller may not know it exists."""

    code = "not_found"


class Unauthorized(CustodyError):
    """No valid credentials were presented."""

    code = "unauthorized"


class TooManyAttempts(Unauthorized):
    """Too many failed attempts from this address: wait before trying again."""

    code = "too_many_attempts"


class Forbidden(CustodyError):
    """The caller is known but its role or tenant does not allow this."""

    code = "forbidden"


class Conflict(CustodyError):
    """The request clashes with existing state (a duplicate name, a second revoke)."""

    code = "conflict"


class ConfigError(CustodyError):
    """The configuration is missing, malformed or names something unusable."""

    code = "config_error"


class BackendUnavailable(CustodyError):
    """A backend (secret store, database, SMTP) cannot be reached or refused us."""

    code = "backend_unavailable"


class StorageFull(BackendUnavailable):
    """The disk under the database or the secret store is full (or failing): nothing of
    the request was kept."""

    code = "storage_full"


class SecretNotFound(NotFound):
    """No live version of the secret exists at that path."""

    code = "secret_not_found"


class DeviceError(CustodyError):
    """Talking to a customer device failed; the message says why, never with a secret."""

    code = "device_error"


class DeviceUnreachable(DeviceError):
    code = "device_unreachable"


class DeviceAuthError(DeviceError):
    code = "device_auth_failed"


class HostKeyMismatch(DeviceError):
    code = "host_key_mismatch"


class EgressUnavailable(DeviceError):
    code = "egress_unavailable"


class CommandRefused(Forbidden):
    """A command policy blocked the command before it reached the device."""

    code = "command_refused"
