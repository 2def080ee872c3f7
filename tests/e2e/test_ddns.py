"""The DDNS endpoint end to end: the real `ec2-dns-ddns` binary behind a function URL served
on 127.0.0.1, against the emulator through the strict proxy, updated by Debian's own
`ddclient` and `inadyn` as a home router would run them.

Every client connects from 127.0.0.1; the front reports the router's public address
(ROUTER) as the caller's, as a function URL would for a request from the internet.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import Ec2DnsFunction, ec2_state_change
from harness.http_front import FunctionUrlFront

HOME = "home.dyn.example.com"
ROUTER = "198.51.100.7"
USER = "home-router"


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        pytest.fail(f"{name} is not installed: apt-get install -y ddclient inadyn (CI does)",
                    pytrace=False)
    return path


def _start_endpoint(proxy, world, ec2_dns_bin, workdir: Path):
    """One container of the endpoint: the binary, and a function URL in front of it."""
    binary = Path(ec2_dns_bin).with_name("ec2-dns-ddns")
    if not binary.exists():
        pytest.fail(f"{binary} not found: run `cargo build`", pytrace=False)
    workdir.mkdir()
    fn = Ec2DnsFunction(proxy.url, {"LOCK_TABLE": world.lock_table}, command=[str(binary)],
                        workdir=str(workdir)).start().wait_ready()
    return fn, FunctionUrlFront(fn, source_ip=ROUTER).start()


def _stop_endpoint(fn, front) -> None:
    front.stop()
    fn.stop()
    tail = fn.log_tail(40)
    if tail:
        print(f"--- ec2-dns-ddns output ({fn.workdir}) ---\n{tail}")


@pytest.fixture
def endpoint(proxy, world, ec2_dns_bin, tmp_path):
    fn, front = _start_endpoint(proxy, world, ec2_dns_bin, tmp_path / "ddns")
    yield front
    _stop_endpoint(fn, front)


@pytest.fixture
def endpoints(proxy, world, ec2_dns_bin, tmp_path):
    """Four containers, each its own process behind its own front: concurrent requests to
    a function URL land in different containers, which share nothing but the table."""
    started = [_start_endpoint(proxy, world, ec2_dns_bin, tmp_path / f"ddns{i}")
               for i in range(4)]
    yield [front for _, front in started]
    for fn, front in started:
        _stop_endpoint(fn, front)


def add_host(ctl, *extra: str) -> str:
    issued = json.loads(ctl("host", "add", USER, "--names", HOME, "--json", *extra).stdout)
    assert issued["host"] == USER and issued["names"] == [HOME]
    return issued["secret"]


def ddclient(front: FunctionUrlFront, tmp_path: Path, password: str, name: str = HOME):
    conf = tmp_path / "ddclient.conf"
    conf.write_text(
        "daemon=0\n"
        "ssl=no\n"
        f"cache={tmp_path / 'ddclient.cache'}\n"
        f"use=web, web=http://127.0.0.1:{front.port}/checkip\n"
        "protocol=dyndns2\n"
        f"server=127.0.0.1:{front.port}\n"
        f"login={USER}\n"
        f"password='{password}'\n"
        f"{name}\n")
    conf.chmod(0o600)
    try:
        # -daemon=0 on the command line: ddclient 3.10 ignores `daemon=0` in the file and
        # would sleep for a minute and update again.
        p = subprocess.run([_tool("ddclient"), "-file", str(conf), "-foreground", "-force",
                            "-daemon=0", "-verbose", "-noquiet"],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"ddclient did not finish:\n{e.output}\n{e.stderr}") from None
    return p.stdout + p.stderr


def answers(front: FunctionUrlFront) -> list[str]:
    """What the endpoint was asked at /nic/update, as (query) strings."""
    return [e["rawQueryString"] for e in front.requests if e["rawPath"] == "/nic/update"]


def test_ddclient_publishes_the_routers_address_and_a_second_run_writes_nothing(
        world, dyn, ctl, endpoint, proxy, tmp_path):
    secret = add_host(ctl)
    out = ddclient(endpoint, tmp_path, secret)
    assert "good" in out, out
    assert answers(endpoint) == [f"system=dyndns&hostname={HOME}&myip={ROUTER}"]
    assert world.records(dyn.public)[(HOME, "A")][1] == [ROUTER]
    marker = world.marker(dyn.public, HOME)
    assert marker["owner"] == f"123456789012/us-east-1/host/{USER}", marker
    assert world.lock(HOME)["owner"] == marker["owner"]
    assert (HOME, "A") not in world.records(dyn.private), "a host has no private address"

    proxy.reset_calls()
    out = ddclient(endpoint, tmp_path, secret)
    assert "nochg" in out or "already" in out, out
    assert proxy.write_calls() == {}, proxy.write_calls()
    assert not any(k.startswith("route53:") for k in proxy.calls()), proxy.calls()

    listed = json.loads(ctl("host", "list", "--json").stdout)
    assert [(h["host"], h["ipv4"]) for h in listed] == [(USER, ROUTER)]
    assert "argon2" not in json.dumps(listed)
    # The reconciler agrees: a reconcile of everything keeps the host's record.
    assert json.loads(ctl("plan", "--json").stdout)["changes"] == []


def test_a_wrong_password_is_refused_and_nothing_is_written(world, dyn, ctl, endpoint, proxy,
                                                              tmp_path):
    add_host(ctl)
    proxy.reset_calls()
    out = ddclient(endpoint, tmp_path, "not-the-password")
    assert "badauth" in out, out
    assert not any(k.startswith("route53:Change") for k in proxy.calls())
    assert world.lock(HOME) is None
    assert world.lock_items()[f"host#{USER}"]["failures"] == 1


def test_a_name_an_instance_holds_is_refused_to_the_host(world, dyn, ctl, endpoint, fn, tmp_path):
    web = world.run_instance({"dnsname": HOME})
    fn.invoke_ok(ec2_state_change(web, "running"))
    # host add refuses the held name unless forced (test_host_add_refuses_…); forced, the
    # router is told nohost.
    secret = add_host(ctl, "--force")
    out = ddclient(endpoint, tmp_path, secret)
    assert "nohost" in out, out
    assert world.holder(HOME) == web
    assert world.records(dyn.public)[(HOME, "A")][1] == [world.public_ip(web)]


def test_inadyn_updates_the_name_too(world, dyn, ctl, endpoint, tmp_path):
    secret = add_host(ctl)
    conf = tmp_path / "inadyn.conf"
    conf.write_text(
        "period = 300\n"
        f"custom home {{\n"
        "    ssl = false\n"
        f"    username = {USER}\n"
        f"    password = \"{secret}\"\n"
        f"    ddns-server = \"127.0.0.1:{endpoint.port}\"\n"
        "    ddns-path = \"/nic/update?hostname=%h&myip=%i\"\n"
        f"    checkip-server = \"127.0.0.1:{endpoint.port}\"\n"
        "    checkip-path = \"/checkip\"\n"
        "    checkip-ssl = false\n"
        f"    hostname = \"{HOME}\"\n"
        "}\n")
    conf.chmod(0o600)
    cache = tmp_path / "inadyn-cache"
    cache.mkdir()
    p = subprocess.run([_tool("inadyn"), "-1", "--foreground", "-f", str(conf), "--cache-dir",
                        str(cache), "-P", str(tmp_path / "inadyn.pid"), "-l", "debug"],
                       capture_output=True, text=True, timeout=60)
    assert world.records(dyn.public).get((HOME, "A"), (None, []))[1] == [ROUTER], \
        p.stdout + p.stderr
    assert answers(endpoint) == [f"hostname={HOME}&myip={ROUTER}"]


def test_the_reflector_and_the_sample_protocol_over_http(world, dyn, ctl, endpoint):
    import hashlib
    import urllib.request

    with urllib.request.urlopen(f"{endpoint.url}/checkip.json", timeout=10) as r:
        assert json.loads(r.read()) == {"ip": ROUTER}
    issued = json.loads(ctl("host", "add", "pi", "--names", HOME, "--sample", "--json").stdout)
    token = hashlib.sha256(f"{ROUTER}{HOME}{issued['secret']}".encode()).hexdigest()
    with urllib.request.urlopen(f"{endpoint.url}/?mode=set&hostname={HOME}&hash={token}",
                                timeout=10) as r:
        assert r.status == 201, r.read()
    assert world.records(dyn.public)[(HOME, "A")][1] == [ROUTER]
    # The secret is in SSM as a SecureString, not in the lock table.
    param = world.ssm.get_parameter(Name="/ec2-dns/hosts/pi",
                                                       WithDecryption=True)["Parameter"]
    assert param["Type"] == "SecureString" and param["Value"] == issued["secret"]
    assert issued["secret"] not in json.dumps(world.lock_items())
    # Removing the host releases its name at once.
    ctl("host", "remove", "pi")
    assert world.lock(HOME).get("owner") is None
    assert (HOME, "A") not in world.records(dyn.public)


def dyndns2(front: FunctionUrlFront, password: str) -> str:
    """One update as a router sends it; the answer's body."""
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    req = urllib.request.Request(f"{front.url}/nic/update?hostname={HOME}",
                                 headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode().strip()


def test_parallel_wrong_passwords_over_four_containers_are_checked_at_most_five_times(
        world, dyn, ctl, endpoints, proxy):
    secret = add_host(ctl)
    guesses = 40
    # The worst interleaving: each container has read the credential before any of them
    # has checked a password.
    hold = proxy.hold("dynamodb", "BatchGetItem", phase="after", count=len(endpoints))
    with ThreadPoolExecutor(max_workers=guesses) as pool:
        sent = [pool.submit(dyndns2, endpoints[i % len(endpoints)], "not-the-password")
                for i in range(guesses)]
        deadline = time.monotonic() + 30
        while hold.held < len(endpoints) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hold.held == len(endpoints), hold
        hold.release()
        answers = [f.result() for f in sent]
    # A checked (wrong) password is answered `badauth`; a request the lockout refused,
    # unchecked, `abuse`.
    checked, refused = answers.count("badauth"), answers.count("abuse")
    assert checked + refused == guesses, answers
    assert checked <= 5, answers
    item = world.lock_items()[f"host#{USER}"]
    assert item["failures"] == 5 and item["locked_until"] > time.time(), item
    # Locked out: the right password is refused too, in every container, unchecked.
    for front in endpoints:
        assert dyndns2(front, secret) == "abuse"
    assert world.lock(HOME) is None
    assert not any(k.startswith("route53:Change") for k in proxy.calls())


def nic_update(front: FunctionUrlFront, user: str, password: str, names: list[str]) -> str:
    """One plain dyndns2 request, as curl or a router sends it: every name at once."""
    req = urllib.request.Request(
        f"{front.url}/nic/update?hostname={','.join(names)}&myip={ROUTER}")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
        return r.read().decode()


def test_a_host_with_fifteen_names_gets_every_one_and_a_reconcile_keeps_them(
        world, dyn, ctl, endpoint, fn):
    # More than a host may have is refused when the credential is made.
    too_many = ",".join(f"x{i}.{dyn.domain}" for i in range(21))
    refused = ctl("host", "add", "big", "--names", too_many, expect=1)
    assert "21 names; a host may have at most 20" in refused.stderr, refused.stderr
    assert "host#big" not in world.lock_items()

    names = [f"h{i}.{dyn.domain}" for i in range(15)]
    issued = json.loads(ctl("host", "add", USER, "--names", ",".join(names), "--json").stdout)
    assert sorted(issued["names"]) == sorted(names)
    body = nic_update(endpoint, USER, issued["secret"], names)
    assert body.splitlines() == [f"good {ROUTER}"] * 15, body

    owner = f"123456789012/us-east-1/host/{USER}"

    def assert_published():
        records = world.records(dyn.public)
        locks = world.lock_items()
        for n in names:
            assert records.get((n, "A"), (None, []))[1] == [ROUTER], n
            assert world.marker(dyn.public, n)["owner"] == owner, n
            assert locks[n].get("owner") == owner, n
        private = {n for (n, _) in world.records(dyn.private)}
        assert not private & set(names), "a host has no private address"

    assert_published()
    # The reconciler binary's reconcile of everything keeps all fifteen.
    report = fn.invoke_ok({"reconcile": "all"})
    assert (report["changes"], report["skipped"], report["failed"]) == ([], [], []), report
    assert_published()
    assert json.loads(ctl("plan", "--json").stdout)["changes"] == []



def test_host_add_refuses_a_name_someone_else_holds_unless_forced(world, dyn, ctl, fn):
    web = world.run_instance({"dnsname": HOME})
    fn.invoke_ok(ec2_state_change(web, "running"))
    refused = ctl("host", "add", "router", "--names", HOME, expect=1)
    assert f"{HOME} is held by 123456789012/us-east-1/{web}" in refused.stderr, refused.stderr
    assert "--force" in refused.stderr and "host#router" not in world.lock_items()
    forced = ctl("host", "add", "router", "--names", HOME, "--force", "--json")
    assert "warning:" in forced.stderr and web in forced.stderr, forced.stderr
    assert json.loads(forced.stdout)["names"] == [HOME]
    assert world.holder(HOME) == web, "the instance keeps it; the host waits"


def test_a_hosts_names_change_without_a_new_secret(world, dyn, ctl, endpoint):
    office = f"office.{dyn.domain}"
    secret = add_host(ctl)
    assert nic_update(endpoint, USER, secret, [HOME]).splitlines() == [f"good {ROUTER}"]
    assert world.records(dyn.public)[(HOME, "A")][1] == [ROUTER]

    p = ctl("host", "names", USER, "--names", office)
    assert "1 record set(s) changed" in p.stdout or "record set(s) changed" in p.stdout, p.stdout
    assert (HOME, "A") not in world.records(dyn.public), "the name it dropped is released"
    assert world.records(dyn.public)[(office, "A")][1] == [ROUTER], "the new one has its address"
    # The router keeps its configuration: the same secret updates the new name.
    assert nic_update(endpoint, USER, secret, [office]).splitlines() == [f"nochg {ROUTER}"]
    assert nic_update(endpoint, USER, secret, [HOME]).splitlines() == ["nohost"]
