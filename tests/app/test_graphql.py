"""POST/GET /graphql: the read-only gateway over HTTP. Bad queries are GraphQL errors
(200 with `errors`), a request without a query is a 400 naming the field, and only the
read token gets in. Fields run against the test PostgreSQL; Patroni and the monitoring
node are not there, so their fields answer with errors naming the source."""

import json

import pytest

from aggregator import replication

FIELDS = ["cluster", "replication", "stats", "ingestRate", "alerts", "lastFailover", "frontDoor", "backups"]


def ask(client, query, **extra):
    response = client.post("/graphql", json={"query": query, **extra})
    assert response.status_code == 200, response.json
    return response.json


def test_the_schema_has_every_field_and_no_mutation(client):
    schema = ask(client, "{ __schema { queryType { fields { name } } mutationType { name } } }")["data"]["__schema"]
    assert sorted(f["name"] for f in schema["queryType"]["fields"]) == sorted(FIELDS)
    assert schema["mutationType"] is None


def test_stats_are_the_counters_of_get_stats(client):
    client.post("/publish", json=[{"topic": "a", "event_id": "1"}, {"topic": "a", "event_id": "1"}])
    body = ask(client, "{ stats { received uniqueProcessed duplicateDropped topics batches uptime } }")
    rest = client.get("/stats").json
    stats = body["data"]["stats"]
    assert (stats["received"], stats["uniqueProcessed"], stats["duplicateDropped"]) == (2, 1, 1)
    assert (stats["received"], stats["topics"]) == (rest["received"], rest["topics"])


def test_replication_reads_the_primary(client):
    replication = ask(client, "{ replication { primary slots { slotName } alerts } }")["data"]["replication"]
    # The test server is a lone primary: no standby, no slot.
    assert replication == {"primary": True, "slots": [], "alerts": ["NO REPLICA CONNECTED"]}


def test_get_with_query_parameters(client):
    query = "query Q($x: Boolean!) { stats @include(if: $x) { received } }"
    response = client.get("/graphql", query_string={"query": query, "variables": json.dumps({"x": True})})
    assert response.status_code == 200
    assert response.json["data"]["stats"]["received"] == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ stats { received ", "Syntax Error"),
        ("{ nosuchfield }", "Cannot query field 'nosuchfield'"),
        ("mutation { stats { received } }", "The mutation operation is not supported by the schema"),
        ("{ stats }", "must have a selection of subfields"),
    ],
)
def test_a_bad_query_is_a_graphql_error_not_a_500(client, query, message):
    body = ask(client, query)
    assert body["data"] is None
    assert message in body["errors"][0]["message"], body["errors"]


def test_a_source_that_does_not_answer_nulls_its_field_only(make_app):
    app = make_app(PATRONI_URLS=["https://127.0.0.1:9/"], PROMETHEUS_URL=None, ALERTMANAGER_URL=None)
    body = ask(
        app.test_client(),
        "{ cluster { leader } alerts { name } ingestRate lastFailover { timeline } stats { received } }",
    )
    assert body["data"]["stats"] == {"received": 0}
    assert body["data"]["cluster"] is None and body["data"]["alerts"] is None
    messages = {tuple(e["path"]): e["message"] for e in body["errors"]}
    assert "no Patroni REST API answered: https://127.0.0.1:9/" in messages[("cluster",)]
    assert "no monitoring URL configured" in messages[("alerts",)]
    assert "no monitoring URL configured" in messages[("ingestRate",)]
    assert "no Patroni REST API answered" in messages[("lastFailover",)]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "query"), ({"query": "  "}, "query"), ({"query": 3}, "query"), ([1], "body"),
     ({"query": "{ stats { received } }", "variables": [1]}, "variables"),
     ({"query": "{ stats { received } }", "operationName": 5}, "operationName")],
)  # fmt: skip
def test_a_request_without_a_usable_query_is_a_400_naming_the_field(client, body, field):
    response = client.post("/graphql", json=body)
    assert response.status_code == 400
    assert response.json["error"] == "validation"
    assert response.json["details"][0]["field"] == field


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/graphql", data="{ stats { received } }", content_type="application/graphql")
    assert response.status_code == 400
    assert response.json["details"][0]["field"] == "body"


def test_only_the_read_token_gets_in(make_app):
    app = make_app(WRITE_TOKENS=["w" * 40], READ_TOKENS=["r" * 40], METRICS_TOKENS=["m" * 40])
    client = app.test_client()
    query = {"query": "{ stats { received } }"}
    for token in (None, "w" * 40, "m" * 40, "nope"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client.environ_base.pop("HTTP_AUTHORIZATION", None)
        response = client.post("/graphql", json=query, headers=headers)
        assert response.status_code == 401, token
        assert response.json["error"] == "unauthorized"
    response = client.post("/graphql", json=query, headers={"Authorization": f"Bearer {'r' * 40}"})
    assert response.status_code == 200
    assert response.json["data"]["stats"]["received"] == 0


def test_one_query_reads_the_primary_once(make_app, monkeypatch):
    calls = []
    real = replication.from_primary
    monkeypatch.setattr(replication, "from_primary", lambda pool: calls.append(1) or real(pool))
    # No Patroni here, so `cluster` stops before the primary: two `replication` fields
    # (aliases) stand for the two readers.
    app = make_app()
    body = ask(app.test_client(), "{ a: replication { primary } b: replication { slots { slotName } } }")
    assert body["data"]["a"] == {"primary": True}
    assert len(calls) == 1
