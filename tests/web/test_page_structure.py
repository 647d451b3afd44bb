"""What every page gives keyboard and screen-reader users, and dark mode: a skip link
first, the current page marked in the menu, colours that follow the system's scheme."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import World


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # pages only: nothing differs by database
    return sqlite_url


def test_a_skip_link_comes_first_and_the_menu_marks_the_current_page(
        client: FlaskClient, world: World, login: Any) -> None:
    login("root", "Admin-Pass-123!")
    for path, current in (("/admin/", "Home"), ("/admin/purge", "Purge schedule"),
                          ("/admin/clients", "Clients"), ("/account", "Account")):
        page = client.get(path).get_data(as_text=True)
        body = page.split("<body>", 1)[1]
        first_link = re.search(r"<a [^>]*>", body)
        assert first_link and 'href="#content"' in first_link.group(0), path
        assert 'id="content"' in page
        menu = page.split('<nav aria-label="main">', 1)[1].split("</nav>", 1)[0]
        marked = re.findall(r'<a href="[^"]*" aria-current="page">([^<]*)</a>', menu)
        assert marked == [current], (path, marked)
    with client.get("/static/custody.css") as resp:
        css = resp.get_data(as_text=True)
    assert "@media (prefers-color-scheme: dark)" in css and "color-scheme:light dark" in css
