"""Settings come from AGGREGATOR_* environment variables, parsed as JSON where they can be."""

import pytest
from conftest import TOKENS

from aggregator import create_app


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("AGGREGATOR_WRITERS", "4")
    monkeypatch.setenv("AGGREGATOR_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("AGGREGATOR_PATRONI_URLS", "http://a:8008, http://b:8008")
    monkeypatch.setenv("AGGREGATOR_MAX_CONTENT_LENGTH", "1024")
    monkeypatch.setenv("AGGREGATOR_WRITE_TOKENS", "w-old,w-new")
    monkeypatch.setenv("AGGREGATOR_READ_TOKENS", "r1")
    monkeypatch.setenv("AGGREGATOR_METRICS_TOKENS", "12345")
    app = create_app()
    assert app.config["WRITERS"] == 4
    assert app.config["DATABASE_URL"] == "postgresql://u@h/db"
    assert app.config["PATRONI_URLS"] == ["http://a:8008", "http://b:8008"]
    assert app.config["MAX_CONTENT_LENGTH"] == 1024
    assert app.config["WRITE_TOKENS"] == ["w-old", "w-new"]
    assert app.config["READ_TOKENS"] == ["r1"]
    assert app.config["METRICS_TOKENS"] == ["12345"]  # a token that parses as JSON stays a string


def test_explicit_config_wins(monkeypatch):
    monkeypatch.setenv("AGGREGATOR_WRITERS", "4")
    assert create_app({"WRITERS": 1, **TOKENS}).config["WRITERS"] == 1


def test_creating_the_app_touches_no_database():
    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", **TOKENS})
    assert app.test_client().get("/health").status_code == 200


def test_the_app_refuses_to_start_without_tokens():
    with pytest.raises(
        RuntimeError, match="AGGREGATOR_WRITE_TOKENS, AGGREGATOR_READ_TOKENS, AGGREGATOR_METRICS_TOKENS"
    ):
        create_app({"DATABASE_URL": "postgresql://u@h/db"})
