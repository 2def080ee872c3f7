"""`make sandbox`: a small ec2-dns world on this machine, to try the operator CLI on.

Starts moto and the strict AWS proxy (which enforces Route53's rules that moto does not:
plain moto, for one, cannot re-create a record it deleted), creates a lock table, a public
and a private hosted zone `dyn.example.com`, and three running instances: two tagged
`dnsname=web.dyn.example.com` (the second waits for the name) and one tagged
`dnsname=api.dyn.example.com`. The real function starts once, records its configuration in
the lock table and reconciles everything, as a deployment would. Then it prints the
environment for `ec2-dns-ctl` and waits until Ctrl-C, stopping everything it started.

    .venv/bin/python tests/sandbox.py [--env-file FILE]

`docs_check.py` uses `Sandbox` directly to run the documentation's runnable shell blocks.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from harness import AwsProxy, Ec2DnsFunction, MotoServer, World  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOMAIN = "dyn.example.com"
LOCK_TABLE = "ec2-dns-locks"


class Sandbox:
    def __init__(self, binary_dir: Path):
        self.binary_dir = binary_dir
        self.moto: MotoServer | None = None
        self.proxy: AwsProxy | None = None
        self.fn: Ec2DnsFunction | None = None
        self.instances: dict[str, str] = {}

    def start(self) -> "Sandbox":
        for exe in ("ec2-dns", "ec2-dns-ctl"):
            if not (self.binary_dir / exe).exists():
                raise SystemExit(f"{self.binary_dir / exe} not found: run `cargo build`")
        try:
            self.moto = MotoServer().start()
            self.proxy = AwsProxy(self.moto.url).start()
            w = World(self.moto.url, LOCK_TABLE)
            w.create_lock_table()
            self.public = w.create_zone(DOMAIN)
            self.private = w.create_zone(DOMAIN, private=True)
            self.instances["web-1"] = w.run_instance({"Name": "web-1", "dnsname": f"web.{DOMAIN}"})
            time.sleep(1.1)  # distinct launch times: the first launched holds the name
            self.instances["web-2"] = w.run_instance({"Name": "web-2", "dnsname": f"web.{DOMAIN}"})
            self.instances["api-1"] = w.run_instance({"Name": "api-1", "dnsname": f"api.{DOMAIN}"})
            self.fn = Ec2DnsFunction(
                self.proxy.url, {"LOCK_TABLE": LOCK_TABLE, "ALLOWED_DOMAINS": DOMAIN},
                command=[str(self.binary_dir / "ec2-dns")]).start().wait_ready()
            self.fn.invoke_ok({"reconcile": "all"})
            # The function has recorded its configuration; the CLI acts with it from here.
            self.fn.stop()
            self.fn = None
        except BaseException:
            self.stop()
            raise
        return self

    def env(self) -> dict[str, str]:
        """What `ec2-dns-ctl` needs to act on the sandbox, as an operator's shell has it."""
        assert self.proxy is not None
        return {
            "AWS_ENDPOINT_URL": self.proxy.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_EC2_METADATA_DISABLED": "true",
            "LOCK_TABLE": LOCK_TABLE,
            "PATH": f"{self.binary_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }

    def stop(self) -> None:
        for thing in (self.fn, self.proxy, self.moto):
            if thing is not None:
                try:
                    thing.stop()
                except Exception as e:  # keep stopping the rest
                    print(f"(while stopping {type(thing).__name__}: {e})", file=sys.stderr)
        self.fn = self.proxy = self.moto = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", help="also write the export lines to this file")
    parser.add_argument("--bin-dir", default=str(REPO / "target" / "debug"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print("Starting moto, the strict AWS proxy and one run of ec2-dns on 127.0.0.1 ...",
          file=sys.stderr)
    sandbox = Sandbox(Path(args.bin_dir).resolve()).start()
    try:
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sandbox.env().items())
        if args.env_file:
            Path(args.env_file).write_text(exports)
        print(f"\nThe sandbox runs: lock table {LOCK_TABLE}, zones {DOMAIN} (public "
              f"{sandbox.public}, private {sandbox.private}), instances "
              + ", ".join(f"{k} {v}" for k, v in sandbox.instances.items()))
        print("In another shell, paste these lines (or `source` the --env-file), then try "
              "`ec2-dns-ctl status`, `ec2-dns-ctl plan`:\n")
        print(exports)
        print("Ctrl-C stops it.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping the sandbox", file=sys.stderr)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
