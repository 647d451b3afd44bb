"""The ``custody`` command line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from custody.accounts.roles import STAFF, Role
from custody.alerts.kinds import SourceKind
from custody.errors import ConfigError, CustodyError

if TYPE_CHECKING:  # the rest is imported by the commands that use it: `custody --help` stays fast
    from rich.console import Console
    from sqlalchemy.orm import Session, sessionmaker

    from custody.config import Settings
    from custody.services import Services

F = TypeVar("F", bound=Callable[..., Any])


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def transaction(factory: sessionmaker[Session]) -> AbstractContextManager[Session]:
    """custody.db.transaction, imported when a command needs the database."""
    from custody.db import transaction as database_transaction

    return database_transaction(factory)


def load_settings(path: Path | None) -> Settings:
    from custody.config import load_settings as load

    return load(path)

CONFIG_TEMPLATE = """\
# custody configuration. Every key is documented in config.example.toml;
# environment variables override it (CUSTODY_SECTION__KEY, e.g. CUSTODY_SERVER__PORT).

[server]
host = "127.0.0.1"
port = {port}
# Where links in e-mails (verification, unsubscribe) point: the address clients reach.
base_url = "http://127.0.0.1:{port}"
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
        except Exception as exc:
            from custody.db import storage_full

            if not storage_full(exc):
                raise
            click.echo("error: the disk that holds custody's data is full: free some space "
                       "and run this again (nothing was changed)", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        from custody.config import find_config_path

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
    from custody.files import private_umask

    private_umask()  # every file custody writes is for its own user only
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
        if settings.certs.backend == "builtin":  # a fresh install can issue at once
            services.certs.init_root(db, "cli:init")
    if password is None:  # create_user makes one when none is given
        raise ConfigError("the admin account was created without a password")
    services.engine.dispose()
    return password


@main.command()
@click.option("--host", default=None, help="Address to bind (default: server.host).")
@click.option("--port", type=int, default=None, help="Port (default: server.port).")
@click.option("--join", "join_token", default=None, metavar="TOKEN",
              help="Join the cluster as the node this token names (from `custody node add`).")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str | None, port: int | None, join_token: str | None
          ) -> None:
    """Apply migrations and serve the web app and API."""
    settings = settings_from(ctx)
    token = join_token or (settings.node.join_token.get_secret_value()
                           if settings.node.join_token else None)
    serve_settings(settings, host or settings.server.host,
                   settings.server.port if port is None else port, token)


def join_cluster(settings: Settings, token: str | None) -> Settings:
    """Use a join token (this node gets a new key and certificate; one it has already is
    replaced, as `custody node add` for an existing node means); a used-up token leaves
    the certificate there. Return the settings with the node's name as its certificate
    says."""
    from custody.cluster.identity import join, name_in, require_identity
    from custody.errors import Unauthorized
    from custody.services import build_services

    folder = settings.path(settings.node.dir)
    name = name_in(folder)
    if token:
        services = build_services(settings, run_migrations=False)
        try:
            name = join(settings, services.db, services.nodes, token).name
            click.echo(f"joined as node {name}; its key and certificate are in {folder}",
                       err=True)
        except Unauthorized:
            if name is None:
                raise
            # Started again with the token it joined with: it keeps the certificate it has.
            click.echo(f"node {name} has joined already; this join token is used up",
                       err=True)
        finally:
            services.engine.dispose()
    if name and not settings.node.name:
        settings = settings.model_copy(update={
            "node": settings.node.model_copy(update={"name": name})})
    if settings.node.listen:
        require_identity(settings)
    return settings


def serve_settings(settings: Settings, host: str, port: int, join_token: str | None = None
                   ) -> None:
    from custody import server
    from custody.db import make_engine, migrate
    from custody.devices.broker_net import claim_socket
    from custody.files import tighten
    from custody.jobs.broker import start_broker_process
    from custody.secrets.factory import build_secret_store

    server.check_bind(settings, host)
    for change in tighten(settings):
        click.echo(f"tightened {change}", err=True)
    if not settings.server.base_url:
        click.echo(f"warning: server.base_url is not set; links in e-mails point to "
                   f"{settings.public_url}", err=True)
    build_secret_store(settings).check()  # a bad key or an unreachable Vault stops start-up
    claim_socket(settings.path(settings.broker.socket))  # not another serve's broker
    engine = make_engine(settings.database_url, settings.database.synchronous)
    migrate(engine)
    engine.dispose()
    settings = join_cluster(settings, join_token)
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
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--client", "client_id", type=int, help="Client id (for --role client).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_context
@handle_errors
def user_create(ctx: click.Context, username: str, role: str, client_id: int | None,
                password_stdin: bool) -> None:
    """Create a user; without --password-stdin a one-time password is printed."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with built_services(ctx) as services, transaction(services.db) as db:
        created, generated = services.accounts.create_user(db, "cli", username, role, client_id,
                                                           password)
    click.echo(f"created {role} {created.username} (id {created.id})")
    if generated:
        click.echo(f"one-time password (shown once): {generated}")


@contextmanager
def built_services(ctx: click.Context) -> Iterator[Services]:
    """The services for one command, their database connections closed after it."""
    from custody.services import build_services

    services = build_services(settings_from(ctx))
    try:
        yield services
    finally:
        services.engine.dispose()


def _user_row(u: Any) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "role": u.role, "client_id": u.client_id,
            "state": u.state,
            "totp": u.totp_secret_path is not None,
            "can_read_transcripts": u.can_read_transcripts,
            "created_at": u.created_at.isoformat()}


def _print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    import json

    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("-" if row[c] is None else str(row[c]) for c in columns))
    Console().print(table)


def _user_action(ctx: click.Context, username: str, action: str, as_json: bool,
                 **options: Any) -> None:
    """Run one lifecycle step on USERNAME as the CLI operator; print what it did."""
    import json

    from custody.accounts.service import Principal

    who = Principal.operator("cli")
    with built_services(ctx) as services, transaction(services.db) as db:
        user = services.accounts.find_user(db, who, username)
        ended = getattr(services.accounts, action)(db, who, user.id, **options)
        row = _user_row(user)
    ended = ended if isinstance(ended, dict) else {}
    if as_json:
        click.echo(json.dumps({"user": row, "ended": ended}, indent=2))
        return
    click.echo(f"{row['username']} (id {row['id']}): {row['role']}, {row['state']}")
    for what, count in ended.items():
        click.echo(f"  {what.replace('_', ' ')}: {count}")


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@user.command("list")
@JSON_OPTION
@click.pass_context
@handle_errors
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List users with their role and state."""
    from custody.accounts.service import Principal

    with built_services(ctx) as services, transaction(services.db) as db:
        rows = [_user_row(u) for u in services.accounts.list_users(db, Principal.operator("cli"))]
    _print_rows(rows, ["id", "username", "role", "client_id", "state", "totp"], as_json)


@user.command("disable")
@click.argument("username")
@JSON_OPTION
@click.pass_context
@handle_errors
def user_disable(ctx: click.Context, username: str, as_json: bool) -> None:
    """Lock USERNAME out now: tokens, web and device sessions end, approvals are cancelled."""
    _user_action(ctx, username, "disable_user", as_json)


@user.command("enable")
@click.argument("username")
@JSON_OPTION
@click.pass_context
@handle_errors
def user_enable(ctx: click.Context, username: str, as_json: bool) -> None:
    """Let a disabled USERNAME sign in again (old tokens stay revoked)."""
    _user_action(ctx, username, "enable_user", as_json)


@user.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@click.pass_context
@handle_errors
def user_delete(ctx: click.Context, username: str, yes: bool, as_json: bool) -> None:
    """Disable USERNAME and remove their personal data (the audit log keeps their id)."""
    if not yes:
        click.confirm(f"Delete {username} for good?", abort=True, err=True)
    _user_action(ctx, username, "delete_user", as_json)


@user.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in STAFF]))
@JSON_OPTION
@click.pass_context
@handle_errors
def user_set_role(ctx: click.Context, username: str, role: str, as_json: bool) -> None:
    """Make staff user USERNAME an admin or a technician."""
    _user_action(ctx, username, "set_role", as_json, role=role)


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="", help="A label to recognise the token by.")
@click.option("--days", type=int, default=None,
              help="Lifetime in days (default: security.token_days, 90).")
@click.pass_context
@handle_errors
def token_create(ctx: click.Context, username: str, name: str, days: int | None) -> None:
    """Print a new API token for USERNAME (shown once; only its hash is stored)."""
    with built_services(ctx) as services, transaction(services.db) as db:
        value = services.tokens.create(db, "cli", username, name, days)
    click.echo(value)


@token.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@JSON_OPTION
@click.pass_context
@handle_errors
def token_list(ctx: click.Context, username: str | None, as_json: bool) -> None:
    """List API tokens (never their secrets) with expiry and last use."""
    from custody.accounts.service import Principal

    who = Principal.operator("cli")
    with built_services(ctx) as services, transaction(services.db) as db:
        owner = services.accounts.find_user(db, who, username).id if username else None
        names = {u.id: u.username for u in services.accounts.list_users(db, who)}
        rows = [{"id": t.id, "user": names.get(t.user_id), "name": t.name,
                 "created_at": t.created_at.isoformat(),
                 "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                 "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                 "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
                for t in services.tokens.list(db, who, everyone=True)
                if owner is None or t.user_id == owner]
    _print_rows(rows, ["id", "user", "name", "expires_at", "last_used_at", "revoked_at"],
                as_json)


@token.command("revoke")
@click.argument("token_id", type=int)
@JSON_OPTION
@click.pass_context
@handle_errors
def token_revoke(ctx: click.Context, token_id: int, as_json: bool) -> None:
    """Revoke token TOKEN_ID (see `custody token list`)."""
    import json

    from custody.accounts.service import Principal

    with built_services(ctx) as services, transaction(services.db) as db:
        row = services.tokens.revoke(db, Principal.operator("cli"), token_id)
        out = {"id": row.id, "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
    click.echo(json.dumps(out) if as_json else f"token {out['id']} revoked")


@main.group()
def audit() -> None:
    """Inspect the audit log."""


@audit.command("verify")
@click.pass_context
@handle_errors
def audit_verify(ctx: click.Context) -> None:
    """Check the hash chain; exit 1 naming the first changed, inserted or deleted row."""
    from custody.audit.service import verify_chain

    with built_services(ctx) as services, stderr().status("verifying audit chain…") as status, \
            transaction(services.db) as db:
        result = verify_chain(db, lambda n: status.update(f"verified {n} events…"))
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} events")
    else:
        click.echo(f"audit chain BROKEN: {result.problem}", err=True)
        sys.exit(1)


@main.group()
def purge() -> None:
    """See and run the purge schedule (DESIGN §4)."""


@purge.command("plan")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@handle_errors
def purge_plan(ctx: click.Context, as_json: bool) -> None:
    """Show what will be destroyed, when and why."""
    import json

    from rich.table import Table
    from sqlalchemy import select

    from custody.clients.models import Client

    with built_services(ctx) as services, transaction(services.db) as db:
        items = services.purge.plan(db)
        clients = {cid: name for cid, name in db.execute(select(Client.id, Client.name))}
    if as_json:
        click.echo(json.dumps([{"kind": i.kind, "target": i.target, "name": i.name,
                                "client_id": i.client_id, "client": clients.get(i.client_id),
                                "state": i.state, "reason": i.reason,
                                "due_at": i.due_at.isoformat() if i.due_at else None}
                               for i in items], indent=2))
        return
    table = Table("due", "state", "client", "target", "name", "why")
    for i in sorted(items, key=lambda i: (i.due_at is None, i.due_at)):
        table.add_row(f"{i.due_at:%Y-%m-%d}" if i.due_at else "-", i.state,
                      clients.get(i.client_id, str(i.client_id)), i.target, i.name, i.reason)
    from rich.console import Console

    Console().print(table)


SHOWN_BEFORE_CONFIRM = 20


@purge.command("run")
@click.option("--dry-run", is_flag=True, help="Only list what would be destroyed.")
@click.option("--yes", is_flag=True,
              help="Destroy without asking (scripts; without a terminal it is required).")
@click.pass_context
@handle_errors
def purge_run(ctx: click.Context, dry_run: bool, yes: bool) -> None:
    """Destroy everything that is due now, leaving a receipt for each target.

    On a terminal it first lists what is due and asks; without one it refuses unless
    --yes is given. The scheduler's sweeps never ask."""
    from rich.progress import Progress

    if not dry_run and not yes and not _confirm_purge(ctx):
        return
    with built_services(ctx) as services, Progress(console=stderr(), transient=True) as progress:
        task = progress.add_task("purging", total=None)
        result = services.purge.run("cli", dry_run=dry_run, trigger="cli",
                                    progress=lambda n, total: progress.update(
                                        task, completed=n, total=total))
    if not result.receipts:
        click.echo("nothing is due")
    for r in result.receipts:
        if dry_run:
            click.echo(f"would destroy {r['target']}: {r['reason']}")
        else:
            counts = ", ".join(f"{k}={v}" for k, v in sorted(r["counts"].items()) if v)
            click.echo(f"receipt {r['id']}: {r['kind']} {r['target_id']} destroyed ({counts})")


def _confirm_purge(ctx: click.Context) -> bool:
    """List what a run would destroy now and ask; False when nothing is due. Refuses
    (exit 1, nothing destroyed) when nobody is there to ask or the answer is no."""
    with built_services(ctx) as services:
        due = services.purge.run("cli", dry_run=True, trigger="cli").receipts
    if not due:
        click.echo("nothing is due")
        return False
    if not sys.stdin.isatty():
        click.echo(f"error: refusing to destroy {len(due)} target(s) without a confirmation: "
                   "run this on a terminal, or pass --yes (nothing was destroyed)", err=True)
        sys.exit(1)
    for item in due[:SHOWN_BEFORE_CONFIRM]:
        click.echo(f"  {item['target']}: {item['reason']}")
    if len(due) > SHOWN_BEFORE_CONFIRM:
        click.echo(f"  ... and {len(due) - SHOWN_BEFORE_CONFIRM} more (custody purge plan)")
    if not click.confirm(f"Destroy the access data of these {len(due)} target(s) now? "
                         "It cannot be undone", default=False):
        click.echo("nothing was destroyed", err=True)
        sys.exit(1)
    return True


@main.group("import")
def import_() -> None:
    """Import data from files."""


@import_.command("devices")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Show how the purge plan would change; keep nothing.")
@click.pass_context
@handle_errors
def import_devices(ctx: click.Context, file: Any, dry_run: bool) -> None:
    """Set devices' engagements, payment and warranty dates from CSV
    (columns: client,device,engagement,paid_at,warranty_until)."""
    from custody.accounts.service import Principal
    from custody.db import finish
    from custody.purge.importer import DatesImporter, parse

    rows = parse(file.read())
    with built_services(ctx) as services, services.db() as db:
        importer = DatesImporter(services.audit, services.clock,
                                 services.settings.purge.grace_days)
        result = importer.apply(db, Principal.operator("cli"), rows, dry_run)
        finish(db, ok=not dry_run)  # a dry run rolls back whatever it tried
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {result.rows} rows ({result.engagements_created} new engagements)")
    for change in result.changes:
        click.echo(f"  {change.device}: {change.before} -> {change.after}")


@main.command()
@click.pass_context
@handle_errors
def scheduler(ctx: click.Context) -> None:
    """Run the scheduled jobs (purge sweep, retention, notices) as their own process.

    With PostgreSQL, start it on several nodes: one is active, the others stand by."""
    import signal
    import threading

    from custody.jobs.scheduler import run_scheduler
    from custody.services import build_services

    services = build_services(settings_from(ctx), remote_broker=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("custody scheduler started")
    run_scheduler(services, stop)


@main.group()
def node() -> None:
    """The nodes of a cluster (several `custody serve` on one database)."""


@node.command("add")
@click.argument("name")
@click.pass_context
@handle_errors
def node_add(ctx: click.Context, name: str) -> None:
    """Print a one-time join token for node NAME (good for 24 hours): start that node with
    CUSTODY_NODE__JOIN_TOKEN=TOKEN custody serve (or `--join TOKEN`, which the process list
    shows to every user). Adding an existing name lets that node join again."""
    with built_services(ctx) as services, transaction(services.db) as db:
        token = services.nodes.add(db, "cli", name)
    click.echo(token)


@node.command("list")
@JSON_OPTION
@click.pass_context
@handle_errors
def node_list(ctx: click.Context, as_json: bool) -> None:
    """List the nodes: address, last heartbeat, whether their lease holds."""
    with built_services(ctx) as services, transaction(services.db) as db:
        rows = [{"name": n.name, "address": n.address,
                 "state": services.nodes.state(db, n),
                 "heartbeat_at": n.heartbeat_at.isoformat() if n.heartbeat_at else None,
                 "cert_not_after": n.cert_not_after.isoformat() if n.cert_not_after else None}
                for n in services.nodes.all(db)]
    _print_rows(rows, ["name", "address", "state", "heartbeat_at", "cert_not_after"], as_json)


@node.command("remove")
@click.argument("name")
@click.pass_context
@handle_errors
def node_remove(ctx: click.Context, name: str) -> None:
    """Stop accepting node NAME's certificate; the sessions it holds end as failed."""
    with built_services(ctx) as services, transaction(services.db) as db:
        failed = services.nodes.remove(db, "cli", name)
    click.echo(f"node {name} removed" + (f"; sessions {', '.join(map(str, failed))} ended"
                                         if failed else ""))


@main.group()
def ca() -> None:
    """Certificate authorities."""


@ca.command("init")
@click.option("--name", default="custody root CA", show_default=True)
@click.pass_context
@handle_errors
def ca_init(ctx: click.Context, name: str) -> None:
    """Create the provider's root CA (clients' issuing CAs follow on first issuance)."""
    with built_services(ctx) as services, transaction(services.db) as db:
        root = services.certs.init_root(db, "cli", name)
    # Only now, committed: a closed pipe cannot make a printed CA roll back.
    click.echo(f"root CA {root.id} created, valid until {root.not_after:%Y-%m-%d}")
    click.echo(root.cert_pem, nl=False)


@main.group()
def alerts() -> None:
    """Monitoring alerts."""


@alerts.command("pseudonymize")
@click.option("--client", "client_name", required=True, help="The client's name.")
@click.option("--kind", type=click.Choice([k.value for k in SourceKind]),
              default=None, help="The payload's format (default: recognised from the payload).")
@click.pass_context
@handle_errors
def alerts_pseudonymize(ctx: click.Context, client_name: str, kind: str | None) -> None:
    """Read an Alertmanager v4, Grafana, Zabbix or generic JSON payload on stdin; write it
    pseudonymized (with the client's key for this period) on stdout."""
    import json

    from sqlalchemy import select

    from custody.alerts.formats import parse_json, pseudonymize
    from custody.clients.models import Client
    from custody.errors import NotFound
    from custody.services import build_alert_tools

    payload = parse_json(sys.stdin.buffer.read())
    tools = build_alert_tools(settings_from(ctx))
    with transaction(tools.db) as db:
        client = db.scalar(select(Client).where(Client.name == client_name))
        if client is None:
            raise NotFound(f"no client named {client_name!r}")
        engine = tools.engines.for_client(db, client.id)
    tools.engine.dispose()
    _, result = pseudonymize(engine, payload, kind)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))
