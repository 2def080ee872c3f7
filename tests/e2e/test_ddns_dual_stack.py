"""Dual stack through the DDNS endpoint, end to end: a bound host publishes an IPv4 and an
IPv6 address while it reaches the endpoint over IPv4 only, as a stock router does, because
the IPv6 address is inside the network the operator declared for it
(`host add --prefixes`); the same credential cannot point the name anywhere else.

The clients are Debian's own `ddclient` 3.10 and `inadyn` 2.10 (and curl for the
FRITZ!Box-style single request), run against the real `ec2-dns-ddns` binary behind the
local function URL of test_ddns.py. Every request arrives "over IPv4": the front reports the
router's public IPv4 address (ROUTER) as the caller's, or a stranger's (THIEF).
Neither Debian client sends both families in one dyndns2 request (ddclient 3.10 sends one
address per run; inadyn one per provider block), so each sends its IPv6 address in an update
of its own, over IPv4: the binding rule's other-family case.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from pathlib import Path

from .test_ddns import HOME, ROUTER, USER, _tool, answers, endpoint  # noqa: F401 (fixture)

NETWORK = "2001:db8:12::/48"
ROUTER6 = "2001:db8:12::7"  # the router's IPv6 address, inside NETWORK
OUTSIDE6 = "2001:db8:66::1"  # an IPv6 address outside it
THIEF = "203.0.113.66"


def add_host(ctl, *extra: str) -> str:
    issued = json.loads(ctl("host", "add", USER, "--names", HOME, "--json", *extra).stdout)
    assert issued["host"] == USER and issued["names"] == [HOME]
    return issued["secret"]


def ddclient(front, tmp_path: Path, password: str, use: str, tag: str) -> str:
    """One run of ddclient in the foreground (`-daemon=0 -verbose -noquiet`, the "test it
    now" of docs/ddns.md), with its own cache, finding its address with `use`."""
    conf = tmp_path / f"ddclient-{tag}.conf"
    conf.write_text(
        "daemon=0\n"
        "ssl=no\n"
        f"cache={tmp_path / f'ddclient-{tag}.cache'}\n"
        f"{use}\n"
        "protocol=dyndns2\n"
        f"server=127.0.0.1:{front.port}\n"
        f"login={USER}\n"
        f"password='{password}'\n"
        f"{HOME}\n")
    conf.chmod(0o600)
    p = subprocess.run([_tool("ddclient"), "-file", str(conf), "-foreground", "-force",
                        "-daemon=0", "-verbose", "-noquiet"],
                       capture_output=True, text=True, timeout=60)
    return p.stdout + p.stderr


def inadyn(front, tmp_path: Path, password: str, ipv6_command: str) -> str:
    """One run of inadyn (`-1 --force`) with two `custom` blocks for the same name: the
    IPv4 address found at the endpoint's /checkip, the IPv6 address by a command (on a
    router `ip -6 addr show dev br-lan scope global`, as inadyn's own dynv6 example does;
    here `echo`)."""
    block = (
        "custom {tag} {{\n"
        "    ssl = false\n"
        f"    username = {USER}\n"
        f"    password = \"{password}\"\n"
        f"    ddns-server = \"127.0.0.1:{front.port}\"\n"
        "    ddns-path = \"/nic/update?hostname=%h&myip=%i\"\n"
        "{check}"
        f"    hostname = \"{HOME}\"\n"
        "}}\n")
    conf = tmp_path / "inadyn.conf"
    conf.write_text(
        "period = 300\n"
        "allow-ipv6 = true\n"
        + block.format(tag="home4", check=(
            f"    checkip-server = \"127.0.0.1:{front.port}\"\n"
            "    checkip-path = \"/checkip\"\n"
            "    checkip-ssl = false\n"))
        + block.format(tag="home6", check=f"    checkip-command = \"{ipv6_command}\"\n"))
    conf.chmod(0o600)
    cache = tmp_path / "inadyn-cache"
    cache.mkdir(exist_ok=True)
    p = subprocess.run([_tool("inadyn"), "-1", "--force", "--foreground", "-f", str(conf),
                        "--cache-dir", str(cache), "-P", str(tmp_path / "inadyn.pid"),
                        "-l", "debug"],
                       capture_output=True, text=True, timeout=60)
    return p.stdout + p.stderr


def records(world, dyn) -> dict[str, list[str]]:
    got = world.records(dyn.public)
    return {t: got[(HOME, t)][1] for t in ("A", "AAAA") if (HOME, t) in got}


def test_ddclient_over_ipv4_publishes_the_routers_ipv6_address_inside_its_network(
        world, dyn, ctl, endpoint, tmp_path):
    secret = add_host(ctl, "--prefixes", NETWORK)
    # `host add` and `host list` show the network.
    listed = json.loads(ctl("host", "list", "--json").stdout)
    assert [(h["host"], h["prefixes"], h["bound"]) for h in listed] == [(USER, [NETWORK], True)]
    assert f"prefixes={NETWORK}" in ctl("host", "list").stdout

    # The router's own IPv4 address, found at /checkip, then its IPv6 address, with a
    # second configuration (ddclient 3.10 sends one address per update): docs/ddns.md's
    # `use=cmd, cmd='ip -6 -o addr show dev eth0 scope global'`, here `echo`.
    checkip = f"use=web, web=http://127.0.0.1:{endpoint.port}/checkip"
    out = ddclient(endpoint, tmp_path, secret, checkip, "v4")
    assert "good" in out, out
    out = ddclient(endpoint, tmp_path, secret, f"use=cmd, cmd='echo {ROUTER6}'", "v6")
    assert "good" in out, out
    assert answers(endpoint) == [f"system=dyndns&hostname={HOME}&myip={ROUTER}",
                                 f"system=dyndns&hostname={HOME}&myip={ROUTER6}"]
    assert records(world, dyn) == {"A": [ROUTER], "AAAA": [ROUTER6]}
    host = json.loads(ctl("host", "list", "--json").stdout)[0]
    assert (host["ipv4"], host["ipv6"]) == (ROUTER, ROUTER6)
    # The reconciler agrees: nothing to change.
    assert json.loads(ctl("plan", "--json").stdout)["changes"] == []

    # An IPv6 address outside the network is refused, and changes nothing.
    out = ddclient(endpoint, tmp_path, secret, f"use=cmd, cmd='echo {OUTSIDE6}'", "outside")
    assert "abuse" in out, out
    assert records(world, dyn) == {"A": [ROUTER], "AAAA": [ROUTER6]}


def test_inadyn_publishes_both_families_over_ipv4_and_a_stolen_credential_stays_inside(
        world, dyn, ctl, endpoint, tmp_path):
    secret = add_host(ctl, "--prefixes", NETWORK)
    out = inadyn(endpoint, tmp_path, secret, f"echo {ROUTER6}")
    assert records(world, dyn) == {"A": [ROUTER], "AAAA": [ROUTER6]}, out
    # inadyn percent-encodes the colons of an IPv6 address.
    sent = lambda: sorted(urllib.parse.unquote(q) for q in answers(endpoint))  # noqa: E731
    assert sent() == sorted([f"hostname={HOME}&myip={ROUTER}",
                             f"hostname={HOME}&myip={ROUTER6}"]), out

    # The same credential, used from somewhere else, may not point the name outside the
    # owner's network: refused (`abuse`), the AAAA record stays. What a bound credential
    # always allowed, it still does: the thief's own address, the one it connects from.
    endpoint.source_ip = THIEF
    out = inadyn(endpoint, tmp_path, secret, f"echo {OUTSIDE6}")
    assert records(world, dyn) == {"A": [THIEF], "AAAA": [ROUTER6]}, out
    assert f"hostname={HOME}&myip={OUTSIDE6}" in sent(), out
    assert "abuse" in out, out


def test_one_request_with_both_addresses_and_a_changed_network(world, dyn, ctl, endpoint):
    """The FRITZ!Box form (`myip=<ipaddr>,<ip6addr>` in one request), sent with curl;
    then the provider renumbers the line and the operator declares the new network."""
    secret = add_host(ctl, "--prefixes", NETWORK)

    def curl(myip: str) -> str:
        p = subprocess.run(
            ["curl", "-sS", "-u", f"{USER}:{secret}",
             f"{endpoint.url}/nic/update?hostname={HOME}&myip={myip}"],
            capture_output=True, text=True, timeout=60, check=True)
        return p.stdout.strip()

    assert curl(f"{ROUTER},{ROUTER6}") == f"good {ROUTER},{ROUTER6}"
    assert records(world, dyn) == {"A": [ROUTER], "AAAA": [ROUTER6]}
    renumbered = "2001:db8:34::7"
    assert curl(f"{ROUTER},{renumbered}") == "abuse"
    out = ctl("host", "prefixes", USER, "--prefixes", "2001:db8:34::/48").stdout
    assert "2001:db8:34::/48" in out, out
    assert curl(f"{ROUTER},{ROUTER6}") == "abuse", "the old network no longer counts"
    assert curl(f"{ROUTER},{renumbered}") == f"good {ROUTER},{renumbered}"
    assert records(world, dyn) == {"A": [ROUTER], "AAAA": [renumbered]}
    # Without a network, a bound host is back to the address each request comes from.
    ctl("host", "prefixes", USER, "--prefixes", "none")
    assert curl(f"{ROUTER},{renumbered}") == "abuse"
    assert curl(ROUTER) == f"nochg {ROUTER},{renumbered}"
