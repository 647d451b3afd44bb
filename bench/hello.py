"""The baseline: a bare Flask app answering a small JSON document."""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():  # type: ignore[no-untyped-def]
    return jsonify({"items": [{"id": 1, "name": "hello"}]})


@app.post("/ingest")
def ingest():  # type: ignore[no-untyped-def]
    """Parse the posted JSON and acknowledge it: the least an ingest endpoint does."""
    from flask import request

    body = request.get_json()
    return jsonify({"accepted": len(body.get("alerts", []))}), 202
