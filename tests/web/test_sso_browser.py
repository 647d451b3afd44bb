"""Single sign-on in a real browser: Debian's Chromium, driven by Playwright, signs in to
`custody serve` through the real OpenID provider's own sign-in form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from custody.cli import initialize
from tests.peers import OidcProvider
from tests.served import running
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e .[test]")


@pytest.fixture
def database_url() -> str:
    return "unused"  # this module runs its own installation


@pytest.fixture
def served(tmp_path: Path, oidc: OidcProvider, sso_site_port: int) -> Iterator[str]:
    directory = tmp_path / "site"
    initialize(directory, "setup", sso_site_port)
    env = {"CUSTODY_SSO__ENABLED": "true", "CUSTODY_SSO__ISSUER": oidc.issuer,
           "CUSTODY_SSO__CLIENT_ID": oidc.CLIENT_ID,
           "CUSTODY_SSO__CLIENT_SECRET": oidc.CLIENT_SECRET,
           "CUSTODY_SSO__SCOPES": "openid email profile groups",
           "CUSTODY_SSO__LABEL": "Example Corp",
           "CUSTODY_SSO__ROLES": json.dumps({"custody-admins": "admin",
                                             "custody-techs": "technician"}),
           "CUSTODY_SSO__ADMIN_AMR": '["otp", "mfa"]'}
    oidc.mode("normal")
    with running(["serve"], directory, sso_site_port, env=env):
        yield f"http://127.0.0.1:{sso_site_port}"


def test_staff_sign_in_through_the_provider_in_chromium(served: str, oidc: OidcProvider,
                                                        tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup-system")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            for login, password, home, role in (
                    ("alice", "alice-sso-pass", "/admin/", "admin"),
                    ("tom", "tom-sso-pass", "/admin/", "technician"),
                    ("mallory", "mallory-sso-pass", None, None)):
                page = browser.new_context().new_page()
                page.goto(served + "/login")
                page.get_by_role("link", name="Sign in with Example Corp").click()
                page.wait_for_url(oidc.issuer + "/interaction/*")
                page.get_by_label("User").fill(login)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(served + "/**")
                page.screenshot(path=str(tmp_path / f"sso-{login}.png"))
                if home is None:  # an admin without a second factor at the provider
                    alert = page.get_by_role("alert").inner_text()
                    assert "second factor" in alert, alert
                    assert page.url.startswith(served + "/login/sso/callback")
                    continue
                assert page.url == served + home
                assert f"{login} ({role})" in page.locator("header").inner_text()
                me: Any = page.evaluate("fetch('/api/v1/me').then(r => r.json())")
                assert me["username"] == login and me["role"] == role
        finally:
            browser.close()
