"""The alert payload formats custody reads: a vocabulary light enough for the CLI to load."""

from __future__ import annotations

from enum import StrEnum


class SourceKind(StrEnum):
    """The alert payload formats custody reads (and an alert source is declared as)."""

    ALERTMANAGER = "alertmanager"  # Prometheus Alertmanager webhook v4
    GRAFANA = "grafana"  # Grafana unified alerting webhook
    ZABBIX = "zabbix"  # contrib/zabbix media type
    GENERIC = "generic"  # any JSON
