"""The ``custody`` command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from custody.config import Settings, find_config_path, load_settings
from custody.db import transaction
from custody.errors import ConfigError, CustodyError

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True)

CONFIG_TEMPLATE = """\
# custody configuration. Every key is documented in config.example.toml;
# environment variables override it (CUSTODY_SECTION__KEY, e.g. CUSTODY_SERVER__PORT).

[server]
host = "127.0.0.1"
port = {port}
# tls_cert = "var/tls/cert.pem"
# tls_key = "var/tls/key.pem"

[database]
url = "sqlite:///var/custody.db"

[secrets]
backend = "local"

[secrets.local]
path = "var/secrets.db"
kek_file = "var/kek.key"

[mail]
host = "127.0.0.1"
port = 25
security = "none"
sender = "custody@localhost"
"""


def handle_errors(fn: F) -> F:
    """Turn domain errors into a one-line message and a non-zero exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except CustodyError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(find_config_path(obj.get("config")))
        from custody.logs import configure_logging

        configure_logging(obj["settings"].logging.level, obj["settings"].logging.format)
    settings: Settings = obj["settings"]
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False),
              help="Config file (default: $CUSTODY_CONFIG, else ./custody.toml).")
@click.version_option(package_name="custody")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """custody: credential-blind device access, certificate custody, pseudonymized
    alerts and automatic purging for managed IT providers."""
    ctx.ensure_object(dict)["config"] = config


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Where to create the installation.")
@click.option("--admin", "admin_name", default="admin", show_default=True,
              help="Username of the first admin.")
@click.option("--port", default=8080, show_default=True, help="Port written into the config.")
@handle_errors
def init(directory: Path, admin_name: str, port: int) -> None:
    """Create config, keys, database and the first admin (its password is printed once)."""
    password = initialize(directory, admin_name, port)
    click.echo(f"created {directory / 'custody.toml'} and {directory / 'var'}/")
    click.echo(f"first admin: {admin_name}")
    click.echo(f"one-time password (shown once, change it at first login): {password}")


def initialize(directory: Path, admin_name: str, port: int = 8080) -> str:
    """Write the installation into ``directory``; return the first admin's one-time password."""
    from custody.secrets.local import generate_kek_file
    from custody.services import build_services

    config_path = directory / "custody.toml"
    if config_path.exists():
        raise ConfigError(f"{config_path} exists already; custody init never overwrites it")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "var").mkdir(mode=0o700, exist_ok=True)
    kek = directory / "var" / "kek.key"
    if not kek.exists():
        generate_kek_file(kek)
    config_path.write_text(CONFIG_TEMPLATE.format(port=port), encoding="utf-8")
    settings = load_settings(config_path)
    services = build_services(settings)
    with transaction(services.db) as db:
        _, password = services.accounts.create_user(db, "cli:init", admin_name, "admin")
    assert password is not None
    services.engine.dispose()
    return password


@main.command()
@click.option("--host", default=None, help="Address to bind (default: server.host).")
@click.option("--port", type=int, default=None, help="Port (default: server.port).")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Apply migrations and serve the web app and API."""
    settings = settings_from(ctx)
    serve_settings(settings, host or settings.server.host,
                   settings.server.port if port is None else port)


def serve_settings(settings: Settings, host: str, port: int) -> None:
    from custody import server
    from custody.db import make_engine, migrate
    from custody.jobs.broker import start_broker_process
    from custody.secrets.factory import build_secret_store

    server.check_bind(settings, host)
    build_secret_store(settings).check()  # a bad key or an unreachable Vault stops start-up
    engine = make_engine(settings.database_url)
    migrate(engine)
    engine.dispose()
    start_broker_process(settings)

    def factory() -> Any:
        from custody.logs import configure_logging
        from custody.services import build_services
        from custody.web import create_app

        configure_logging(settings.logging.level, settings.logging.format)
        return create_app(services=build_services(settings, run_migrations=False,
                                                  remote_broker=True))

    click.echo(f"custody listening on {server.url_for_bind(settings, host, port)}", err=False)
    sys.stdout.flush()
    server.run(settings, host, port, factory)


@main.command()
@click.pass_context
@handle_errors
def broker(ctx: click.Context) -> None:
    """Run the session broker alone (`serve` starts one itself)."""
    from custody.jobs.broker import run_broker

    run_broker(settings_from(ctx))


@main.command()
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("custody-demo"), show_default=True)
@click.option("--tls/--no-tls", default=False, help="Serve HTTPS with a self-signed certificate.")
@handle_errors
def demo(port: int, directory: Path, tls: bool) -> None:
    """Run a self-contained demo on embedded defaults with a sample client."""
    from custody.demo import prepare_demo

    settings, notes = prepare_demo(directory, port, tls)
    for line in notes:
        click.echo(line)
    serve_settings(settings, "127.0.0.1", port)


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "technician", "client"]), required=True)
@click.option("--client", "client_id", type=int, help="Client id (for --role client).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_context
@handle_errors
def user_create(ctx: click.Context, username: str, role: str, client_id: int | None,
                password_stdin: bool) -> None:
    """Create a user; without --password-stdin a one-time password is printed."""
    from custody.services import build_services

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    services = build_services(settings_from(ctx))
    with transaction(services.db) as db:
        created, generated = services.accounts.create_user(db, "cli", username, role, client_id,
                                                           password)
    click.echo(f"created {role} {created.username} (id {created.id})")
    if generated:
        click.echo(f"one-time password (shown once): {generated}")


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="", help="A label to recognise the token by.")
@click.pass_context
@handle_errors
def token_create(ctx: click.Context, username: str, name: str) -> None:
    """Print a new API token for USERNAME (shown once; only its hash is stored)."""
    from custody.services import build_services

    services = build_services(settings_from(ctx))
    with transaction(services.db) as db:
        value = services.accounts.create_token(db, "cli", username, name)
    click.echo(value)


@main.group()
def audit() -> None:
    """Inspect the audit log."""


@audit.command("verify")
@click.pass_context
@handle_errors
def audit_verify(ctx: click.Context) -> None:
    """Check the hash chain; exit 1 naming the first changed, inserted or deleted row."""
    from custody.audit.service import verify_chain
    from custody.services import build_services

    services = build_services(settings_from(ctx))
    with err.status("verifying audit chain…") as status, transaction(services.db) as db:
        result = verify_chain(db, lambda n: status.update(f"verified {n} events…"))
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} events")
    else:
        click.echo(f"audit chain BROKEN: {result.problem}", err=True)
        sys.exit(1)
