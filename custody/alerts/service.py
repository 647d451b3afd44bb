"""The alert services, one per job, built together (ingest and re-identification share the
pseudonymizers): sources, ingest, the outbox, retention, re-identification and history."""

from __future__ import annotations

from dataclasses import dataclass

from custody.alerts.delivery import Outbox
from custody.alerts.engines import Engines
from custody.alerts.history import AlertHistory
from custody.alerts.ingest import AlertIngest
from custody.alerts.reidentify import Reidentification
from custody.alerts.retention import AlertRetention
from custody.alerts.sources import AlertSources
from custody.audit.service import AuditLog
from custody.clock import Clock
from custody.config import AlertSettings
from custody.mail import Mailer
from custody.secrets import SecretStore


@dataclass(frozen=True)
class Alerts:
    sources: AlertSources
    engines: Engines
    ingest: AlertIngest
    outbox: Outbox
    retention: AlertRetention
    reidentification: Reidentification
    history: AlertHistory


def build_alerts(secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 settings: AlertSettings, mailer: Mailer, signing_key: bytes, public_url: str,
                 mail_domain: str = "localhost") -> Alerts:
    engines = Engines(secrets_store, clock, settings)
    sources = AlertSources(audit, clock)
    return Alerts(
        sources=sources,
        engines=engines,
        ingest=AlertIngest(sources, engines, clock, settings),
        outbox=Outbox(audit, clock, settings, mailer, signing_key, public_url, mail_domain),
        retention=AlertRetention(secrets_store, audit, clock, settings),
        reidentification=Reidentification(engines, audit),
        history=AlertHistory(audit),
    )
