"""The pages in a real browser: Debian's Chromium driven by Playwright against `custody
serve` on loopback, with the sshd test device behind the broker.

Every page is opened at 360 px and at desktop width, screenshotted under the test's
tmp dir, checked for a laid-out body, for console errors, and for requests to any
host but the server itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from custody.accounts.service import Principal
from custody.cli import initialize
from custody.config import load_settings
from custody.db import transaction
from custody.services import build_services
from tests.peers import DEVICE_PASSWORD, DEVICE_USER, SshDevice, free_port
from tests.served import running

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e .[test]")
CHROMIUM = Path("/usr/bin/chromium")
PASSWORDS = {"boss": "Boss-Pass-12345", "tina": "Tina-Pass-12345",
             "carla": "Carla-Pass-12345", "bruno": "Bruno-Pass-12345"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture
def database_url() -> str:
    return "unused"  # this module runs its own installation


@dataclass
class Site:
    base: str
    port: int
    client_a: int
    client_b: int
    device_a: str
    device_b: str
    shots: Path
    foreign: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An installation with two clients, their users, and the sshd device for client A."""
    root = tmp_path_factory.mktemp("browser")
    directory = root / "site"
    port = free_port()
    initialize(directory, "setup", port)
    svc = build_services(load_settings(directory / "custody.toml", environ={}))
    with transaction(svc.db) as db:
        a = svc.clients.create_client(db, "test", "Acme Hydraulics")
        b = svc.clients.create_client(db, "test", "Globex Canary-B")
        svc.accounts.create_user(db, "test", "boss", "admin", password=PASSWORDS["boss"])
        svc.accounts.create_user(db, "test", "tina", "technician", password=PASSWORDS["tina"])
        svc.accounts.create_user(db, "test", "carla", "client", a.id, PASSWORDS["carla"])
        svc.accounts.create_user(db, "test", "bruno", "client", b.id, PASSWORDS["bruno"])
        token = svc.tokens.create(db, "test", "boss")
        svc.clients.add_contact(db, Principal(0, "test", "admin", None), a.id, "email",
                                "ops@acme.example", ["alerts"])
        ids = (a.id, b.id)
    svc.engine.dispose()
    device = SshDevice(allowed_source="127.0.0.2")
    try:
        with running(["serve"], directory, port):
            base = f"http://127.0.0.1:{port}"
            admin = {"Authorization": f"Bearer {token}"}
            requests.post(base + "/api/v1/egress-profiles", headers=admin, timeout=30,
                          json={"name": "loopback", "source_ip": "127.0.0.2"}).raise_for_status()
            for client_id, name in ((ids[0], "edge-router-acme"), (ids[1], "core-globex-ZZCANARYB")):
                _enrol(base, admin, client_id, name, device)
            yield Site(base, port, ids[0], ids[1], "edge-router-acme", "core-globex-ZZCANARYB",
                       root / "screenshots")
    finally:
        device.cleanup()


def _enrol(base: str, admin: dict[str, str], client_id: int, name: str,
           device: SshDevice) -> None:
    def call(method: str, path: str, **kw: Any) -> requests.Response:
        resp = requests.request(method, base + path, headers=admin, timeout=60, **kw)
        assert resp.status_code < 300, resp.text
        return resp
    engagement = call("POST", f"/api/v1/clients/{client_id}/engagements",
                      json={"title": f"Network care for {name}"}).json()
    made = call("POST", "/api/v1/devices", json={
        "client_id": client_id, "name": name, "host": "127.0.0.1", "port": device.port,
        "device_type": "linux", "egress_ip": "127.0.0.2", "engagement_ids": [engagement["id"]],
        "credentials": {"username": DEVICE_USER, "password": DEVICE_PASSWORD}}).json()
    scan = call("POST", f"/api/v1/devices/{made['id']}/host-key/scan").json()
    call("POST", f"/api/v1/devices/{made['id']}/host-key",
         json={"fingerprint": scan["pending_fingerprint"]})


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup-system")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors and requests to other hosts are collected."""

    def __init__(self, page: Any, site: Site) -> None:
        self.page = page
        self.errors: list[str] = []
        self.foreign: list[str] = []
        own = (f"127.0.0.1:{site.port}",)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.split("/")[2] in own or r.url.startswith(
            ("data:", "blob:")) else self.foreign.append(r.url))


@pytest.fixture(scope="module")
def signed_in() -> dict[str, Any]:
    """Each user's cookies after one real login: the login rate limit stays untouched."""
    return {}


@pytest.fixture
def open_as(browser: Any, site: Site, signed_in: dict[str, Any]) -> Iterator[Any]:
    contexts: list[Any] = []

    def login(username: str, width: int = 1280) -> Watched:
        context = browser.new_context(viewport={"width": width, "height": 800},
                                      accept_downloads=True,
                                      storage_state=signed_in.get(username))
        contexts.append(context)
        watched = Watched(context.new_page(), site)
        page = watched.page
        if username in signed_in:
            page.goto(site.base + "/")
        else:
            page.goto(site.base + "/login")
            page.fill("#username", username)
            page.fill("#password", PASSWORDS[username])
            page.click("button[type=submit]")
            signed_in[username] = context.storage_state()
        page.wait_for_load_state("networkidle")
        assert "/login" not in page.url, page.content()
        return watched
    yield login
    for context in contexts:
        context.close()


def shoot(watched: Watched, site: Site, name: str) -> None:
    """Screenshot the page and check it is laid out: a header and a non-empty main."""
    site.shots.mkdir(exist_ok=True)
    watched.page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)
    main = watched.page.locator("main").bounding_box()
    header = watched.page.locator("header").bounding_box()
    assert main and main["height"] > 50 and main["width"] > 200, name
    assert header and header["height"] > 20, name
    width = watched.page.evaluate("document.documentElement.scrollWidth")
    viewport = watched.page.viewport_size["width"]
    assert width <= viewport + 1, f"{name}: {width}px wide in a {viewport}px window"
    assert watched.errors == [], (name, watched.errors)
    assert watched.foreign == [], (name, watched.foreign)


def skip_browser_checks(page: Any) -> None:
    """Drop the browser's own form checks (required, minlength), as an old browser would."""
    page.evaluate("document.querySelectorAll('form').forEach(f => f.noValidate = true)")


PAGES = {
    "boss": ["/admin/", "/admin/clients", "/admin/purge", "/admin/audit", "/tech/devices",
             "/tech/sessions", "/tech/approvals", "/tech/transcripts", "/tech/reidentify",
             "/admin/devices/new",
             "/admin/egress", "/admin/alert-sources", "/admin/alerts/held", "/admin/certificates",
             "/admin/certificates/issue",
             "/admin/users", "/admin/users/3", "/account", "/account/totp", "/search?q=acme"],
    "tina": ["/admin/", "/tech/devices", "/tech/sessions", "/tech/approvals",
             "/tech/reidentify", "/account", "/search?q=edge"],
    "carla": ["/portal/", "/account"],
}


@pytest.mark.parametrize("width", [360, 1280])
def test_every_page_of_every_role_lays_out_and_stays_on_this_server(
        open_as: Any, site: Site, width: int) -> None:
    for username, paths in PAGES.items():
        watched = open_as(username, width)
        for path in paths:
            response = watched.page.goto(site.base + path)
            assert response.status == 200, (username, path)
            shoot(watched, site, f"{username}{path.replace('/', '_').replace('?', '-')}{width}")
        watched.page.goto(site.base + f"/admin/clients/{site.client_a}" if username != "carla"
                          else site.base + "/portal/")
        shoot(watched, site, f"{username}-detail-{width}")
    assert len(list(site.shots.glob(f"*{width}.png"))) >= 15


def test_roles_land_on_their_home_and_the_keyboard_reaches_the_navigation(
        open_as: Any, site: Site) -> None:
    for username, home, heading in (("boss", "/admin/", "Today"), ("tina", "/admin/", "Today"),
                                    ("carla", "/portal/", "Acme Hydraulics")):
        page = open_as(username).page
        assert page.url == site.base + home
        assert page.locator("h1").first.inner_text() == heading
        page.keyboard.press("Tab")  # the first stop skips the menu
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        assert page.locator(".skip").is_visible()  # shown while it has the focus
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "content"
    phone = open_as("tina", 360).page  # the grouped menu folds on a phone, and opens
    assert phone.locator("#menu").get_attribute("open") is None
    assert not phone.locator("nav a[href='/tech/devices']").is_visible()
    phone.click("#menu > summary")
    phone.click("nav a[href='/tech/devices']")
    phone.wait_for_url("**/tech/devices")
    chart = open_as("boss").page.locator("figure.chart svg")
    assert chart.get_attribute("aria-label") == (
        "Purges due in each of the next 12 weeks, by the week's first day")
    assert chart.locator("rect").count() == 12
    assert not chart.locator("text.tick").first.text_content().startswith("w")  # a date


def test_technician_opens_a_session_and_sees_output_in_the_terminal(
        open_as: Any, site: Site) -> None:
    watched = open_as("tina")
    page = watched.page
    page.goto(site.base + "/tech/devices")
    page.fill("#q", "edge-router")
    page.click("text=Filter")
    assert page.locator("tbody tr").count() == 1
    page.click(f"text={site.device_a}")
    page.fill("#reason", "")
    page.fill("#minutes", "30")
    skip_browser_checks(page)  # so the server's own checks answer
    page.click("button:has-text('Open session')")
    assert "required" in page.locator("#reason-error").inner_text()  # refused, form kept
    assert page.input_value("#minutes") == "30"
    watched.errors.clear()  # the browser reports the 400 of that refused form
    page.fill("#reason", "TICKET-4711 check uplink")
    page.click("button:has-text('Open session')")
    page.wait_for_selector("#terminal .xterm-screen", timeout=30_000)
    assert page.locator("#state").inner_text() == "open"
    page.wait_for_function(
        "() => document.querySelector('#terminal-status').dataset.state === 'connected'",
        timeout=30_000)
    # The device's prompt shows before the first key.
    page.wait_for_function(
        "() => document.querySelector('#terminal .xterm-rows').innerText.includes('$')",
        timeout=30_000)
    page.locator("#terminal").click()
    page.keyboard.type("echo custody-$((6*7))\n")
    page.wait_for_function(
        "() => document.querySelector('#terminal .xterm-rows').innerText.includes('custody-42')",
        timeout=30_000)
    _the_device_pty_has_the_terminals_size(page)
    assert page.evaluate("custodyTerminal.cols") > 80  # fitted to the wide main column
    page.set_viewport_size({"width": 360, "height": 800})
    page.wait_for_function("() => custodyTerminal.cols < 45", timeout=30_000)
    _the_device_pty_has_the_terminals_size(page)
    box = page.locator("#terminal").bounding_box()
    assert box and box["x"] + box["width"] <= 360

    # A one-shot command shows that it runs, and can be left.
    page.fill("#command", "sleep 5")
    page.click("#command-run")
    assert page.locator("#command-run").is_disabled()
    assert page.locator("#command-output").inner_text() == "Running…"
    page.click("#command-cancel")
    page.wait_for_function(
        "() => document.querySelector('#command-output').textContent.startsWith('Cancelled')")
    assert page.locator("#command-run").is_enabled()
    assert page.locator("#command-cancel").is_hidden()
    page.fill("#command", "id -un")
    page.click("#command-form button")
    page.wait_for_function(
        f"() => document.querySelector('#command-output').textContent.includes('{DEVICE_USER}')",
        timeout=30_000)
    shoot(watched, site, "tina-session")
    page.click("button:has-text('Close session')")
    page.wait_for_selector("h1:has-text('Close the session on')")  # it asks first
    shoot(watched, site, "tina-close-confirm")
    page.click("button:has-text('Yes, close the session on')")
    page.wait_for_load_state("networkidle")
    assert page.locator("#state").inner_text() == "closed"
    assert DEVICE_PASSWORD not in page.content()

    # An admin replays it in the page and reads it as lines with their times.
    replay = open_as("boss").page
    replay.goto(page.url + "/transcript")
    replay.wait_for_selector("#player .ap-wrapper", timeout=30_000)
    lines = replay.locator("table.transcript").inner_text()
    assert "custody-42" in lines and "\x1b" not in lines
    assert replay.locator("a[download]").get_attribute("href").endswith("/transcript.cast")


def _the_device_pty_has_the_terminals_size(page: Any) -> None:
    """`stty size` on the device answers the browser terminal's rows and columns."""
    rows, cols = page.evaluate("[custodyTerminal.rows, custodyTerminal.cols]")
    page.keyboard.type("clear; stty size | sed 's/ /x/'\n")
    page.wait_for_function(
        f"() => document.querySelector('#terminal .xterm-rows').innerText.includes('{rows}x{cols}')",
        timeout=30_000)


def test_client_downloads_their_data_and_sees_only_their_devices(
        open_as: Any, site: Site, tmp_path: Path) -> None:
    watched = open_as("carla")
    page = watched.page
    body = page.content()
    assert site.device_a in body and site.device_b not in body and "ZZCANARYB" not in body
    with page.expect_download() as info:
        page.click("text=Download my data")
    saved = tmp_path / "my-data.json"
    info.value.save_as(saved)
    data = json.loads(saved.read_text())
    assert [d["name"] for d in data["devices"]] == [site.device_a]
    assert "ZZCANARYB" not in saved.read_text() and DEVICE_PASSWORD not in saved.read_text()
    assert "Privacy notice" in body and "version" in body

    contact = page.locator("article[aria-label='contact ops@acme.example']")
    contact.locator("input[value=alerts]").uncheck()
    contact.locator("input[value=technical]").check()
    contact.locator("button:has-text('Save choices')").click()
    assert "Your choices are saved" in page.locator(".flash").inner_text()
    contact = page.locator("article[aria-label='contact ops@acme.example']")
    assert not contact.locator("input[value=alerts]").is_checked()
    assert contact.locator("input[value=technical]").is_checked()
    skip_browser_checks(page)
    contact.locator("input[name$=value]").fill("not-an-address")
    contact.locator("button:has-text('Correct')").click()
    contact = page.locator("article[aria-label='contact ops@acme.example']")
    assert contact.locator("input[name$=value]").input_value() == "not-an-address"
    assert contact.locator(".error").first.is_visible()
    contact.locator("input[name$=value]").fill("noc@acme.example")
    contact.locator("button:has-text('Correct')").click()
    assert "Corrected" in page.locator(".flash").inner_text()
    assert "noc@acme.example" in page.content() and "not confirmed yet" in page.content()
    for path in ("/admin/", "/admin/purge", "/tech/devices", "/tech/reidentify"):
        assert page.goto(site.base + path).status == 403, path


def test_admin_marks_paid_sees_the_purge_holds_it_and_runs_a_dry_run(
        open_as: Any, site: Site, tmp_path: Path) -> None:
    page = open_as("boss").page
    page.goto(site.base + f"/admin/clients/{site.client_a}")
    form = page.locator(f"form[aria-label='Network care for {site.device_a}']")
    from custody.clock import utcnow
    today = utcnow().date()
    # Bad input: the warranty ends before the payment. The values stay, nothing is saved.
    form.locator("input[name$=paid_on]").fill(f"{today}")
    form.locator("input[name$=warranty_until]").fill(f"{today - timedelta(days=3)}")
    form.locator("button").click()
    form = page.locator(f"form[aria-label='Network care for {site.device_a}']")
    # The service's message stands next to the field it names.
    assert "is before paid_at" in form.locator("[id$=warranty_until-error]").inner_text()
    assert form.locator("input[name$=paid_on]").input_value() == f"{today}"
    page.goto(site.base + "/admin/purge?days=30")
    assert site.device_a not in page.locator("section[aria-labelledby=upcoming]").inner_text()

    page.goto(site.base + f"/admin/clients/{site.client_a}")
    form = page.locator(f"form[aria-label='Network care for {site.device_a}']")
    form.locator("input[name$=paid_on]").fill(f"{today}")
    form.locator("input[name$=warranty_until]").fill(f"{today + timedelta(days=10)}")
    form.locator("button").click()
    assert "Saved" in page.locator(".flash").inner_text()
    page.goto(site.base + "/admin/purge?days=7")
    assert site.device_a not in page.locator("section[aria-labelledby=upcoming]").inner_text()
    page.click("text=Next 30 days")
    upcoming = page.locator("section[aria-labelledby=upcoming]").inner_text()
    assert site.device_a in upcoming and "Acme Hydraulics" in upcoming

    with page.expect_download() as info:
        page.click("text=Export CSV")
    info.value.save_as(tmp_path / "schedule.csv")
    assert site.device_a in (tmp_path / "schedule.csv").read_text()

    page.select_option("#hold-target", label=f"device {site.device_a} (Acme Hydraulics)")
    page.fill("#hold-reason", "")
    page.fill("#hold-until", f"{today + timedelta(days=60)}")
    skip_browser_checks(page)
    page.click("button:has-text('Add hold')")
    assert page.locator("#hold-reason-error").is_visible()  # reason missing
    assert page.input_value("#hold-until") == f"{today + timedelta(days=60)}"
    page.fill("#hold-reason", "tax audit 2026")
    page.click("button:has-text('Add hold')")
    assert "Hold added" in page.locator(".flash").inner_text()
    assert "tax audit 2026" in page.content()
    assert site.device_a not in page.locator("section[aria-labelledby=upcoming]").inner_text()

    page.click("button:has-text('Dry run now')")
    assert page.locator("section[aria-labelledby=dry]").is_visible()
    page.click("button:has-text('Release hold')")
    assert "next purge sweep destroys it" in page.content()  # it asks first
    page.click("button:has-text('Yes, release the hold on')")
    assert "Hold released" in page.locator(".flash").inner_text()
    page.goto(site.base + "/admin/audit")
    page.click("button:has-text('Verify chain')")
    assert "The chain is intact" in page.locator(".flash").inner_text()


def test_a_form_without_its_csrf_token_is_refused(open_as: Any, site: Site) -> None:
    page = open_as("boss").page
    for path, form in (("/admin/purge/dry-run", {}),
                       ("/admin/clients", {"name": "Sneaky Ltd"}),
                       (f"/admin/clients/{site.client_a}", {"new-title": "Sneaky job"})):
        resp = page.request.post(site.base + path, form=form, max_redirects=0)
        assert resp.status == 400 and "CSRF" in resp.text(), path
    page.goto(site.base + "/admin/clients")
    assert "Sneaky" not in page.content()
    page.goto(site.base + f"/admin/clients/{site.client_a}")
    assert "Sneaky" not in page.content()


def test_admin_enrols_with_write_only_credentials_and_sees_tokens_once(
        open_as: Any, site: Site) -> None:
    page = open_as("boss").page
    page.goto(site.base + "/admin/devices/new")
    page.select_option("#client_id", label="Acme Hydraulics")
    page.fill("#name", site.device_a)  # taken already
    page.fill("#host", "192.0.2.10")
    page.fill("#username", "netops")
    page.fill("#password", "Hunter2-Never-Shown")
    page.click("button:has-text('Enrol device')")
    assert "has a device named" in page.locator(".error").first.inner_text()
    assert page.input_value("#host") == "192.0.2.10"  # what was typed stays
    assert page.input_value("#password") == ""  # but a secret is never sent back
    assert "Hunter2-Never-Shown" not in page.content()
    page.fill("#name", "branch-fw-acme")
    page.fill("#password", "Hunter2-Never-Shown")
    page.click("button:has-text('Enrol device')")
    assert "enrolled" in page.locator(".flash").inner_text()
    assert page.locator("h1").inner_text() == "branch-fw-acme"
    assert "Hunter2-Never-Shown" not in page.content()

    page.goto(site.base + "/admin/alert-sources")
    page.fill("#name", "prom-browser")
    page.click("button:has-text('Add source')")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("cas_")
    page.reload()
    assert token not in page.content() and "prom-browser" in page.content()

    # An alert that maps to no client is held; the admin binds its source to one.
    posted = requests.post(f"{site.base}/ingest/alertmanager/prom-browser", timeout=10,
                           headers={"Authorization": f"Bearer {token}"}, json={
                               "version": "4", "status": "firing", "alerts": [{
                                   "labels": {"alertname": "UpsOnBattery",
                                              "instance": "10.77.1.9:9100"},
                                   "fingerprint": "ups1"}]})
    assert posted.status_code == 202 and posted.json()["queued"] == 0
    page.goto(site.base + "/admin/alerts/held")
    row = page.locator("tr", has_text="UpsOnBattery")
    assert "prom-browser" in row.inner_text() and "10.77.1.9" not in page.content()
    row.locator("select").select_option(label="Acme Hydraulics")
    row.locator("button:has-text('Bind')").click()
    assert "next alerts go to the chosen client" in page.locator(".flash").inner_text()
    page.goto(site.base + "/admin/alert-sources")
    assert "Acme Hydraulics" in page.locator("tr", has_text="prom-browser").inner_text()

    page.goto(site.base + "/admin/users")
    page.fill("#username", "newtech")
    page.click("button:has-text('Add user')")
    assert page.locator("#new-password").inner_text()
    page.fill("#username", "lost-client")
    page.select_option("#role", "client")
    page.click("button:has-text('Add user')")
    assert "needs a client" in page.locator(".error").inner_text()
    assert page.input_value("#username") == "lost-client"


def test_admin_offboards_on_the_users_page(open_as: Any, site: Site) -> None:
    page = open_as("boss").page
    page.goto(site.base + "/admin/users")
    page.fill("#username", "leaver")
    page.click("button:has-text('Add user')")
    page.click("a:has-text('leaver')")
    page.select_option("#role", "admin")
    page.click("button:has-text('Set role')")
    assert "Role set to admin" in page.locator(".flash").inner_text()
    page.click("button:has-text('Disable')")
    page.wait_for_selector("h1:has-text('Disable leaver')")  # it asks first
    page.click("button:has-text('Yes, disable leaver')")
    assert "tokens revoked" in page.locator(".flash").inner_text()
    assert page.locator("#user-state").inner_text() == "disabled"
    page.click("button:has-text('Enable')")
    assert page.locator("#user-state").inner_text() == "active"
    page.fill("#confirm", "someone-else")
    page.click("button:has-text('Delete')")
    assert "confirmation does not match" in page.locator("[role=alert]").first.inner_text()
    page.fill("#confirm", "leaver")
    page.click("button:has-text('Delete')")
    assert "deleted" in page.locator(".flash").inner_text()
    assert "leaver" not in page.locator("table").inner_text()


def test_a_technician_makes_and_revokes_a_token_on_the_account_page(open_as: Any,
                                                                   site: Site) -> None:
    page = open_as("tina").page
    page.goto(site.base + "/account")
    page.fill("#name", "laptop script")
    page.fill("#days", "30")
    page.click("button:has-text('Create token')")
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("cst_")
    me = requests.get(site.base + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"},
                      timeout=30)
    assert me.json()["username"] == "tina"
    page.goto(site.base + "/account")
    assert secret not in page.content()  # shown once
    page.click("button[aria-label='Revoke token laptop script']")
    page.click("button:has-text('Yes, revoke token laptop script')")  # it asks first
    assert "revoked" in page.locator(".flash").inner_text()
    gone = requests.get(site.base + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"},
                        timeout=30)
    assert gone.status_code == 401


def test_admin_sets_names_issues_generates_imports_and_renews_without_the_api(
        open_as: Any, site: Site) -> None:
    from tests.certs.helpers import make_csr, self_signed

    watched = open_as("boss")
    page = watched.page
    page.goto(site.base + "/admin/certificates")
    page.click("text=Issue, import, or set a client's names")
    page.select_option("#names-client_id", label="Acme Hydraulics")
    page.fill("#names-names", "*.acme.example")  # a form the matcher does not understand
    skip_browser_checks(page)
    page.click("button:has-text('Save the names')")
    assert "allows it and every name under it" in page.locator(".error").first.inner_text()
    watched.errors.clear()  # the 400 of that refused form
    page.fill("#names-names", "acme.example\n192.0.2.0/24")
    page.click("button:has-text('Save the names')")
    assert "Saved." in page.content()

    page.select_option("#issue-client_id", label="Acme Hydraulics")
    page.fill("#issue-csr", make_csr("www.evil-bank.com", ["www.acme.example"])[0])
    page.click("button:has-text('Issue')")
    assert "www.evil-bank.com: DNS name outside" in page.locator(".error").first.inner_text()
    watched.errors.clear()
    page.select_option("#issue-client_id", label="Acme Hydraulics")
    page.fill("#issue-csr", make_csr("www.acme.example", ["www.acme.example"])[0])
    page.click("button:has-text('Issue')")
    assert page.locator("h1").inner_text().endswith("issued")
    assert "BEGIN CERTIFICATE" in page.locator("#certificate").inner_text()

    page.goto(site.base + "/admin/certificates/issue")
    page.select_option("#issue-client_id", label="Acme Hydraulics")
    page.check("#issue-source-1")
    page.fill("#issue-common_name", "gen.acme.example")
    page.click("button:has-text('Issue')")
    assert len(page.locator("#passphrase").inner_text()) >= 20  # shown once, here

    page.goto(site.base + "/admin/certificates/issue")
    page.select_option("#import-client_id", label="Acme Hydraulics")
    page.fill("#import-pem", self_signed("legacy.acme.example", 90)[0].decode())
    page.click("button:has-text('Track it')")
    assert "Tracking CN=legacy.acme.example" in page.content()

    page.goto(site.base + "/admin/certificates")
    page.click("a:text-is('Renew 1')")  # the one issued from a CSR
    page.fill("#csr", make_csr("www.acme.example", ["www.acme.example"])[0])
    page.click("button:has-text('Renew')")
    assert page.locator("h1").inner_text().endswith("issued")
    shoot(watched, site, "boss-certificate-renewed")
