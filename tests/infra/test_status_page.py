"""The status page in a real browser (Debian's Chromium, headless, driven by Playwright):
it shows the leader patronictl reports, a stopped replica as not streaming, and makes no
request that fails. Screenshots land in reports/status-page/ (a test artifact)."""

import base64
import hashlib
import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lab import API, APP_NODES, INVENTORY, MONITORING, REPO, SECRETS, cluster, leader_name, node, secret

from drills.checks import require_whole
from drills.cluster import Cluster

CHROMIUM = shutil.which("chromium")
ARTIFACTS = REPO / "reports" / "status-page"
pytestmark = pytest.mark.skipif(not MONITORING, reason="the scenario's inventory has no monitoring group")


def trusted_keys():
    """Chromium trusts the API's certificates by their public keys (the balancers serve
    their node certificates), not by turning certificate checks off."""
    pins = []
    for name in APP_NODES:
        cert = x509.load_pem_x509_certificate((SECRETS / "pki" / f"{name}.crt").read_bytes())
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        pins.append(base64.b64encode(hashlib.sha256(spki).digest()).decode())
    return ",".join(pins)


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Chromium is not installed: make molecule installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", f"--ignore-certificate-errors-spki-list={trusted_keys()}"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.failures = []
        page.on("requestfailed", lambda r: page.failures.append(f"{r.url}: {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and page.failures.append(f"{r.url}: HTTP {r.status}"))
        page.on("console", lambda m: m.type == "error" and page.failures.append(f"console: {m.text}"))
        page.goto(f"{API}/status#token={secret('aggregator_read_token')}")
        page.wait_for_selector('body[data-loaded="1"]', timeout=30_000)
        yield page
        browser.close()


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_page_shows_the_leader_patronictl_reports(page):
    shot(page, "healthy")
    leader = leader_name()
    assert page.get_attribute("body", "data-leader") == leader
    row = page.locator(f'tr[data-member="{leader}"]')
    assert row.get_attribute("data-role") == "leader"
    assert row.get_attribute("data-status") == "LEADER"
    for member in (m["Member"] for m in cluster() if m["Member"] != leader):
        assert page.locator(f'tr[data-member="{member}"]').get_attribute("data-status") == "HEALTHY"
    assert "token=" not in page.url  # the page took the token out of the address bar


def test_the_page_shows_alerts_ingest_front_door_and_backups(page):
    text = page.inner_text("main")
    assert "nothing firing" in text or page.locator("li[data-alert]").count() > 0
    assert "events/s" in text
    assert "holds the VIP" in text
    assert "WAL archiving" in text and "unavailable" not in text, text


def test_a_stopped_replica_is_shown_not_streaming(page):
    leader = leader_name()
    replica = next(m["Member"] for m in cluster() if m["Member"] != leader and m["Role"] == "Replica")
    node(replica).run("systemctl stop patroni")
    try:
        page.wait_for_selector(f'tr[data-member="{replica}"][data-status="NOT STREAMING"]', timeout=30_000)
        shot(page, "replica-stopped")
    finally:
        node(replica).run("systemctl start patroni")
        require_whole(Cluster.from_inventory(INVENTORY), timeout=90)
    page.wait_for_selector(f'tr[data-member="{replica}"][data-status="HEALTHY"]', timeout=30_000)


def test_the_page_made_no_request_that_failed(page):
    assert page.failures == []
