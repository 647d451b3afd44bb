"""Turn domain objects into their response models; what a client user sees is chosen here."""

from __future__ import annotations

from custody.accounts.models import ApiToken, User
from custody.accounts.service import Principal
from custody.clients.models import Client, Contact, Engagement
from custody.devices.models import Device
from custody.web.schemas import ClientOut, ContactOut, DeviceOut, EngagementOut, TokenOut, UserOut


def client_out(c: Client) -> ClientOut:
    return ClientOut(id=c.id, name=c.name, status=c.status, created_at=c.created_at,
                     closed_at=c.closed_at,
                     processing_restricted=c.processing_restricted_at is not None,
                     erasure_requested_at=c.erasure_requested_at,
                     erasure_confirmed_at=c.erasure_confirmed_at)


def contact_out(c: Contact) -> ContactOut:
    return ContactOut(id=c.id, client_id=c.client_id, kind=c.kind, value=c.value,
                      purposes=list(c.purposes), verified=c.verified_at is not None,
                      verified_at=c.verified_at, unsubscribed_at=c.unsubscribed_at)


def engagement_out(e: Engagement) -> EngagementOut:
    return EngagementOut(id=e.id, client_id=e.client_id, title=e.title, paid_at=e.paid_at,
                         warranty_until=e.warranty_until, closed_at=e.closed_at,
                         device_ids=sorted(d.id for d in e.devices))


def device_out(d: Device, who: Principal) -> DeviceOut:
    """Staff see addresses; a client sees its device names and state only. Nobody sees secrets."""
    staff = {"host": d.host, "port": d.port, "egress_ip": d.egress_ip,
             "has_credentials": d.secret_path is not None,
             "host_key_pinned": d.host_key is not None} if who.is_staff else {}
    return DeviceOut(id=d.id, client_id=d.client_id, name=d.name, device_type=d.device_type,
                     access_state=d.access_state, purged_at=d.purged_at,
                     engagement_ids=sorted(e.id for e in d.engagements), **staff)


def user_out(u: User) -> UserOut:
    return UserOut(id=u.id, username=u.username, role=u.role, client_id=u.client_id,
                   can_read_transcripts=u.can_read_transcripts,
                   totp_enabled=u.totp_secret_path is not None,
                   state=u.state,
                   created_at=u.created_at, disabled_at=u.disabled_at)


def token_fields(t: ApiToken) -> dict[str, object]:
    return {"id": t.id, "user_id": t.user_id, "name": t.name, "created_at": t.created_at,
            "expires_at": t.expires_at, "last_used_at": t.last_used_at,
            "revoked_at": t.revoked_at}


def token_out(t: ApiToken) -> TokenOut:
    return TokenOut.model_validate(token_fields(t))
