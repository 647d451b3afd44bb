"""The OpenAPI document describes every API route the app registers, and nothing else."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # the document does not depend on the database
    return sqlite_url


def test_every_api_route_is_documented(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items()
                  for method in ops if method != "parameters"}
    registered = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            registered.add((path, method))
    assert registered - documented == set(), "routes missing from the OpenAPI document"
    assert documented - registered == set(), "documented routes that do not exist"


def test_openapi_document_is_valid(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").json)
