"""From a release's files to each deploy path of docs/install.md, offline (`make release-check`).

A block of docs/install.md is checked when the line just before its ```sh fence is
`<!-- release-check -->` (or `<!-- release-check: start -->` for the download block). In an
empty folder, the start block runs first: it must make the release folder `ec2-dns-<version>`
(its `curl` is served from the release under test); every other checked block then runs in
that folder, each in a fresh `bash -e -o pipefail`, as a reader would paste it. What needs
the network or an AWS account is faked (tests/release_fakes.py): `aws` checks the
CloudFormation deploy as CloudFormation would, `terraform apply` becomes an offline
`terraform plan` of the unpacked module (provider mirror, fake credentials), and
`npx cdk deploy` becomes `cdk synth` of the app installed from the npm tarball (npm install
itself is real, from the registry or npm's cache). The check also requires that the blocks
took all three paths, and runs cfn-lint on the downloaded template.

Before running anything (and alone with --static, which tools/release.sh runs):
- the release holds exactly the expected files, each listed in SHA256SUMS with its sum; the
  Lambda zips hold an arm64 `bootstrap`, each ec2-dns-ctl archive a binary for the machine its
  name gives (the Rust target triple: ELF machine, Mach-O CPU type, PE machine), and a Linux
  one needs no glibc symbol version above 2.17 (readelf's version needs), so that it runs on
  Amazon Linux 2;
- the checked blocks speak of the release's version;
- no `aws cloudformation deploy` in README.md, docs/ or the infra READMEs lacks
  `--s3-bucket`, and none passes `--template-body`, while the template is over the 51,200
  bytes CloudFormation accepts inline.

    python3 tests/release_check.py [RELEASE_DIR]            (default dist/ec2-dns-<version>)
    python3 tests/release_check.py --static [RELEASE_DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import release_fakes  # noqa: E402

INSTALL = REPO / "docs" / "install.md"
MARK = re.compile(r"^<!--\s*release-check(?::\s*(start))?\s*-->$")
FENCE = re.compile(r"^```\s*([A-Za-z0-9_-]*)\s*$")
SHELL = {"sh", "bash", "shell", "console", ""}
# Where a version of ec2-dns appears in a block: file and folder names, `v=`.
VERSION_REF = re.compile(r"(?:ec2-dns(?:-ddns|-ctl|-cdk)?-|terraform-aws-ec2-dns-|\bv=)(\d+\.\d+\.\d+)")
# What the blocks must do between them: one action per deploy path.
PATHS = {
    "CloudFormation (aws cloudformation deploy)": ("aws", "cloudformation deploy"),
    "Terraform (terraform apply)": ("terraform", "apply"),
    "CDK (npx cdk deploy)": ("npx", "cdk deploy"),
}
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
# ec2-dns-ctl, one archive per machine: CI's release (make release) has the Linux ones, a
# published release (make release-all-platforms) the others it can build as well.
CTL_REQUIRED = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
CTL_OPTIONAL = ("x86_64-pc-windows-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin")
GLIBC_MAX = (2, 17)  # Amazon Linux 2


def ctl_archive(version: str, triple: str) -> str:
    return f"ec2-dns-ctl-{version}-{triple}.{'zip' if '-windows-' in triple else 'tar.gz'}"


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    start: bool = False

    def where(self) -> str:
        p = self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path
        return f"{p}:{self.line}"


def fenced_blocks(path: Path, text: str) -> list[tuple[Block, str]]:
    """Every fenced block of a Markdown text, with its language."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i].strip())
        if m:
            end = i + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            out.append((Block(path, i + 1, "\n".join(lines[i + 1:end]) + "\n"), m.group(1)))
            i = end
        i += 1
    return out


def checked_blocks(path: Path, text: str) -> list[Block]:
    """The blocks marked for release-check, in order; the start block must be the first."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = MARK.match(line.strip())
        if not m:
            continue
        if i + 1 >= len(lines) or (f := FENCE.match(lines[i + 1].strip())) is None or f.group(1) not in ("sh", "bash"):
            raise SystemExit(f"{path}:{i + 1}: a release-check mark must come just before a ```sh fence")
        end = i + 2
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise SystemExit(f"{path}:{i + 2}: unterminated block")
        out.append(Block(path, i + 2, "\n".join(lines[i + 2:end]) + "\n", start=bool(m.group(1))))
    starts = [b for b in out if b.start]
    if len(starts) != 1 or out[0] is not starts[0]:
        raise SystemExit(f"{path}: needs exactly one <!-- release-check: start --> block, before the others "
                         f"(found {len(starts)})")
    return out


def commands(code: str) -> list[tuple[int, str]]:
    """Shell commands of a block with their 0-based line, continuation lines joined."""
    out = []
    pending: list[str] = []
    first = 0
    for n, line in enumerate(code.splitlines()):
        if not pending:
            first = n
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        out.append((first, " ".join(p.strip() for p in pending)))
        pending = []
    if pending:
        out.append((first, " ".join(p.strip() for p in pending)))
    return out


def documents() -> list[Path]:
    """The pages whose commands a reader copies: where a deploy command must work."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
            *sorted((REPO / "infra").glob("*/README.md")), *sorted(p for p in (REPO / "infra" / "terraform").rglob("README.md") if ".terraform" not in p.parts)]


def template_size_problems(files: list[Path], template_size: int) -> list[str]:
    """Each documented command that CloudFormation or the CLI would refuse for the template's size."""
    if template_size <= release_fakes.TEMPLATE_BODY_LIMIT:
        return []
    problems = []
    for f in dict.fromkeys(files):
        for block, lang in fenced_blocks(f, f.read_text()):
            if lang not in SHELL:
                continue
            for n, cmd in commands(block.code):
                where = f"{block.path.relative_to(REPO) if block.path.is_relative_to(REPO) else block.path}:{block.line + 1 + n}"
                if re.search(r"\bcloudformation\s+deploy\b", cmd) and "--s3-bucket" not in cmd:
                    problems.append(f"{where}: `aws cloudformation deploy` without --s3-bucket, but the template is "
                                    f"{template_size:,} bytes (over {release_fakes.TEMPLATE_BODY_LIMIT:,}): the CLI "
                                    "refuses it")
                if "--template-body" in cmd:
                    problems.append(f"{where}: --template-body, but the template is {template_size:,} bytes (over "
                                    f"{release_fakes.TEMPLATE_BODY_LIMIT:,}): use --template-url or "
                                    "`cloudformation deploy --s3-bucket`")
    return problems


def version_problems(blocks: list[Block], version: str) -> list[str]:
    problems = []
    for b in blocks:
        for n, line in enumerate(b.code.splitlines()):
            for m in VERSION_REF.finditer(line):
                if m.group(1) != version:
                    problems.append(f"{b.path.name}:{b.line + 1 + n}: speaks of {m.group(1)}, the release is {version}")
    return problems


def expected_files(version: str) -> set[str]:
    """The files every release has; optional_files() may be there too."""
    v = version
    return {f"ec2-dns-{v}-lambda-arm64.zip", f"ec2-dns-ddns-{v}-lambda-arm64.zip",
            *(ctl_archive(v, t) for t in CTL_REQUIRED),
            f"ec2-dns-{v}.template.json", f"ec2-dns-cdk-{v}.tgz", f"terraform-aws-ec2-dns-{v}.tar.gz",
            "CHANGELOG.md", "LICENSE", "SHA256SUMS"}


def optional_files(version: str) -> set[str]:
    return {ctl_archive(version, t) for t in CTL_OPTIONAL}


def elf_machine(head: bytes) -> int | None:
    return int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None


def binary_kind(data: bytes) -> str | None:
    """The target triple a binary is for, from its header: ELF (Linux), Mach-O, PE."""
    if data[:4] == b"\x7fELF":
        arch = {62: "x86_64", 183: "aarch64"}.get(elf_machine(data))
        return arch and f"{arch}-unknown-linux-gnu"
    if data[:4] == b"\xcf\xfa\xed\xfe":  # MH_MAGIC_64, little-endian
        arch = {0x01000007: "x86_64", 0x0100000C: "aarch64"}.get(int.from_bytes(data[4:8], "little"))
        return arch and f"{arch}-apple-darwin"
    if data[:2] == b"MZ" and len(data) >= 0x40:
        pe = int.from_bytes(data[0x3C:0x40], "little")
        if data[pe:pe + 4] == b"PE\0\0":
            machine = int.from_bytes(data[pe + 4:pe + 6], "little")
            optional_magic = int.from_bytes(data[pe + 24:pe + 26], "little")
            subsystem = int.from_bytes(data[pe + 24 + 68:pe + 24 + 70], "little")
            # AMD64, PE32+, a console program
            if machine == 0x8664 and optional_magic == 0x20B and subsystem == 3:
                return "x86_64-pc-windows-gnu"
    return None


def glibc_versions(readelf_version_info: str) -> list[tuple[int, ...]]:
    """The GLIBC_ versions named in the version needs section of `readelf -V` output."""
    needs = readelf_version_info.split("Version needs section", 1)
    if len(needs) < 2:
        return []
    return sorted({tuple(map(int, m.group(1).split("."))) for m in re.finditer(r"Name: GLIBC_(\d+(?:\.\d+)+)", needs[1])})


def glibc_needed(binary: Path) -> tuple[int, ...] | None:
    """The highest glibc symbol version a Linux binary needs, None when it needs none."""
    readelf = shutil.which("readelf")
    if not readelf:
        raise SystemExit("release-check needs readelf (binutils) to read the glibc an ec2-dns-ctl needs")
    p = subprocess.run([readelf, "--version-info", "--wide", str(binary)], capture_output=True, text=True)
    if p.returncode != 0:
        raise ValueError(p.stderr.strip() or f"readelf exit {p.returncode}")
    versions = glibc_versions(p.stdout)
    return versions[-1] if versions else None


def ctl_binary(path: Path) -> bytes:
    """The ec2-dns-ctl of an archive (ec2-dns-ctl.exe in a zip), b"" when it has none."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            return z.read("ec2-dns-ctl.exe") if "ec2-dns-ctl.exe" in z.namelist() else b""
    with tarfile.open(path) as t:
        try:
            return t.extractfile("ec2-dns-ctl").read()
        except KeyError:
            return b""


def ctl_problems(path: Path, triple: str) -> list[str]:
    data = ctl_binary(path)
    if binary_kind(data) != triple:
        return [f"{path.name}: its ec2-dns-ctl is not a binary for {triple}"]
    if not triple.endswith("-linux-gnu"):
        return []
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "ec2-dns-ctl"
        binary.write_bytes(data)
        try:
            needed = glibc_needed(binary)
        except ValueError as e:
            return [f"{path.name}: readelf cannot read its ec2-dns-ctl: {e}"]
    if needed and needed > GLIBC_MAX:
        return [f"{path.name}: its ec2-dns-ctl needs glibc {'.'.join(map(str, needed))}, more than "
                f"{'.'.join(map(str, GLIBC_MAX))} (Amazon Linux 2): build it with cargo-zigbuild's "
                f"`.{'.'.join(map(str, GLIBC_MAX))}` target (make ctl-linux)"]
    return []


def artefact_problems(dist: Path, version: str) -> list[str]:
    """The files a user downloads: each named for what it holds, and each in SHA256SUMS."""
    problems = []
    present = {p.name for p in dist.iterdir()}
    want = expected_files(version)
    may = optional_files(version)
    problems += [f"{dist}: {n} is missing" for n in sorted(want - present)]
    problems += [f"{dist}: {n} is not a release file (release-check knows {sorted(want | may)})"
                 for n in sorted(present - want - may)]
    sums = dist / "SHA256SUMS"
    if sums.is_file():
        listed = {}
        for line in sums.read_text().splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
        problems += [f"SHA256SUMS does not list {n}" for n in sorted(present - {"SHA256SUMS"} - set(listed))]
        problems += [f"SHA256SUMS lists {n}, which the release lacks" for n in sorted(set(listed) - present)]
        for name, digest in listed.items():
            if name in present and hashlib.sha256((dist / name).read_bytes()).hexdigest() != digest:
                problems.append(f"SHA256SUMS: {name} does not match")
    for name in sorted(present & (want | may)):
        path = dist / name
        if name.endswith("-lambda-arm64.zip"):
            with zipfile.ZipFile(path) as z:
                if z.namelist() != ["bootstrap"] or elf_machine(z.open("bootstrap").read(20)) != ELF_MACHINE["aarch64"]:
                    problems.append(f"{name}: not just an arm64 `bootstrap` ({z.namelist()})")
        for triple in (*CTL_REQUIRED, *CTL_OPTIONAL):
            if name == ctl_archive(version, triple):
                problems += ctl_problems(path, triple)
    return problems


def release_version_of(dist: Path) -> str:
    m = re.fullmatch(r"ec2-dns-(\d+\.\d+\.\d+.*)", dist.name)
    if not m:
        raise SystemExit(f"{dist}: not a release folder (ec2-dns-<version>)")
    return m.group(1)


def static_problems(dist: Path) -> list[str]:
    version = release_version_of(dist)
    template = dist / f"ec2-dns-{version}.template.json"
    problems = artefact_problems(dist, version)
    problems += version_problems(checked_blocks(INSTALL, INSTALL.read_text()), version)
    if template.is_file():
        problems += template_size_problems(documents(), template.stat().st_size)
    return problems


# ---- running the blocks ---------------------------------------------------------------------

def fake_bin(where: Path) -> Path:
    where.mkdir(parents=True)
    fakes = Path(release_fakes.__file__).resolve()
    for tool in release_fakes.TOOLS:
        w = where / tool
        w.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fakes}" {tool} "$@"\n')
        w.chmod(0o755)
    return where


def repository_url() -> str:
    url = json.loads((REPO / "infra" / "cdk" / "package.json").read_text())["repository"]["url"]
    return re.sub(r"\.git$", "", url)


def tool(name: str, env_var: str, fallback: Path | None = None) -> str:
    found = os.environ.get(env_var) or (str(fallback) if fallback and fallback.exists() else None) or shutil.which(name)
    if not found:
        raise SystemExit(f"release-check needs {name} (or {env_var})")
    return found


def run(dist: Path, keep: bool) -> int:
    t0 = time.monotonic()
    version = release_version_of(dist)
    problems = static_problems(dist)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"\nrelease-check: {len(problems)} problem(s) before running anything", file=sys.stderr)
        return 1
    print(f"ok  the files of {dist.name}, SHA256SUMS, the versions in {INSTALL.name}, the template's size "
          "against every documented deploy command")
    blocks = checked_blocks(INSTALL, INSTALL.read_text())
    cfn_lint = tool("cfn-lint", "CFN_LINT", REPO / "infra" / ".venv" / "bin" / "cfn-lint")
    real = {"REAL_TERRAFORM": tool("terraform", "REAL_TERRAFORM"), "REAL_NPX": tool("npx", "REAL_NPX")}

    work = Path(tempfile.mkdtemp(prefix="ec2-dns-release-check-"))
    try:
        state = work / ".state"
        tfrc = state / "terraformrc"
        subprocess.run([REPO / "infra" / "scripts" / "tf-cli-config.sh", tfrc], check=True)
        home = work / "home"
        home.mkdir()
        env = {
            **os.environ, **real,
            "PATH": f"{fake_bin(state / 'bin')}:{os.environ['PATH']}",
            "RELEASE_CHECK_DIST": str(dist.resolve()), "RELEASE_CHECK_STATE": str(state),
            "RELEASE_CHECK_URL": repository_url(),
            "TF_CLI_CONFIG_FILE": str(tfrc), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1",
            "TF_CLI_ARGS_init": "-no-color", "TF_CLI_ARGS_validate": "-no-color",
            "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "true",
            "AWS_EC2_METADATA_DISABLED": "true",
            # npm install is real: from npm's cache where it can (make infra-deps filled it
            # with the same versions), else from the registry.
            "npm_config_prefer_offline": "true", "npm_config_audit": "false", "npm_config_fund": "false",
            "npm_config_update_notifier": "false", "npm_config_loglevel": "error",
        }
        failures = []
        folder = work / f"ec2-dns-{version}"
        for b in blocks:
            cwd = work if b.start else folder
            if not cwd.is_dir():
                failures.append(f"{b.where()}: not run: the start block made no folder {folder.name}")
                continue
            started = time.monotonic()
            p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b.code], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=900)
            took = time.monotonic() - started
            if p.returncode != 0:
                failures.append(f"{b.where()}: exit {p.returncode} after {took:.0f} s\n--- block ---\n{b.code}"
                                f"--- stdout (last 60 lines) ---\n" + "\n".join(p.stdout.splitlines()[-60:]) +
                                "\n--- stderr (last 60 lines) ---\n" + "\n".join(p.stderr.splitlines()[-60:]))
                print(f"FAIL {b.where()} ({took:.0f} s)")
            else:
                print(f"ok  {b.where()} ({took:.0f} s)")
        actions = [json.loads(line) for line in (state / "actions.jsonl").read_text().splitlines()] \
            if (state / "actions.jsonl").exists() else []
        for name, (tool_name, action) in PATHS.items():
            done = [a for a in actions if a.get("tool") == tool_name and a.get("action") == action]
            if not done:
                failures.append(f"{INSTALL.name}: no checked block deployed with {name}")
            else:
                print(f"ok  path {name}")
        template = folder / f"ec2-dns-{version}.template.json"
        if template.is_file():
            started = time.monotonic()
            p = subprocess.run([cfn_lint, template], capture_output=True, text=True)
            if p.returncode != 0:
                failures.append(f"cfn-lint {template.name}: exit {p.returncode}\n{p.stdout}{p.stderr}")
            else:
                print(f"ok  cfn-lint {template.name} ({time.monotonic() - started:.0f} s)")
        else:
            failures.append(f"the start block did not download {template.name}")
        if failures:
            print("\n\n".join(failures), file=sys.stderr)
            print(f"\nrelease-check: {len(failures)} failure(s) in {time.monotonic() - t0:.0f} s "
                  f"(work folder {work if keep else 'removed; --keep keeps it'})", file=sys.stderr)
            return 1
        print(f"release-check: {len(blocks)} block(s) of {INSTALL.relative_to(REPO)} ran from {dist} alone, "
              f"the three deploy paths included, in {time.monotonic() - t0:.0f} s")
        return 0
    finally:
        if keep:
            print(f"release-check: work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def default_dist() -> Path:
    text = (REPO / "lambda" / "Cargo.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
    return REPO / "dist" / f"ec2-dns-{version}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dist", nargs="?", type=Path, help="the release folder (default dist/ec2-dns-<version>)")
    ap.add_argument("--static", action="store_true", help="only the checks that run nothing")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)
    dist = (args.dist or default_dist()).resolve()
    if not dist.is_dir():
        print(f"release-check: {dist} does not exist (make release builds it)", file=sys.stderr)
        return 1
    if args.static:
        problems = static_problems(dist)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
        print(f"release-check --static: {dist.name} and the documented commands agree")
        return 0
    return run(dist, args.keep)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
