"""Small network helpers: loopback only."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0, alive=None) -> None:
    """Wait until `url` answers any HTTP status. `alive()` returning False aborts early."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"process serving {url} exited before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
            return
        except urllib.error.HTTPError:
            return
        except OSError as e:  # connection refused, reset, timeout
            last = e
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


def read_http_body(rfile, headers) -> bytes:
    """Read a request body framed by Content-Length or chunked transfer encoding."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        chunks = []
        while True:
            line = rfile.readline()
            if not line:
                break
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # trailers, up to the empty line
                while True:
                    t = rfile.readline()
                    if not t or t in (b"\r\n", b"\n"):
                        break
                break
            chunks.append(rfile.read(size))
            rfile.readline()  # CRLF after each chunk
        return b"".join(chunks)
    length = int(headers.get("Content-Length") or 0)
    return rfile.read(length) if length > 0 else b""


def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """Terminate a child process, and kill it if it has not exited after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)
