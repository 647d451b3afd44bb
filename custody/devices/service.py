"""Device inventory with write-only credentials kept in the SecretStore."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session, selectinload

from custody.accounts.roles import STAFF
from custody.accounts.service import Principal
from custody.addresses import allowed_names, is_ip
from custody.audit.service import AuditLog
from custody.clients.models import Client, Engagement, engagement_devices
from custody.clock import Clock, iso
from custody.cluster.models import Node
from custody.db import after_rollback, before_io, rows_changed
from custody.devices.models import ClientPolicy, Device, EgressProfile
from custody.devices.platforms import DEVICE_TYPES
from custody.devices.ssh import (
    check_source_address,
    fingerprint,
    parse_public_key,
    scan_host_key,
)
from custody.errors import Conflict, EgressUnavailable, InvalidInput, NotFound
from custody.paging import Page, check_limit, cursor_id, decode_cursor, like_pattern, page_of
from custody.secrets import SecretStore, client_path
from custody.sensitive import Secret
from custody.tenancy import get_owned, require_role

HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


@dataclass(frozen=True)
class DeviceCredentials:
    """What the broker needs to log in; never returned, logged or shown."""

    username: str
    password: Secret | None = None
    secret: Secret | None = None
    private_key: Secret | None = None

    def as_fields(self) -> dict[str, str]:
        fields = {"username": self.username}
        for name in ("password", "secret", "private_key"):
            value: Secret | None = getattr(self, name)
            if value is not None:
                fields[name] = value.reveal()
        return fields


@dataclass(frozen=True)
class DeviceSpec:
    client_id: int
    name: str
    host: str
    port: int
    device_type: str
    egress_ip: str | None
    engagement_ids: tuple[int, ...]


@dataclass(frozen=True)
class DeviceFilter:
    """Which devices a list shows; None or empty: any."""

    client_id: int | None = None
    device_type: str | None = None
    access_state: str | None = None  # active | purged
    search: str | None = None  # in the name (or, for staff, the address)


@dataclass(frozen=True)
class DeviceChanges:
    """Fields a PATCH may change; only those named in ``fields`` change (``egress_ip``
    may be set to None: direct from this node's own address)."""

    name: str | None = None
    host: str | None = None
    port: int | None = None
    device_type: str | None = None
    egress_ip: str | None = None
    engagement_ids: tuple[int, ...] = ()
    fields: frozenset[str] = frozenset()


class DeviceService:
    """Enrol and read devices; credentials go straight into the SecretStore."""

    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 node_name: str | None = None) -> None:
        self._secrets = secrets_store
        self._audit = audit
        self._clock = clock
        self._node = node_name  # this node: an egress address it holds is checked here

    def create_device(self, db: Session, who: Principal, spec: DeviceSpec,
                      credentials: DeviceCredentials) -> Device:
        """Validate, store the device row and its credentials; the secret goes again if the
        unit of work does not commit."""
        require_role(who, "admin")
        _check_spec(spec)
        _check_credentials(credentials)
        if db.get(Client, spec.client_id) is None:
            raise NotFound(f"client {spec.client_id} does not exist")
        _check_egress(db, spec.egress_ip)
        _check_name_free(db, spec.client_id, spec.name)
        engagements = _engagements(db, spec.client_id, spec.engagement_ids)
        device = Device(client_id=spec.client_id, name=spec.name, host=spec.host, port=spec.port,
                        device_type=spec.device_type, egress_ip=spec.egress_ip,
                        access_state="active", created_at=self._clock(),
                        engagements=engagements)
        db.add(device)
        db.flush()
        device.secret_path = client_path(spec.client_id, "devices", str(device.id))
        self._secrets.put(device.secret_path, credentials.as_fields())
        after_rollback(db, lambda: self.forget_secret(device))
        self._audit.record(db, who.actor, "device.create", f"device:{device.id}",
                           client_id=spec.client_id, secret_path=device.secret_path)
        return device

    def update_device(self, db: Session, who: Principal, device_id: int,
                      changes: DeviceChanges) -> Device:
        """Change a device's name, address, family, egress or engagements, checked as at
        enrolment. A new address or port unpins the host key: the next session needs
        it pinned again, for the key belonged to the old address."""
        require_role(who, "admin")
        device = self.get_device(db, who, device_id)
        if device.access_state != "active":
            raise Conflict(f"device {device_id} was purged; enrol it again instead")
        given = {name: getattr(changes, name) for name in changes.fields}
        spec = DeviceSpec(client_id=device.client_id,
                          name=given.get("name", device.name),
                          host=given.get("host", device.host or ""),
                          port=given.get("port", device.port),
                          device_type=given.get("device_type", device.device_type),
                          egress_ip=given.get("egress_ip", device.egress_ip),
                          engagement_ids=tuple(given.get("engagement_ids", ())))
        _check_spec(spec)
        if "egress_ip" in given:
            _check_egress(db, spec.egress_ip)
        if spec.name != device.name:
            _check_name_free(db, device.client_id, spec.name)
        if "engagement_ids" in given:
            device.engagements = _engagements(db, device.client_id, spec.engagement_ids)
        moved = (spec.host, spec.port) != (device.host, device.port)
        device.name, device.host, device.port = spec.name, spec.host, spec.port
        device.device_type, device.egress_ip = spec.device_type, spec.egress_ip
        if moved and (device.host_key or device.host_key_pending):
            device.host_key = device.host_key_pending = None
        self._audit.record(db, who.actor, "device.update", f"device:{device.id}",
                           client_id=device.client_id, fields=sorted(given),
                           host_key_unpinned=moved)
        return device

    def rotate_credentials(self, db: Session, who: Principal, device_id: int,
                           credentials: DeviceCredentials) -> int:
        """Write new credentials, then destroy every older version; return the new version."""
        require_role(who, "admin")
        _check_credentials(credentials)
        device = self.get_device(db, who, device_id)
        if device.access_state != "active" or device.secret_path is None:
            raise Conflict(f"device {device_id} was purged; re-enrol it instead")
        old = self._secrets.versions(device.secret_path)
        version = self._secrets.put(device.secret_path, credentials.as_fields())
        self._secrets.destroy_versions(device.secret_path, old)
        self._audit.record(db, who.actor, "device.rotate_credentials", f"device:{device.id}",
                           secret_path=device.secret_path, version=version, destroyed=old)
        return version

    def scan_host_key(self, db: Session, who: Principal, device_id: int, timeout: float) -> str:
        """Fetch the device's current host key from its egress address; keep it pending."""
        require_role(who, "admin")
        device = self.get_device(db, who, device_id)
        if not device.egress_ip or not device.host:
            raise Conflict(f"device {device_id} needs a host and an egress_ip to be scanned")
        before_io(db)
        key = scan_host_key(device.host, device.port, device.egress_ip, timeout)
        device.host_key_pending = key
        self._audit.record(db, who.actor, "device.host_key_scan", f"device:{device.id}",
                           fingerprint=fingerprint(key))
        return key

    def pin_host_key(self, db: Session, who: Principal, device_id: int,
                     confirm_fingerprint: str | None, public_key: str | None) -> str:
        """Pin the scanned key once the admin confirms its fingerprint, or a key they give."""
        require_role(who, "admin")
        device = self.get_device(db, who, device_id)
        if (confirm_fingerprint is None) == (public_key is None):
            raise InvalidInput("send either fingerprint (to confirm a scan) or public_key")
        if public_key is not None:
            key = parse_public_key(public_key)
        else:
            if device.host_key_pending is None:
                raise Conflict(f"device {device_id} has no scanned key to confirm; scan it first")
            if fingerprint(device.host_key_pending) != (confirm_fingerprint or "").strip():
                raise InvalidInput("fingerprint does not match the scanned key; scan again and "
                                   "compare with the device's own `show ip ssh` / ssh-keygen -l",
                                   field="fingerprint")
            key = device.host_key_pending
        previous = device.host_key
        device.host_key = key
        device.host_key_pending = None
        device.host_key_mismatch_at = None
        self._audit.record(db, who.actor, "device.host_key_pin", f"device:{device.id}",
                           fingerprint=fingerprint(key),
                           replaced=fingerprint(previous) if previous else None)
        return key

    def create_egress_profile(self, db: Session, who: Principal, name: str,
                              source_ip: str, node: str | None = None) -> EgressProfile:
        """A fixed source address; ``node`` is the node that holds it (sessions through it
        open there), or None when every node can use it."""
        require_role(who, "admin")
        name = name.strip()
        self._check_egress_profile(db, name, source_ip, node, None)
        profile = EgressProfile(name=name, source_ip=source_ip, node=node,
                                created_at=self._clock())
        db.add(profile)
        db.flush()
        self._audit.record(db, who.actor, "egress.create", f"egress:{profile.id}",
                           source_ip=source_ip, node=node)
        return profile

    def update_egress_profile(self, db: Session, who: Principal, profile_id: int,
                              name: str, source_ip: str, node: str | None) -> EgressProfile:
        """Change a profile while no live device uses it (a device's firewall admits
        exactly its address): move the devices to another profile first."""
        require_role(who, "admin")
        profile = self._unused_profile(db, profile_id, "changed")
        name = name.strip()
        self._check_egress_profile(db, name, source_ip, node, profile_id)
        profile.name, profile.source_ip, profile.node = name, source_ip, node
        self._audit.record(db, who.actor, "egress.update", f"egress:{profile.id}",
                           source_ip=source_ip, node=node)
        return profile

    def delete_egress_profile(self, db: Session, who: Principal, profile_id: int) -> None:
        """Delete a profile no live device uses."""
        require_role(who, "admin")
        profile = self._unused_profile(db, profile_id, "deleted")
        db.delete(profile)
        self._audit.record(db, who.actor, "egress.delete", f"egress:{profile_id}",
                           source_ip=profile.source_ip)

    def egress_users(self, db: Session, who: Principal) -> dict[str, int]:
        """How many live devices leave from each source address."""
        require_role(who, "admin")
        rows = db.execute(select(Device.egress_ip, func.count()).where(
            Device.egress_ip.is_not(None), Device.purged_at.is_(None))
            .group_by(Device.egress_ip)).all()
        return {str(ip): int(count) for ip, count in rows}

    def _unused_profile(self, db: Session, profile_id: int, what: str) -> EgressProfile:
        profile = db.get(EgressProfile, profile_id)
        if profile is None:
            raise NotFound(f"egress profile {profile_id} does not exist")
        users = db.scalar(select(func.count()).select_from(Device).where(
            Device.egress_ip == profile.source_ip, Device.purged_at.is_(None)))
        if users:
            raise Conflict(f"egress profile {profile.name!r} is used by {users} device(s): "
                           f"move them to another profile (PATCH the devices) before it is "
                           f"{what}")
        return profile

    def _check_egress_profile(self, db: Session, name: str, source_ip: str, node: str | None,
                              itself: int | None) -> None:
        """Name, address and node as a profile needs them; an address this node is to use
        must be one it can bind (others' nodes check theirs when they use it)."""
        if not name or len(name) > 100:
            raise InvalidInput("name must be 1-100 characters", field="name")
        if not is_ip(source_ip):
            raise InvalidInput("source_ip must be an IP address", field="source_ip")
        if db.scalar(select(EgressProfile.id).where(
                (EgressProfile.name == name) | (EgressProfile.source_ip == source_ip),
                EgressProfile.id != (itself or 0))) is not None:
            raise Conflict("an egress profile with this name or address exists already")
        if node is not None and db.scalar(select(Node.id).where(
                Node.name == node, Node.removed_at.is_(None))) is None:
            raise InvalidInput(f"no node is named {node!r} (see `custody node list`)",
                               field="node")
        if node is None or node == self._node:
            try:
                check_source_address(source_ip)
            except EgressUnavailable as exc:
                raise InvalidInput(f"source_ip: {exc}", field="source_ip") from None

    def set_client_policy(self, db: Session, who: Principal, client_id: int,
                          require_approval: bool, approver_role: str,
                          deny_commands: list[str], cert_names: list[str] | None = None,
                          prefix_preserving_ips: bool | None = None,
                          alert_names: list[str] | None = None, *,
                          privileged_role: str = "technician",
                          allow_commands: list[str] | None = None,
                          unlisted_action: str = "refuse",
                          rotate_after_privileged: bool = False,
                          rotate_every_days: int | None = None) -> ClientPolicy:
        """Set how a client's device access is governed. ``allow_commands`` None keeps the
        deny-list mode; a list turns on allow-list mode (unlisted lines are refused, or
        with ``unlisted_action="confirm"`` held for an approver)."""
        require_role(who, "admin")
        if db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        if approver_role not in STAFF:
            raise InvalidInput("approver_role must be admin or technician", field="approver_role")
        for rule in [*deny_commands, *(allow_commands or ())]:
            if not rule.strip() or len(rule) > 200:
                raise InvalidInput("deny_commands and allow_commands entries must be "
                                   "1-200 characters")
        if privileged_role not in ("technician", "admin", "none"):
            raise InvalidInput("privileged_role must be technician, admin or none", field="privileged_role")
        if unlisted_action not in ("refuse", "confirm"):
            raise InvalidInput("unlisted_action must be refuse or confirm", field="unlisted_action")
        if unlisted_action == "confirm" and allow_commands is None:
            raise InvalidInput("unlisted_action confirm needs allow_commands (allow-list mode)",
                               field="unlisted_action")
        if rotate_every_days is not None and not 1 <= rotate_every_days <= 3650:
            raise InvalidInput("rotate_every_days must be between 1 and 3650", field="rotate_every_days")
        policy = db.get(ClientPolicy, client_id) or ClientPolicy(client_id=client_id)
        policy.require_approval = require_approval
        policy.approver_role = approver_role
        policy.deny_commands = [r.strip() for r in deny_commands]
        policy.allow_commands = None if allow_commands is None else [r.strip() for r in allow_commands]
        policy.privileged_role = privileged_role
        policy.unlisted_action = unlisted_action
        policy.rotate_after_privileged = rotate_after_privileged
        policy.rotate_every_days = rotate_every_days
        if cert_names is not None:
            policy.cert_names = allowed_names([n for n in cert_names if n.strip()])
        if prefix_preserving_ips is not None:
            policy.prefix_preserving_ips = prefix_preserving_ips
        if alert_names is not None:
            if any(len(n.strip()) < 3 or len(n) > 200 for n in alert_names):
                raise InvalidInput("alert_names entries must be 3-200 characters", field="alert_names")
            policy.alert_names = sorted({n.strip() for n in alert_names})
        db.add(policy)
        self._audit.record(db, who.actor, "client.policy", f"client:{client_id}",
                           require_approval=require_approval, approver_role=approver_role,
                           deny_commands=policy.deny_commands, cert_names=policy.cert_names,
                           prefix_preserving_ips=policy.prefix_preserving_ips,
                           alert_names=len(policy.alert_names or ()),  # a count: names are personal
                           allow_commands=policy.allow_commands, unlisted_action=unlisted_action,
                           privileged_role=privileged_role,
                           rotate_after_privileged=rotate_after_privileged,
                           rotate_every_days=rotate_every_days)
        return policy

    def set_cert_names(self, db: Session, who: Principal, client_id: int,
                       names: list[str]) -> ClientPolicy:
        """Set only the names a client's certificates may carry (the rest stays)."""
        require_role(who, "admin")
        if db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        policy = db.get(ClientPolicy, client_id) or ClientPolicy(client_id=client_id)
        policy.cert_names = allowed_names([n for n in names if n.strip()])
        db.add(policy)
        self._audit.record(db, who.actor, "client.cert_names", f"client:{client_id}",
                           cert_names=policy.cert_names)
        return policy

    def forget_secret(self, device: Device) -> None:
        """Destroy a device's credentials (the row that pointed at them never landed)."""
        if device.secret_path:
            self._secrets.destroy(device.secret_path)

    def active_devices(self, db: Session, who: Principal) -> Sequence[Device]:
        """Devices whose access data is still held (what a hold can still protect)."""
        require_role(who, *STAFF)
        return db.scalars(select(Device).where(Device.access_state == "active")
                          .order_by(Device.client_id, Device.name)).all()

    def client_policy(self, db: Session, who: Principal, client_id: int) -> ClientPolicy | None:
        """The client's access policy, or None while it has the defaults."""
        require_role(who, *STAFF)
        if db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        return db.get(ClientPolicy, client_id)

    def egress_profile(self, db: Session, who: Principal, profile_id: int) -> EgressProfile:
        require_role(who, *STAFF)
        profile = db.get(EgressProfile, profile_id)
        if profile is None:
            raise NotFound(f"egress profile {profile_id} does not exist")
        return profile

    def egress_profiles(self, db: Session, who: Principal) -> Sequence[EgressProfile]:
        require_role(who, *STAFF)
        return db.scalars(select(EgressProfile).order_by(EgressProfile.name)).all()

    # -- the client's data (custody.tenancy.ClientData) and a device's access data
    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        devices = db.scalars(select(Device).where(Device.client_id == client_id)
                             .order_by(Device.id)).all()
        policy = db.get(ClientPolicy, client_id)
        return {
            "devices": [{"id": d.id, "name": d.name, "device_type": d.device_type,
                         "access_state": d.access_state, "purged_at": iso(d.purged_at)}
                        for d in devices],
            "access_policy": {"require_approval": bool(policy and policy.require_approval),
                              "deny_commands": policy.deny_commands if policy else []},
        }

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        device_ids = select(Device.id).where(Device.client_id == client_id)
        return {
            "device_engagement_links": rows_changed(db, delete(engagement_devices).where(
                engagement_devices.c.device_id.in_(device_ids))),
            "devices": rows_changed(db, delete(Device).where(Device.client_id == client_id)),
            "policies": rows_changed(db, delete(ClientPolicy).where(
                ClientPolicy.client_id == client_id)),
        }

    def forget_device_access(self, db: Session, device_id: int) -> dict[str, int]:
        """Addresses, host keys and the secret's path go; the row stays, marked purged."""
        device = db.get(Device, device_id)
        if device is None or device.access_state == "purged":
            return {}
        counts = {"host_keys": int(device.host_key is not None)
                  + int(device.host_key_pending is not None),
                  "addresses": int(device.host is not None) + int(device.egress_ip is not None)}
        device.host = device.egress_ip = None
        device.host_key = device.host_key_pending = None
        device.secret_path = None
        device.access_state = "purged"
        device.purged_at = self._clock()
        return counts

    def get_device(self, db: Session, who: Principal, device_id: int) -> Device:
        return get_owned(db, Device, device_id, who, "device")

    def find_devices(self, db: Session, who: Principal, wanted: DeviceFilter,
                     limit: int | None = None, cursor: str | None = None) -> Page[Device]:
        """A page of devices by name, filtered; a client's users see only theirs."""
        size = check_limit(limit)
        stmt = (select(Device).options(selectinload(Device.engagements))  # one query, not N
                .order_by(Device.name, Device.id).limit(size + 1))
        if not who.is_staff:
            stmt = stmt.where(Device.client_id == who.client_id)
        if wanted.client_id is not None:
            stmt = stmt.where(Device.client_id == wanted.client_id)
        if wanted.device_type:
            stmt = stmt.where(Device.device_type == wanted.device_type)
        if wanted.access_state:
            stmt = stmt.where(Device.access_state == wanted.access_state)
        if wanted.search:
            pattern = like_pattern(wanted.search.lower())
            in_name = func.lower(Device.name).like(pattern, escape="\\")
            stmt = stmt.where(in_name | func.lower(Device.host).like(pattern, escape="\\")
                              if who.is_staff else in_name)  # addresses: the staff's to search
        if cursor is not None:
            name, id_ = decode_cursor(cursor, 2)
            if not isinstance(name, str):
                raise InvalidInput("cursor: not a cursor this list gave", field="cursor")
            stmt = stmt.where(tuple_(Device.name, Device.id) > tuple_(name, cursor_id(id_)))
        return page_of(db.scalars(stmt).all(), size, lambda device: [device.name, device.id])

    def list_devices(self, db: Session, who: Principal, client_id: int | None = None
                     ) -> Sequence[Device]:
        stmt = select(Device).order_by(Device.client_id, Device.name)
        if not who.is_staff:
            stmt = stmt.where(Device.client_id == who.client_id)
        if client_id is not None:
            stmt = stmt.where(Device.client_id == client_id)
        return db.scalars(stmt).all()


def _check_spec(spec: DeviceSpec) -> None:
    if not spec.name.strip() or len(spec.name) > 200:
        raise InvalidInput("name must be 1-200 characters", field="name")
    if not is_ip(spec.host) and not HOSTNAME.match(spec.host):
        raise InvalidInput("host must be an IP address or a DNS name", field="host")
    if not 1 <= spec.port <= 65535:
        raise InvalidInput("port must be between 1 and 65535", field="port")
    if spec.device_type not in DEVICE_TYPES:
        raise InvalidInput(
            f"device_type must be one of {', '.join(sorted(DEVICE_TYPES))} (SSH only)", field="device_type")
    if spec.egress_ip is not None and not is_ip(spec.egress_ip):
        raise InvalidInput("egress_ip must be an IP address", field="egress_ip")


def _check_egress(db: Session, egress_ip: str | None) -> None:
    if egress_ip is not None and db.scalar(select(EgressProfile.id).where(
            EgressProfile.source_ip == egress_ip)) is None:
        raise InvalidInput(f"egress_ip: {egress_ip} is not a defined egress profile; "
                           "an admin adds it first (POST /api/v1/egress-profiles)",
                           field="egress_ip")


def _check_name_free(db: Session, client_id: int, name: str) -> None:
    """A purged (or deleted) device's name is free again: only live devices hold theirs."""
    if db.scalar(select(Device.id).where(Device.client_id == client_id, Device.name == name,
                                         Device.purged_at.is_(None))) is not None:
        raise Conflict(f"client {client_id} has a device named {name!r} already")


def _engagements(db: Session, client_id: int, ids: tuple[int, ...]) -> list[Engagement]:
    found = []
    for eid in ids:
        eng = db.get(Engagement, eid)
        if eng is None or eng.client_id != client_id:
            raise InvalidInput(f"engagement_ids: {eid} is not an engagement of this client",
                               field="engagement_ids")
        found.append(eng)
    return found


def _check_credentials(creds: DeviceCredentials) -> None:
    if not creds.username.strip():
        raise InvalidInput("credentials.username must not be empty", field="credentials.username")
    if creds.password is None and creds.private_key is None:
        raise InvalidInput("credentials need a password or a private_key")
