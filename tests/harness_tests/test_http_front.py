"""The function URL front: real HTTP in, the function URL event to the function, its answer
back as the HTTP response."""

from __future__ import annotations

import base64
import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import Ec2DnsFunction
from harness.http_front import FunctionUrlFront

STANDIN = [sys.executable, str(Path(__file__).with_name("standin_function.py"))]


@pytest.fixture
def front(tmp_path):
    fn = Ec2DnsFunction("http://127.0.0.1:9", command=STANDIN, workdir=str(tmp_path)).start()
    f = FunctionUrlFront(fn).start()
    yield f
    f.stop()
    fn.stop()


def test_a_request_becomes_a_function_url_event_and_the_answer_the_response(front):
    auth = base64.b64encode(b"home:s3cret").decode()
    req = urllib.request.Request(f"{front.url}/nic/update?hostname=a.example.com&myip=1.2.3.4",
                                 headers={"Authorization": f"Basic {auth}",
                                          "User-Agent": "ddclient/3.10"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201 and r.headers["x-answer"] == "yes"
        event = json.loads(r.read())
    assert event["version"] == "2.0" and event["rawPath"] == "/nic/update"
    assert event["rawQueryString"] == "hostname=a.example.com&myip=1.2.3.4"
    assert event["queryStringParameters"] == {"hostname": "a.example.com", "myip": "1.2.3.4"}
    assert event["headers"]["authorization"] == f"Basic {auth}"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["http"]["userAgent"] == "ddclient/3.10"
    assert front.requests[-1] == event


def test_an_http_1_0_client_and_a_post_body_work(front):
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as s:
        s.sendall(b"POST /x HTTP/1.0\r\nHost: h\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 201") or head.startswith(b"HTTP/1.1 201"), head
    event = json.loads(body)
    assert event["body"] == '{"a":1}' and event["requestContext"]["http"]["method"] == "POST"


def test_a_base64_answer_is_decoded_and_a_failing_function_is_a_502(front):
    with urllib.request.urlopen(f"{front.url}/binary", timeout=10) as r:
        assert r.read() == b"\x00\x01\x02\xff"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{front.url}/fail", timeout=10)
    assert e.value.code == 502
