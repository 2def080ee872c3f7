"""A Lambda Runtime API host and the process wrapper that runs the real binary against it.

`RuntimeApi` implements the four routes a custom runtime uses:
`GET /2018-06-01/runtime/invocation/next` (blocks until an invocation is queued),
`POST …/invocation/{id}/response`, `POST …/invocation/{id}/error` and
`POST /2018-06-01/runtime/init/error`.

`Ec2DnsFunction` starts the binary with a clean environment (nothing of the host's
AWS_* leaks in), points it at the Runtime API host and the AWS proxy, and offers
`invoke(payload)`.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .net import LOOPBACK, read_http_body, stop_process

API = "/2018-06-01/runtime"
FUNCTION_NAME = "ec2-dns"
ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"


@dataclass
class LambdaError:
    """The function answered an invocation with `/error`."""
    error_type: str
    error_message: str
    raw: dict = field(default_factory=dict)

    @property
    def errorType(self) -> str:  # noqa: N802 - the wire name
        return self.error_type

    @property
    def errorMessage(self) -> str:  # noqa: N802
        return self.error_message


@dataclass
class ProcessExited:
    """The function process exited instead of answering (e.g. an init failure)."""
    exit_code: int | None
    stdout: str
    stderr: str
    init_error: dict | None = None

    @property
    def output(self) -> str:
        """Everything the process said: init error, stdout and stderr."""
        parts = []
        if self.init_error:
            parts.append(json.dumps(self.init_error))
        return "\n".join(parts + [self.stdout, self.stderr])


class InvocationTimeout(AssertionError):
    pass


class _Pending:
    def __init__(self, request_id: str, body: bytes, deadline_ms: int):
        self.request_id = request_id
        self.body = body
        self.deadline_ms = deadline_ms
        self.done = threading.Event()
        self.result: tuple[str, bytes, dict] | None = None  # (kind, body, headers)
        self.picked_up = threading.Event()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    api: "RuntimeApi"

    def handle_error(self, request, client_address):
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes = b"", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        api = self.server.api
        if self.path.rstrip("/") != f"{API}/invocation/next":
            return self._reply(404, b'{"errorMessage":"not found"}')
        api.polled.set()
        while True:
            try:
                pending = api._queue.get(timeout=0.2)
                break
            except queue.Empty:
                if api._stopping.is_set():
                    self.close_connection = True
                    return self._reply(500, b'{"errorMessage":"runtime host stopping"}')
        api._in_flight[pending.request_id] = pending
        pending.picked_up.set()
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", pending.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(pending.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
            ("Lambda-Runtime-Trace-Id",
             f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
             f"Parent={uuid.uuid4().hex[:16]};Sampled=0"),
        ]
        self._reply(200, pending.body, headers)

    def do_POST(self):
        api = self.server.api
        body = read_http_body(self.rfile, self.headers)
        path = self.path.rstrip("/")
        if path == f"{API}/init/error":
            api.init_error = _json_or_text(body)
            api.init_error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            return self._reply(202, b'{"status":"OK"}')
        prefix = f"{API}/invocation/"
        if path.startswith(prefix):
            rest = path[len(prefix):]
            request_id, _, kind = rest.rpartition("/")
            pending = api._in_flight.pop(request_id, None)
            if kind not in ("response", "error") or pending is None:
                return self._reply(400, json.dumps(
                    {"errorMessage": f"unknown invocation {request_id!r}",
                     "errorType": "InvalidRequestID"}).encode())
            pending.result = (kind, body, dict(self.headers.items()))
            pending.done.set()
            return self._reply(202, b'{"status":"OK"}')
        return self._reply(404, b'{"errorMessage":"not found"}')


def _json_or_text(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return {"raw": body.decode("utf-8", "replace")}


class RuntimeApi:
    """The Runtime API host on 127.0.0.1 (free port)."""

    def __init__(self):
        self._queue: "queue.Queue[_Pending]" = queue.Queue()
        self._in_flight: dict[str, _Pending] = {}
        self._stopping = threading.Event()
        #: Set at the function's first poll for an invocation: its initialisation is done.
        self.polled = threading.Event()
        self.init_error = None
        self.init_error_type = None
        self._server: _Server | None = None

    @property
    def address(self) -> str:
        """The value of AWS_LAMBDA_RUNTIME_API."""
        return f"{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> "RuntimeApi":
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.api = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def submit(self, body: bytes, timeout_s: float) -> _Pending:
        pending = _Pending(str(uuid.uuid4()), body, int((time.time() + timeout_s) * 1000))
        self._queue.put(pending)
        return pending


def _default_binary() -> str | None:
    return os.environ.get("EC2_DNS_BIN") or str(
        Path(__file__).resolve().parents[2] / "target" / "debug" / "ec2-dns")


class Ec2DnsFunction:
    """The real binary (or any command speaking the Runtime API) as a Lambda function.

    config: the function's configuration (LOCK_TABLE, ALLOWED_DOMAINS, NAME_TAG, RECORD_TTL,
    …); a value of None leaves the variable out. access_key: the access key id it signs
    with (moto accepts any; the proxy logs it, so that a test can tell whose calls are
    whose, as tests/e2e/test_iam.py does).
    """

    # moto does not throttle: the function's own Route53 budget is set out of the way (a
    # test of the pacing sets it).
    DEFAULT_CONFIG = {"LOCK_TABLE": "ec2-dns-locks", "ALLOWED_DOMAINS": "dyn.example.com",
                      "ROUTE53_REQUESTS_PER_SECOND": "100", "ROUTE53_CHANGES_PER_SECOND": "10000"}

    def __init__(self, endpoint_url: str, config: dict | None = None, *,
                 command: list[str] | None = None, extra_env: dict | None = None,
                 workdir: str | None = None, access_key: str = "testing"):
        self.endpoint_url = endpoint_url
        self.access_key = access_key
        self.config = dict(self.DEFAULT_CONFIG)
        self.config.update(config or {})
        self.command = command or [_default_binary()]
        self.extra_env = extra_env or {}
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ec2dns-fn-"))
        self.runtime = RuntimeApi()
        self.proc: subprocess.Popen | None = None
        self._stdout_path = self.workdir / "stdout.log"
        self._stderr_path = self.workdir / "stderr.log"
        self._files = []
        self.invocations = 0

    def environment(self) -> dict:
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        for empty in ("aws-config", "aws-credentials"):  # nothing of the host's ~/.aws
            (home / empty).touch()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AWS_LAMBDA_RUNTIME_API": self.runtime.address,
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"2026/11/23/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            "RUST_BACKTRACE": "1",
        }
        for k, v in self.config.items():
            if v is not None:
                env[k] = str(v)
        env.update({k: v for k, v in self.extra_env.items() if v is not None})
        return env

    def start(self) -> "Ec2DnsFunction":
        if not self.command[0] or not os.path.exists(self.command[0]):
            raise FileNotFoundError(
                f"function binary {self.command[0]!r} not found: build it (cargo build) "
                "or set EC2_DNS_BIN")
        self.runtime.start()
        out = open(self._stdout_path, "wb")
        err = open(self._stderr_path, "wb")
        self._files = [out, err]
        self.proc = subprocess.Popen(self.command, env=self.environment(), stdout=out, stderr=err,
                                     stdin=subprocess.DEVNULL, cwd=str(self.workdir),
                                     start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 30.0) -> "Ec2DnsFunction":
        """Waits until the function polls for its first invocation (its start-up calls, such
        as recording its configuration, are done) or exits."""
        deadline = time.monotonic() + timeout
        while not self.runtime.polled.wait(0.02):
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                break
        return self

    def deployed(self, timeout: float = 60) -> "Ec2DnsFunction":
        """What a deployment does once the function is up (CloudFormation's custom resource,
        Terraform's `aws_lambda_invocation`): one `{"record_configuration": true}`
        invocation, whose answer is not checked (a test may start the function before its
        lock table exists). The container is then warm: the calls a test counts are those
        of its own invocations. Returns self."""
        self.invoke({"record_configuration": True}, timeout=timeout)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc)
        self.runtime.stop()
        for f in self._files:
            f.close()
        self._files = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- output
    def stdout(self) -> str:
        return self._stdout_path.read_text("utf-8", "replace") if self._stdout_path.exists() else ""

    def stderr(self) -> str:
        return self._stderr_path.read_text("utf-8", "replace") if self._stderr_path.exists() else ""

    def logs(self) -> list[dict]:
        """The binary's log lines, parsed as JSON where they are JSON ({"raw": line} otherwise)."""
        out = []
        for line in (self.stdout() + "\n" + self.stderr()).splitlines():
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
                out.append(parsed if isinstance(parsed, dict) else {"raw": line})
            except ValueError:
                out.append({"raw": line})
        return out

    def log_tail(self, n: int = 40, width: int = 1500) -> str:
        lines = (self.stdout() + self.stderr()).splitlines()
        return "\n".join(line if len(line) <= width else line[:width] + " …"
                         for line in lines[-n:])

    # -- invoking
    def _exited(self) -> ProcessExited:
        for f in self._files:
            f.flush()
        code = self.proc.poll() if self.proc else None
        return ProcessExited(code, self.stdout(), self.stderr(), self.runtime.init_error)

    def invoke(self, payload=None, *, raw: bytes | None = None, timeout: float = 60,
               deadline_s: float | None = None):
        """Invoke once. Returns the parsed response, a LambdaError, or ProcessExited.

        `raw` sends bytes as they are (for payloads that are not JSON). The invocation's
        deadline, as the function sees it, is `deadline_s` from now (default: `timeout`).
        """
        if self.proc is None:
            raise RuntimeError("function not started")
        if self.proc.poll() is not None:
            return self._exited()
        body = raw if raw is not None else json.dumps(payload).encode()
        self.invocations += 1
        pending = self.runtime.submit(body, deadline_s if deadline_s is not None else timeout)
        deadline = time.monotonic() + timeout
        while not pending.done.wait(0.02):
            if self.proc.poll() is not None:
                # a last answer may still be in flight
                if pending.done.wait(0.2):
                    break
                return self._exited()
            if time.monotonic() > deadline:
                raise InvocationTimeout(
                    f"no answer within {timeout}s (picked up: {pending.picked_up.is_set()})\n"
                    f"--- function output ---\n{self.log_tail()}")
        kind, data, headers = pending.result
        parsed = _json_or_text(data) if data else None
        if kind == "response":
            return parsed
        parsed = parsed if isinstance(parsed, dict) else {"raw": parsed}
        return LambdaError(
            error_type=str(parsed.get("errorType")
                           or headers.get("Lambda-Runtime-Function-Error-Type") or ""),
            error_message=str(parsed.get("errorMessage", "")),
            raw=parsed,
        )

    def invoke_ok(self, payload=None, *, raw: bytes | None = None, timeout: float = 60):
        """Invoke and insist on a successful response (the failure message shows the logs)."""
        result = self.invoke(payload, raw=raw, timeout=timeout)
        if isinstance(result, LambdaError):
            raise AssertionError(
                f"invocation failed: {result.error_type}: {result.error_message}\n"
                f"payload: {json.dumps(payload)[:500]}\n--- function output ---\n{self.log_tail()}")
        if isinstance(result, ProcessExited):
            raise AssertionError(
                f"function process exited with {result.exit_code} instead of answering\n"
                f"init error: {result.init_error}\n--- function output ---\n{self.log_tail()}")
        return result
