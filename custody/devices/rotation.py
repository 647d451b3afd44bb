"""Credential rotation: custody sets a new random password on the device itself.

As Devolutions, Passportal and JumpServer do it: on demand, after a session that used
a privileged secret, or on a schedule, the broker logs in with the stored credentials,
sets new ones through the family's driver, proves them with a fresh login, and only
then stores them as the new version (the old version stays until the new one is
proven; a rotation that fails puts the old password back on the device and leaves the
store untouched). A rotation holds a per-device lock that session opens respect, and a
purge always wins: a rotation that finds its device purged stores nothing.

Drivers (the platform registry names one per family):
- ``linux``: ``sudo -S chpasswd`` on an exec channel of its own, the sudo password and
  the new ``user:password`` on its standard input (never on a command line or in a
  shell's history); the stored sudo secret becomes the new password too.
- ``cisco``: ``username U secret P`` and ``enable secret S`` in configuration mode of a
  session elevated at login, then ``write memory`` (IOS, IOS XE, NX-OS, IOS XR, Arista).
- ``mikrotik``: ``/user set [find name="U"] password="P"``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from custody.audit.service import AuditLog
from custody.clock import Clock
from custody.config import BrokerSettings
from custody.db import rows_changed, transaction
from custody.devices.models import LIVE_STATES, AccessSession, ClientPolicy, Device
from custody.devices.platforms import platform_for
from custody.devices.ssh import ConnectTarget, DeviceConnection
from custody.errors import Conflict, CustodyError, DeviceError, NotFound
from custody.logs import register_secret, unregister_secret
from custody.secrets import SecretStore
from custody.sensitive import Secret

LOCK_MINUTES = 10  # a rotation lock older than this was left by a crash
_ALPHABET = string.ascii_letters + string.digits  # nothing a CLI reads as syntax ("?", quotes)


def new_password(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Connector(Protocol):
    def connect(self, target: ConnectTarget, credentials: Mapping[str, Secret]
                ) -> DeviceConnection: ...


class RotationDriver(Protocol):
    """Sets credentials on one family's devices over a live connection."""

    needs_privilege: bool

    def new_credentials(self, current: Mapping[str, str]) -> dict[str, str]: ...

    def apply(self, connection: DeviceConnection, current: Mapping[str, str],
              new: Mapping[str, str]) -> None:
        """Change the device from ``current`` to ``new``; raise DeviceError if it refused."""
        ...


class LinuxDriver:
    needs_privilege = False  # sudo runs on an exec channel of its own, not in the session

    def new_credentials(self, current: Mapping[str, str]) -> dict[str, str]:
        if "secret" not in current:
            raise Conflict("rotating a Linux account needs its stored sudo secret")
        password = new_password()
        return {**current, "password": password, "secret": password}

    def apply(self, connection: DeviceConnection, current: Mapping[str, str],
              new: Mapping[str, str]) -> None:
        status, output = connection.exec_with_input(
            "/usr/bin/sudo -S -p '' /usr/sbin/chpasswd",
            f"{current['secret']}\n{current['username']}:{new['password']}\n")
        if status != 0:
            raise DeviceError(f"chpasswd failed on the device (exit status {status})")


class CiscoDriver:
    needs_privilege = True

    def new_credentials(self, current: Mapping[str, str]) -> dict[str, str]:
        if "secret" not in current:
            raise Conflict("rotating a Cisco-like device needs its stored enable secret")
        return {**current, "password": new_password(), "secret": new_password()}

    def apply(self, connection: DeviceConnection, current: Mapping[str, str],
              new: Mapping[str, str]) -> None:
        lines = [f"username {current['username']} secret {new['password']}",
                 f"enable secret {new['secret']}"]
        output = connection.send_config_set(lines)
        if "% Invalid" in output or "% Incomplete" in output:
            raise DeviceError("the device refused the new credentials")
        connection.send_command("write memory")


class MikrotikDriver:
    needs_privilege = False

    def new_credentials(self, current: Mapping[str, str]) -> dict[str, str]:
        return {**current, "password": new_password()}

    def apply(self, connection: DeviceConnection, current: Mapping[str, str],
              new: Mapping[str, str]) -> None:
        output = connection.send_command(
            f'/user set [find name="{current["username"]}"] password="{new["password"]}"')
        if "failure" in output.lower() or "error" in output.lower():
            raise DeviceError("the device refused the new password")


DRIVERS: dict[str, RotationDriver] = {"linux": LinuxDriver(), "cisco": CiscoDriver(),
                                      "mikrotik": MikrotikDriver()}


@dataclass(frozen=True)
class Rotated:
    device_id: int
    version: int


class CredentialRotation:
    """Rotate device credentials through the family's driver."""

    def __init__(self, db: sessionmaker[Session], secrets_store: SecretStore,
                 connector: Connector, audit: AuditLog, clock: Clock,
                 settings: BrokerSettings, drivers: Mapping[str, RotationDriver] = DRIVERS
                 ) -> None:
        self._db = db
        self._secrets = secrets_store
        self._connector = connector
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._drivers = drivers

    def rotate(self, device_id: int, actor: str, reason: str) -> Rotated:
        """Set, prove and store new credentials for one device; audited either way."""
        driver, target, path = self._lock(device_id)
        try:
            current = {k: v.reveal() for k, v in self._secrets.get(path).items()}
            new = driver.new_credentials(current)
            for value in (*current.values(), *new.values()):
                register_secret(value)
            try:
                self._change(driver, target, current, new)
            finally:
                for value in (*current.values(), *new.values()):
                    unregister_secret(value)
            rotated = self._store(device_id, path, new, actor, reason)
        except CustodyError as exc:
            with transaction(self._db) as db:
                self._audit.record(db, actor, "device.rotation_failed", f"device:{device_id}",
                                   reason=reason, error=str(exc)[:300])
            raise
        finally:
            self._unlock(device_id)
        if rotated is None:
            raise Conflict(f"device {device_id} was purged during the rotation; nothing was "
                           "stored")
        return rotated

    def _lock(self, device_id: int) -> tuple[RotationDriver, ConnectTarget, str]:
        now = self._clock()
        with transaction(self._db) as db:
            device = db.get(Device, device_id)
            if device is None:
                raise NotFound(f"device {device_id} does not exist")
            name = platform_for(device.device_type).rotation
            if name is None or name not in self._drivers:
                raise Conflict(f"custody cannot rotate credentials on {device.device_type} "
                               "devices; rotate them by hand and store them with "
                               "PUT /api/v1/devices/{id}/credentials")
            if not (device.secret_path and device.host and device.host_key and device.egress_ip):
                raise Conflict(f"device {device_id} is not ready for sessions")
            taken = rows_changed(db, update(Device).where(
                Device.id == device_id, Device.access_state == "active",
                or_(Device.rotating_since.is_(None),
                    Device.rotating_since < now - timedelta(minutes=LOCK_MINUTES)))
                .values(rotating_since=now))
            if not taken:
                raise Conflict(f"device {device_id} is being rotated already, or was purged")
            driver = self._drivers[name]
            target = ConnectTarget(device.host, device.port, device.device_type,
                                   device.egress_ip, device.host_key,
                                   self._settings.connect_timeout, self._settings.command_timeout,
                                   privileged=driver.needs_privilege)
            return driver, target, device.secret_path

    def _unlock(self, device_id: int) -> None:
        with transaction(self._db) as db:
            db.execute(update(Device).where(Device.id == device_id).values(rotating_since=None))

    def _change(self, driver: RotationDriver, target: ConnectTarget,
                current: Mapping[str, str], new: Mapping[str, str]) -> None:
        """Apply, then prove with a fresh login; put the old credentials back if that fails."""
        connection = self._connector.connect(target, _secrets(current))
        try:
            driver.apply(connection, current, new)
            try:
                proof = self._connector.connect(replace(target, privileged="secret" in new),
                                                _secrets(new))
                proof.close()
            except CustodyError as exc:
                driver.apply(connection, new, current)  # the old session is still logged in
                raise DeviceError(f"the new credentials did not work ({exc}); the old ones "
                                  "were put back") from None
        finally:
            connection.close()

    def _store(self, device_id: int, path: str, new: Mapping[str, str], actor: str,
               reason: str) -> Rotated | None:
        """Store the proven credentials; None when a purge got there first."""
        version = self._secrets.put(path, new)
        with transaction(self._db) as db:
            device = db.get(Device, device_id)
            if device is None or device.access_state != "active" or device.secret_path != path:
                self._secrets.destroy(path)  # purged meanwhile: the purge wins
                self._audit.record(db, actor, "device.rotation_aborted", f"device:{device_id}",
                                   reason="the device was purged during the rotation")
                return None
            old = [v for v in self._secrets.versions(path) if v != version]
            self._secrets.destroy_versions(path, old)
            device.rotated_at = self._clock()
            self._audit.record(db, actor, "device.rotate", f"device:{device_id}",
                               reason=reason, version=version, destroyed=old)
        return Rotated(device_id, version)

    def due(self, db: Session) -> list[tuple[int, str]]:
        """Devices whose client's policy wants them rotated now, with the reason."""
        out: list[tuple[int, str]] = []
        now = self._clock()
        rows = db.execute(select(Device, ClientPolicy).join(
            ClientPolicy, ClientPolicy.client_id == Device.client_id).where(
            Device.access_state == "active", Device.secret_path.is_not(None),
            or_(ClientPolicy.rotate_after_privileged.is_(True),
                ClientPolicy.rotate_every_days.is_not(None)))).all()
        for device, policy in rows:
            if platform_for(device.device_type).rotation is None:
                continue
            since = device.rotated_at or device.created_at
            live = db.scalar(select(AccessSession.id).where(
                AccessSession.device_id == device.id,
                AccessSession.state.in_(LIVE_STATES)).limit(1))
            if live is not None:
                continue  # never under a technician's feet
            if policy.rotate_after_privileged and db.scalar(select(AccessSession.id).where(
                    AccessSession.device_id == device.id, AccessSession.privileged.is_(True),
                    AccessSession.opened_at.is_not(None),
                    AccessSession.closed_at > since).limit(1)) is not None:
                out.append((device.id, "after a privileged session"))
            elif policy.rotate_every_days and since <= now - timedelta(
                    days=policy.rotate_every_days):
                out.append((device.id, f"every {policy.rotate_every_days} days"))
        return out


def _secrets(fields: Mapping[str, str]) -> dict[str, Secret]:
    return {k: Secret(v) for k, v in fields.items()}
