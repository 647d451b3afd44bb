"""The baseline: a bare Flask app answering a small JSON document."""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():  # type: ignore[no-untyped-def]
    return jsonify({"items": [{"id": 1, "name": "hello"}]})
