"""Bearer tokens: write for /publish, read for /events /stats /replication, metrics for
/metrics; /health and /ready open. A refused request stores nothing."""

import pytest
from flask.testing import FlaskClient

WRITE, READ, METRICS = "write-token-1", "read-token-1", "metrics-token-1"


@pytest.fixture
def anonymous(make_app):
    app = make_app(WRITE_TOKENS=[WRITE, "write-token-2"], READ_TOKENS=[READ], METRICS_TOKENS=[METRICS])
    return FlaskClient(app)  # sends no Authorization header of its own


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), bearer(READ), {"Authorization": f"Basic {WRITE}"}])
def test_publish_without_a_write_token_is_401_and_stores_nothing(anonymous, sql, headers):
    r = anonymous.post("/publish", json={"event_id": "x"}, headers=headers)
    assert r.status_code == 401
    assert r.json["error"] == "unauthorized"
    assert r.json["details"] == [{"field": "Authorization", "message": "missing or invalid bearer token"}]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert sql("SELECT count(*) FROM events")[0][0] == 0


def test_both_write_tokens_of_a_rotation_publish(anonymous, sql):
    for token in (WRITE, "write-token-2"):
        assert anonymous.post("/publish", json={"event_id": token}, headers=bearer(token)).status_code == 202
    assert sql("SELECT count(*) FROM events")[0][0] == 2


@pytest.mark.parametrize("path", ["/events?topic=default", "/stats", "/replication"])
def test_reads_need_the_read_token(anonymous, path):
    assert anonymous.get(path).status_code == 401
    assert anonymous.get(path, headers=bearer(WRITE)).status_code == 401
    assert anonymous.get(path, headers=bearer(READ)).status_code != 401


def test_metrics_need_the_metrics_token(anonymous):
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", headers=bearer(READ)).status_code == 401
    assert anonymous.get("/metrics", headers=bearer(METRICS)).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/ready", "/openapi.json"])
def test_probes_and_the_document_stay_open(anonymous, path):
    assert anonymous.get(path).status_code == 200
