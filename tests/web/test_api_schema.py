"""Schemathesis against the generated OpenAPI document, once per role (an admin, a
technician, a client's user), each on fresh data in PostgreSQL: every operation, called
with generated input (on the fixtures' real objects and on made-up ids), answers with a
documented status and a body that matches its response model, and never with a server
error. Schema-valid input may still be refused with a 400 where the domain knows more
than a schema can say (a CSR that does not verify, a name the policy forbids), so that one
check is left out; schema-invalid input must still be refused.

Operations that talk to a device (host-key scan, opening or approving a session,
commands, rotation) are left out: their devices are addresses in the fixtures, and tests
reach only loopback. tests/devices covers them against real sshd and IOS peers.
Destructive operations (a purge run, disabling or deleting a user, deleting a device,
closing a client, confirming an erasure) are left out of the random walk too, which
would otherwise end it on the first call: tests/purge, tests/accounts, tests/devices and
tests/clients cover each.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

from custody.accounts.models import ApiToken
from custody.db import transaction
from custody.services import Services
from tests.conftest import World, auth

DEVICE_IO = re.compile(r"POST /api/v1/(devices/\{device_id\}/(host-key/scan|sessions|rotate)"
                       r"|sessions/\{session_id\}/(approve|commands))$")
DESTRUCTIVE = re.compile(r"(POST /api/v1/(purge/run|users/\{user_id\}/disable"
                         r"|clients/\{client_id\}/(close|erasure/confirm))"
                         r"|DELETE /api/v1/(users/\{user_id\}|devices/\{device_id\}))$")
# The admin reaches every operation's code; the others are mostly refused before their
# input is read, so fewer examples show as much.
EXAMPLES = {role: settings(max_examples=6 if role == "admin" else 2, deadline=None,
                           derandomize=True, database=None,
                           suppress_health_check=list(HealthCheck))
            for role in ("admin", "technician", "client")}


@pytest.fixture
def database_url(postgres: Any) -> str:  # where a text too long or too odd would show
    return str(postgres.new_database())


@pytest.mark.parametrize("role", ["admin", "technician", "client"])
def test_the_api_keeps_to_its_document(app: Flask, world: World, services: Services,
                                       role: str) -> None:
    token = {"admin": world.admin_token, "technician": world.tech_token,
             "client": world.user_a_token}[role]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # A body over security.max_body_bytes is refused before it is read: 413 is a refusal.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    with transaction(services.db) as db:  # whom the lifecycle operations may act on
        spare, _ = services.accounts.create_user(db, "test", "spare", "technician",
                                                 password="Spare-Pass-12345")
        services.tokens.create(db, "test", "spare", "to revoke")
        spare_token = db.scalar(select(ApiToken.id).where(ApiToken.user_id == spare.id))
    real = {"client_id": world.client_a, "device_id": world.device_a,
            "engagement_id": world.engagement_a, "contact_id": world.contact_a,
            "user_id": spare.id, "token_id": spare_token}
    headers = auth(token)
    examples = EXAMPLES[role]
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if DEVICE_IO.match(operation.label) or DESTRUCTIVE.match(operation.label):
            continue
        names = {p.name for p in operation.path_parameters}
        known = {name: real[name] for name in names if name in real}
        # Made-up ids would disable or revoke the caller itself: those act on the spare.
        strategies = [] if names & {"user_id", "token_id"} else [operation.as_strategy()]
        if known:
            strategies.append(operation.as_strategy(path_parameters=known))
            # Schema-invalid input on real objects: it must be refused, not half taken.
            strategies.append(operation.as_strategy(GenerationMode.NEGATIVE,
                                                    path_parameters=known))
        for strategy in strategies:
            @given(case=strategy)
            @examples
            def call(case: Any) -> None:
                case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

            call()
        checked.append(operation.label)
    assert len(checked) >= 50  # the document lists the API, not a corner of it
    # The walk kept its credential to the end: no operation acted on the caller.
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200
