"""Pick the configured SecretStore implementation."""

from __future__ import annotations

from collections.abc import Callable

from custody.config import Settings
from custody.secrets import SecretStore


def _local(settings: Settings) -> SecretStore:
    from custody.secrets.local import LocalSecretStore, load_kek

    cfg = settings.secrets.local
    return LocalSecretStore(settings.path(cfg.path), load_kek(settings.path(cfg.kek_file), cfg.kek_env))


def _vault(settings: Settings) -> SecretStore:
    from custody.secrets.vault import VaultSecretStore

    return VaultSecretStore(settings.secrets.vault)


BACKENDS: dict[str, Callable[[Settings], SecretStore]] = {"local": _local, "vault": _vault}


def build_secret_store(settings: Settings) -> SecretStore:
    """Build the backend that ``secrets.backend`` names."""
    return BACKENDS[settings.secrets.backend](settings)
