"""Patroni on Consul (molecule/consul): three alive servers and a client agent, the
leader key and the service catalog agree with Patroni, DNS on the balancer resolves the
primary, and Consul denies what its ACLs do not allow."""

import json
import random
import socket
import struct
import urllib.error
import urllib.request

from lab import (
    ADDRESSES,
    APP_ADDRESS,
    PG_NODES,
    dcs_leader_node,
    drills_cluster,
    leader_name,
    node,
    secret,
    tls_context,
    wait_for,
)

SCOPE = "pgha"


def master_token():
    return secret("consul_acl_master")


def consul(path, token=None, address=ADDRESSES["pg1"]):
    """(status, json) of a GET on an agent's HTTPS API, verified against the CA."""
    request = urllib.request.Request(f"https://{address}:8501{path}")
    if token:
        request.add_header("X-Consul-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=5, context=tls_context()) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def test_three_alive_servers_and_a_client_agent():
    status, members = consul("/v1/agent/members", master_token())
    assert status == 200, members
    alive = {m["Name"]: m["Tags"]["role"] for m in members if m["Status"] == 1}
    assert alive == {**dict.fromkeys(PG_NODES, "consul"), "app1": "node"}, alive


def test_the_leader_key_names_patronis_leader():
    holder = drills_cluster().leader_key_holder()
    assert holder == leader_name(), f"leader key names {holder}, patronictl shows {leader_name()}"


def test_the_catalog_tags_the_leader_primary_and_the_others_replica():
    status, entries = consul(f"/v1/catalog/service/{SCOPE}", master_token())
    assert status == 200, entries
    tags = {e["Node"]: set(e["ServiceTags"]) for e in entries}
    leader = leader_name()
    assert "primary" in tags[leader], tags
    assert all("replica" in t for n, t in tags.items() if n != leader), tags


def dns_a(name, server="127.0.0.1", port=8600):
    """The A records of `name` from a DNS server, over UDP (no resolver library needed)."""
    query_id = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(packet, (server, port))
        reply = sock.recv(4096)
    answers = struct.unpack(">H", reply[6:8])[0]
    offset, addresses = 12 + len(question), []
    for _ in range(answers):
        offset += 2  # a compressed pointer to the name
        kind, _, _, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if kind == 1:
            addresses.append(socket.inet_ntoa(reply[offset : offset + length]))
        offset += length
    return addresses


def test_dns_on_the_balancer_resolves_the_primary():
    # app1's client agent answers DNS on its address, with the anonymous (DNS-only) token.
    addresses = dns_a(f"primary.{SCOPE}.service.consul", server=APP_ADDRESS)
    assert addresses == [ADDRESSES[leader_name()]], addresses


def test_an_anonymous_kv_read_is_denied():
    status, body = consul(f"/v1/kv/service/{SCOPE}/leader")
    assert status == 403, f"expected 403 without a token, found {status}: {body}"
    status, _ = consul(f"/v1/kv/service/{SCOPE}/leader", master_token())
    assert status == 200


def test_plain_http_is_off():
    with socket.socket() as sock:
        sock.settimeout(2)
        assert sock.connect_ex((ADDRESSES["pg1"], 8500)) != 0, "expected nothing on Consul's plain HTTP port"


def consul_whole():
    return dcs_leader_node() is not None and not drills_cluster().dcs_problems()


def test_consul_leadership_is_moved_off_the_node_of_patronis_leader():
    patroni_leader = leader_name()
    # Put Consul's leadership on the node whose Patroni leads, as any Consul election may:
    # Consul 1.8 cannot hand it over, so restart whichever server leads until that node
    # wins an election. The restarted server can win the next one itself (it did on the
    # lab), so an election picks that node about one time in three: 20 tries miss with
    # probability (2/3)^20, about 1/3,000.
    landed = False
    for _ in range(20):
        assert wait_for(consul_whole, 60), f"Consul not whole: {drills_cluster().dcs_problems()}"
        current = dcs_leader_node()
        if current == patroni_leader:
            landed = True
            break
        node(current).check_output("systemctl restart consul")
        assert wait_for(lambda: dcs_leader_node() is not None, 30), (
            f"no Consul leader 30 s after restarting {current}'s server"
        )
    assert landed, f"Consul's leadership never landed on {patroni_leader} in 20 elections"
    interval = int(drills_cluster().setting("consul_leader_away_interval"))
    assert wait_for(lambda: dcs_leader_node() not in (None, patroni_leader), 2 * interval + 15), (
        f"Consul still led from {patroni_leader}, the node of Patroni's leader, {2 * interval + 15} s later"
    )
    assert wait_for(consul_whole, 60), f"Consul not whole after the move: {drills_cluster().dcs_problems()}"
    assert leader_name() == patroni_leader, "moving Consul's leadership cost a Patroni failover"
