"""moto_server launcher, and a pool that hands every test a fresh, pre-warmed server.

Why a pool: reconcile-all reports cover every instance and zone in the account, so
state must not leak between tests. `POST /moto-api/reset` clears a server, but the
first EC2 call afterwards pays ~1.2 s of backend setup. The pool keeps two servers:
while a test uses one, the other is reset and warmed in a background thread, so the
test itself starts on a clean, warm server.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3

from .net import LOOPBACK, free_port, stop_process, wait_http

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def moto_server_executable() -> str:
    """moto_server from the interpreter's own environment (the venv), else PATH."""
    here = Path(sys.executable).parent / "moto_server"
    if here.exists():
        return str(here)
    found = shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server not found: install tests/requirements.txt")
    return found


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def boto_session() -> boto3.session.Session:
    """One shared session (service models are loaded once; clients are cheap after that)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session(region_name=REGION, **CREDENTIALS)
        return _session


def boto_client(service: str, endpoint_url: str, config=None):
    """A boto3 client with static test credentials, independent of the host's AWS_* env."""
    session = boto_session()
    with _session_lock:  # client creation on one session is not thread-safe
        return session.client(service, endpoint_url=endpoint_url, config=config)


class MotoServer:
    """One `moto_server -H 127.0.0.1 -p <free port>` subprocess."""

    def __init__(self, log_dir: str | None = None, command: list[str] | None = None):
        """`command`: what starts the server, before `-H host -p port` (default: the
        environment's `moto_server`)."""
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.command = command
        self._log_dir = log_dir or tempfile.mkdtemp(prefix="ec2dns-moto-")
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0) -> "MotoServer":
        # Built from scratch, not copied: this runs in background threads while pytest
        # changes os.environ, and nothing of the host's AWS_* may reach moto.
        env = {"PATH": os.environ.get("PATH") or "/usr/bin:/bin",
               "HOME": self._log_dir, "LANG": "C.UTF-8",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION}
        for attempt in range(3):
            self.port = free_port()
            self._log = open(os.path.join(self._log_dir, f"moto-{self.port}.log"), "wb")
            self.proc = subprocess.Popen(
                [*(self.command or [moto_server_executable()]), "-H", LOOPBACK, "-p",
                 str(self.port)],
                stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )
            try:
                wait_http(f"{self.url}/moto-api/", timeout=timeout,
                          alive=lambda: self.proc.poll() is None)
                return self
            except RuntimeError:
                # lost the race for the port: try another
                self.stop()
                if attempt == 2:
                    raise
        return self

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()

    def warm(self) -> None:
        """Pay the per-backend setup cost now (EC2 is the slow one)."""
        boto_client("ec2", self.url).describe_instances()
        boto_client("dynamodb", self.url).list_tables()
        boto_client("route53", self.url).list_hosted_zones()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class MotoPool:
    """Fresh, warm moto servers on demand; used servers are reset and warmed in the background."""

    def __init__(self, size: int = 2):
        self.size = size
        self._servers: list[MotoServer] = []
        self._ready: "queue.Queue[MotoServer | BaseException]" = queue.Queue()
        self._threads: list[threading.Thread] = []

    def start(self) -> "MotoPool":
        for _ in range(self.size):
            server = MotoServer()
            self._servers.append(server)
            self._spawn(self._boot, server)
        return self

    def _spawn(self, fn, server: MotoServer) -> None:
        t = threading.Thread(target=fn, args=(server,), daemon=True)
        t.start()
        self._threads.append(t)

    def _boot(self, server: MotoServer) -> None:
        try:
            server.start()
            server.warm()
            self._ready.put(server)
        except BaseException as e:  # reported to the next acquire()
            self._ready.put(e)

    def _recycle(self, server: MotoServer) -> None:
        try:
            if server.proc is None or server.proc.poll() is not None:
                server.stop()
                server.start()
            else:
                server.reset()
            server.warm()
            self._ready.put(server)
        except BaseException as e:
            self._ready.put(e)

    def acquire(self, timeout: float = 90.0) -> MotoServer:
        started = time.monotonic()
        item = self._ready.get(timeout=timeout)
        if isinstance(item, BaseException):
            raise RuntimeError("moto server could not be prepared") from item
        item.waited_s = time.monotonic() - started
        return item

    def release(self, server: MotoServer) -> None:
        self._spawn(self._recycle, server)

    def stop(self) -> None:
        for t in self._threads:
            t.join(timeout=30)
        for server in self._servers:
            server.stop()
