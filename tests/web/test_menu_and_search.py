"""The menu reaches every page the README lists, in groups; one search box finds devices,
clients and (for admins) certificates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from custody.services import Services
from tests.certs.helpers import issue_to
from tests.conftest import World, csrf_from

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # pages only: nothing differs by database
    return sqlite_url


def readme_pages() -> set[str]:
    """The pages the README's HTTP section names (those without an id in them)."""
    section = README.read_text().split("- Pages, server-rendered", 1)[1].split("```", 1)[0]
    return {p for p in re.findall(r"`(/(?:admin|tech|portal|account)[^`\s]*)`", section)
            if "{" not in p}


def menu_links(page: str) -> set[str]:
    menu = page.split('<nav aria-label="main">', 1)[1].split("</nav>", 1)[0]
    return set(re.findall(r'<a href="([^"#]+)"', menu))


def test_every_page_the_readme_lists_is_in_a_menu(
        client: FlaskClient, world: World, login: Any) -> None:
    listed = readme_pages()
    assert {"/admin/", "/admin/purge", "/tech/devices", "/portal/", "/account"} <= listed
    login("root", "Admin-Pass-123!")
    page = client.get("/admin/").get_data(as_text=True)
    staff = menu_links(page)
    assert [g for g in re.findall(r'class="group-name" id="[^"]+">([^<]+)<', page)] == [
        "Work", "Data", "Setup"]
    assert '<details class="menu" id="menu" open>' in page  # open without JavaScript
    assert "/admin/demo/mail" not in staff  # only `custody demo` catches mail
    assert client.get("/admin/demo/mail").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    login("user-a", "Client-a-Pass-123!")
    portal = menu_links(client.get("/portal/").get_data(as_text=True))
    missing = {p for p in listed if p not in staff | portal}
    assert not missing, f"README pages no menu links to: {sorted(missing)}"
    assert portal == {"/portal/", "/account"}  # and a client's menu holds no staff page


def test_one_search_finds_devices_clients_and_certificates(
        client: FlaskClient, world: World, services: Services, login: Any) -> None:
    cert = issue_to(client, services, world.admin_token, world.client_b, "zzcanaryb.test")
    login("root", "Admin-Pass-123!")

    def sections(q: str) -> dict[str, str]:
        resp = client.get("/search", query_string={"q": q})
        assert resp.status_code == 200
        page = resp.get_data(as_text=True)
        return {kind: page.split(f'id="found-{kind}"', 1)[1].split("</section>", 1)[0]
                for kind in ("devices", "clients", "certificates") if f'id="found-{kind}"' in page}

    found = sections("zzcanaryb")
    assert f'href="/tech/devices/{world.device_b}"' in found["devices"]
    assert f'href="/admin/clients/{world.client_b}"' in found["clients"]
    assert "vpn.zzcanaryb.test" in found["certificates"]
    assert "router-a" not in found["devices"] and "Client A" not in found["clients"]
    by_serial = sections(cert["serial"].upper())
    assert "vpn.zzcanaryb.test" in by_serial["certificates"]
    assert "No device" in by_serial["devices"]
    by_address = sections(f"10.0.0.{ord('a')}")
    assert f'href="/tech/devices/{world.device_a}"' in by_address["devices"]
    assert "No client" in sections("%_")["clients"]  # wildcards are plain characters here
    assert 'id="site-q"' in client.get("/search").get_data(as_text=True)

    page = client.get("/admin/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    login("tech", "Tech-Pass-123!")
    assert "certificates" not in sections("zzcanaryb")  # certificates are the admins'
    page = client.get("/admin/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    login("user-a", "Client-a-Pass-123!")
    assert client.get("/search", query_string={"q": "router"}).status_code == 403
