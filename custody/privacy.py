"""The privacy notice clients read in the portal: its version and what it promises.

The text is built from the installation's settings, so the retention periods it
states are the ones this service applies.
"""

from __future__ import annotations

from custody.config import Settings

NOTICE_VERSION = "2026-11-23"


def notice(settings: Settings) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs of the notice."""
    grace = settings.purge.grace_days
    return [
        ("What we hold", "Your company's name, the contacts you gave us with the purposes you "
         "agreed to, the services we do for you, the devices we look after, the certificates "
         "we issued to you, and pseudonymized monitoring alerts."),
        ("Device access", "Credentials for your devices are held encrypted; no technician ever "
         "sees them. Every session has a reason, a time limit, and a transcript."),
        ("When it is destroyed", "Access data of a device is destroyed once every service that "
         f"covers it is paid and its warranty has ended{f', plus {grace} days' if grace else ''}."
         " You get a receipt of what was destroyed."),
        ("Alerts", "Alerts are pseudonymized before they are stored or mailed and deleted after "
         f"{settings.alerts.retention_days} days; their keys are destroyed after "
         f"{settings.alerts.key_retention_days} days."),
        ("Certificates", "Certificates we issue are yours. We keep no copy of their private "
         "keys."),
        ("Your rights", "Download your data below, correct a contact, withdraw a consent, "
         "restrict processing, or ask us to erase your data: each takes effect here, at once "
         "or after our confirmation, and is recorded in our audit log."),
    ]
