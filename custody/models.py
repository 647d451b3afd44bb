"""Import every model so that ``metadata`` knows all tables (for Alembic)."""

from __future__ import annotations

from custody.accounts.models import ApiToken, User, WebSession
from custody.alerts.models import AlertSource, Notification, OutboxMessage
from custody.audit.models import AuditEvent, AuditHead
from custody.certs.models import Certificate, CertificateAuthority, CrlEntry
from custody.clients.models import Client, Contact, Engagement
from custody.cluster.models import Node, NodeAuthority
from custody.db import Base
from custody.devices.models import (
    AccessSession,
    ClientPolicy,
    Device,
    EgressProfile,
    TranscriptChunk,
)
from custody.purge.models import Hold, PurgeReceipt, PurgeRun
from custody.ratelimit import RateCounter
from custody.scheduling import ScheduledJob

metadata = Base.metadata

__all__ = [
    "AccessSession", "AlertSource", "ApiToken", "AuditEvent", "AuditHead", "Certificate",
    "CertificateAuthority", "Client", "ClientPolicy", "Contact", "CrlEntry", "Device",
    "EgressProfile", "Engagement", "Hold", "Node", "NodeAuthority", "Notification",
    "OutboxMessage", "PurgeReceipt",
    "PurgeRun", "RateCounter", "ScheduledJob", "TranscriptChunk", "User", "WebSession", "metadata",
]
