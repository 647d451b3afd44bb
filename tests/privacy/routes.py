"""Walk every registered route with concrete arguments (shared by the privacy tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask

from tests.conftest import World

SKIP_METHODS = {"HEAD", "OPTIONS"}


def arguments(world: World, tenant: str) -> dict[str, Any]:
    """Concrete values for every URL parameter, all pointing at ``tenant``'s objects."""
    b = tenant == "b"
    return {
        "client_id": world.client_b if b else world.client_a,
        "engagement_id": world.engagement_b if b else world.engagement_a,
        "device_id": world.device_b if b else world.device_a,
        "contact_id": world.contact_b if b else world.contact_a,
        "session_id": 1,
        "hold_id": 1,
        "cert_id": 1,
        "ca_id": 1,
        "source_id": 1,
        "kind": "alertmanager",
        "source": "no-such-source",
        "token": "not-a-valid-token",
        "filename": "custody.css",
        "fmt": "csv",
        "approval_id": 1,
        "profile_id": 1,
        "user_id": 1,  # root, whom nobody may disable or delete through these walks
        "token_id": 4 if b else 3,  # a client user's token, never the admin's
    }


def every_route(app: Flask, values: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield (rule, method, url) for every rule; fail loudly on an unknown parameter."""
    for rule in app.url_map.iter_rules():
        missing = set(rule.arguments) - set(values)
        assert not missing, (
            f"route {rule.rule} has parameters {sorted(missing)}: add values for them in "
            "tests/privacy/routes.py so the privacy tests keep covering it")
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
        for method in sorted((rule.methods or set()) - SKIP_METHODS):
            yield rule.rule, method, url
