"""A Lambda function URL in front of a function: real HTTP clients (ddclient, inadyn, curl)
talk to it on 127.0.0.1, and each request becomes one invocation with the function URL
event (the API Gateway HTTP API payload format 2.0), as AWS builds it.

The function's answer (`statusCode`, `headers`, `body`, `isBase64Encoded`) becomes the HTTP
response. HTTP/1.0 and HTTP/1.1 clients both work. The source address the function sees is
the client's socket address, as a function URL reports the caller's address; `source_ip`
stands in for the address a client would reach AWS from over the internet (a home router's
public address), since every client here connects from 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .net import LOOPBACK, read_http_body
from .runtime import ACCOUNT, LambdaError, ProcessExited

URL_ID = "abcdefghijklmnopqrstuvwxyz012345"  # 32 characters, like a function URL's id


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes,
                       source_ip: str, domain: str) -> dict:
    """The event a Lambda function URL sends for one HTTP request."""
    parsed = urllib.parse.urlsplit(target)
    lower = {}
    for k, v in headers.items():
        key = k.lower()
        lower[key] = f"{lower[key]},{v}" if key in lower else v
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parsed.path or "/",
        "rawQueryString": parsed.query,
        "headers": lower,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": domain,
            "domainPrefix": URL_ID,
            "http": {
                "method": method,
                "path": parsed.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if parsed.query:
        params: dict[str, str] = {}
        for k, v in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        event["queryStringParameters"] = params
    if "cookie" in lower:
        event["cookies"] = [c.strip() for c in lower.pop("cookie").split(";")]
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    front: "FunctionUrlFront"

    def handle_error(self, request, client_address):
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _handle(self):
        front = self.server.front
        body = read_http_body(self.rfile, self.headers)
        headers = {k: v for k, v in self.headers.items()}
        event = function_url_event(self.command, self.path, headers, body,
                                   front.source_ip or self.client_address[0], front.domain)
        with front._lock:
            front.requests.append(event)
        result = front.function.invoke(event, timeout=front.timeout)
        if isinstance(result, (LambdaError, ProcessExited)):
            # What a function URL answers when the function fails.
            return self._reply(502, {"Content-Type": "application/json"},
                               b'{"Message":"Internal Server Error"}')
        if not isinstance(result, dict) or "statusCode" not in result:
            # A plain value is returned as JSON with status 200.
            return self._reply(200, {"Content-Type": "application/json"},
                               json.dumps(result).encode())
        data = result.get("body") or ""
        raw = base64.b64decode(data) if result.get("isBase64Encoded") else data.encode("utf-8")
        self._reply(int(result["statusCode"]), result.get("headers") or {}, raw)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def _reply(self, status: int, headers: dict, body: bytes):
        if self.request_version == "HTTP/1.0":
            self.close_connection = True
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


class FunctionUrlFront:
    """Serves a function (an `Ec2DnsFunction`, started) as its function URL would."""

    def __init__(self, function, timeout: float = 60, source_ip: str | None = None):
        self.function = function
        self.timeout = timeout
        self.source_ip = source_ip
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def domain(self) -> str:
        return f"{URL_ID}.lambda-url.us-east-1.on.aws"

    def start(self) -> "FunctionUrlFront":
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.front = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


__all__ = ["ACCOUNT", "FunctionUrlFront", "function_url_event"]
