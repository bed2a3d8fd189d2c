"""GET /status: the page and its assets are served without a token and hold no data
or secret; the page asks /graphql for everything it shows."""

import re


def test_the_page_is_served_without_a_token(make_app):
    client = make_app().test_client()
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    page = client.get("/status")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for asset in re.findall(r'(?:src|href)="(/status/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    assert 'rel="icon" href="data:,"' in html  # no favicon request that would fail


def test_the_script_asks_the_gateway_for_every_field_the_page_shows(client):
    script = client.get("/status/static/status.js").get_data(as_text=True)
    assert 'fetch("/graphql"' in script
    for field in ("cluster", "alerts", "stats", "ingestRate", "frontDoor", "lastFailover", "backups"):
        assert re.search(rf"^\s*{field}\b", script, re.MULTILINE), field


def test_the_page_holds_no_token(client):
    for path in ("/status", "/status/static/status.js"):
        assert "test-token-for-every-scope" not in client.get(path).get_data(as_text=True)
