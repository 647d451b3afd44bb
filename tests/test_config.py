"""Configuration: TOML plus CUSTODY_* overrides, validated with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from custody.config import find_config_path, load_settings
from custody.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "custody.toml"
    path.write_text(text)
    return path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[server]\nport = 9000\n"), environ={})
    assert settings.server.port == 9000
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'custody.db'}"
    assert settings.path(settings.secrets.local.kek_file) == tmp_path / "var" / "kek.key"
    assert not settings.tls_enabled


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {"CUSTODY_SERVER__PORT": "9443", "CUSTODY_SECRETS__BACKEND": "vault",
           "CUSTODY_SECRETS__VAULT__MOUNT": "kv", "CUSTODY_TEST_VAULT_ADDR": "ignored"}
    settings = load_settings(write(tmp_path, "[server]\nport = 9000\n"), environ=env)
    assert settings.server.port == 9443
    assert settings.secrets.backend == "vault" and settings.secrets.vault.mount == "kv"


@pytest.mark.parametrize(("text", "env", "message"), [
    ("[server]\nport = 'eighty'\n", {}, "server.port: Input should be a valid integer"),
    ("[server]\nprot = 80\n", {}, "server.prot: unknown key"),
    ("[secrets]\nbackend = 'consul'\n", {}, "secrets.backend: Input should be 'local' or 'vault'"),
    ("[server]\nport = 70000\n", {}, "server.port: Input should be less than or equal to 65535"),
    ("", {"CUSTODY_SERVER__WORKERS": "many"}, "server.workers: Input should be a valid integer"),
    ("", {"CUSTODY_NOPE__X": "1"}, "nope: unknown key"),
    ("[server\n", {}, "is not valid TOML"),
])
def test_bad_config_names_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                  message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ=env)
    assert message in str(info.value)


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    text = "[secrets.vault]\ntoken = 12345\n"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    assert "secrets.vault.token" in str(info.value) and "12345" not in str(info.value)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; run `custody init`"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_config_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSTODY_CONFIG", raising=False)
    assert find_config_path(None) == tmp_path / "custody.toml"
    monkeypatch.setenv("CUSTODY_CONFIG", "/etc/custody/custody.toml")
    assert find_config_path(None) == Path("/etc/custody/custody.toml")
    assert find_config_path("x.toml") == Path("x.toml")


def test_example_config_is_valid_and_complete(tmp_path: Path) -> None:
    import tomllib

    from custody.config import Settings

    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    settings = load_settings(example, environ={})
    assert settings.server.host == "127.0.0.1"
    documented = tomllib.loads(example.read_text())

    def keys(model: type, prefix: str = "") -> set[str]:
        out = set()
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                out |= keys(sub, f"{prefix}{name}.")
            elif name != "base_dir":
                out.add(prefix + name)
        return out

    text = example.read_text()

    def present(dotted: str) -> bool:
        section, _, key = dotted.rpartition(".")
        node = documented
        for part in section.split("."):
            node = node.get(part, {})
        return key in node or f"# {key} =" in text

    missing = sorted(k for k in keys(Settings) if not present(k))
    assert not missing, f"config.example.toml does not document: {missing}"


def test_list_settings_come_from_the_environment_as_json_lists() -> None:
    settings = load_settings(None, environ={
        "CUSTODY_CERTS__ALLOWED_KEY_TYPES": '["rsa-3072", "ecdsa-p256"]'})
    assert settings.certs.allowed_key_types == ["rsa-3072", "ecdsa-p256"]
    with pytest.raises(ConfigError, match="CUSTODY_CERTS__ALLOWED_KEY_TYPES: not a JSON list"):
        load_settings(None, environ={"CUSTODY_CERTS__ALLOWED_KEY_TYPES": '["rsa-3072"'})
    with pytest.raises(ConfigError, match=r"certs\.allowed_key_types\.0"):  # not an allowed value
        load_settings(None, environ={"CUSTODY_CERTS__ALLOWED_KEY_TYPES": '["rsa-1024"]'})
