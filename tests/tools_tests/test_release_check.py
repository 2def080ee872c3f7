"""tests/release_check.py and its fakes: what counts as a checked block, the template size
rule, the artefact names, the binaries' machines and glibc, and the fake `aws` refusing what
AWS would refuse."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import release_check  # noqa: E402

V = "9.9.9"
ARM64_ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + (183).to_bytes(2, "little") + b"\0" * 12
X86_ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + (62).to_bytes(2, "little") + b"\0" * 12
ARM64_MACHO = b"\xcf\xfa\xed\xfe" + (0x0100000C).to_bytes(4, "little") + b"\0" * 24


def pe(machine: int = 0x8664, magic: int = 0x20B, subsystem: int = 3) -> bytes:
    """The headers of a PE file, as far as binary_kind reads them."""
    head = bytearray(0x80 + 24 + 72)
    head[:2] = b"MZ"
    head[0x3C:0x40] = (0x80).to_bytes(4, "little")
    head[0x80:0x84] = b"PE\0\0"
    head[0x84:0x86] = machine.to_bytes(2, "little")
    head[0x98:0x9A] = magic.to_bytes(2, "little")
    head[0x98 + 68:0x98 + 70] = subsystem.to_bytes(2, "little")
    return bytes(head)


def write_exe_zip(path: Path, content: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ec2-dns-ctl.exe", content)


def write_sums(d: Path) -> None:
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
                   for p in sorted(d.iterdir()) if p.name != "SHA256SUMS")
    (d / "SHA256SUMS").write_text(sums)


def write_zip(path: Path, content: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, content)


def write_ctl(path: Path, content: bytes) -> None:
    src = path.parent / "ec2-dns-ctl"
    src.write_bytes(content)
    with tarfile.open(path, "w:gz") as t:
        t.add(src, arcname="ec2-dns-ctl")
    src.unlink()


def template(size: int) -> str:
    t = {
        "Parameters": {
            "AllowedDomains": {"Type": "CommaDelimitedList", "AllowedPattern": "^[a-z0-9.-]+$"},
            "CodeBucket": {"Type": "String"},
            "CodeKey": {"Type": "String", "MinLength": 1},
            "RecordTtl": {"Type": "Number", "Default": 60, "MinValue": 1, "MaxValue": 172800},
        },
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {}}},
        "Description": "",
    }
    t["Description"] = "x" * max(0, size - len(json.dumps(t)))
    return json.dumps(t)


@pytest.fixture
def dist(tmp_path):
    d = tmp_path / f"ec2-dns-{V}"
    d.mkdir()
    write_zip(d / f"ec2-dns-{V}-lambda-arm64.zip", ARM64_ELF + b"reconciler")
    write_zip(d / f"ec2-dns-ddns-{V}-lambda-arm64.zip", ARM64_ELF + b"ddns")
    write_ctl(d / f"ec2-dns-ctl-{V}-x86_64-unknown-linux-gnu.tar.gz", X86_ELF)
    write_ctl(d / f"ec2-dns-ctl-{V}-aarch64-unknown-linux-gnu.tar.gz", ARM64_ELF)
    (d / f"ec2-dns-{V}.template.json").write_text(template(60_000))
    for name in (f"ec2-dns-cdk-{V}.tgz", f"terraform-aws-ec2-dns-{V}.tar.gz", "CHANGELOG.md", "LICENSE"):
        (d / name).write_text(name)
    write_sums(d)
    return d


@pytest.fixture
def glibc(monkeypatch):
    """What readelf would say each fake Linux binary needs: {ELF machine: version}."""
    needs = {62: (2, 17), 183: (2, 17)}
    monkeypatch.setattr(release_check, "glibc_needed",
                        lambda path: needs[release_check.elf_machine(path.read_bytes()[:20])])
    return needs


def fake(tool, args, dist, cwd, state):
    env = {**os.environ, "RELEASE_CHECK_DIST": str(dist), "RELEASE_CHECK_STATE": str(state),
           "RELEASE_CHECK_URL": "https://github.com/ec2-dns/ec2-dns"}
    return subprocess.run([sys.executable, str(TESTS / "release_fakes.py"), tool, *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


DOC = """# Install

<!-- release-check: start -->
```sh
mkdir ec2-dns-9.9.9
```

```sh
echo not checked
```

<!-- release-check -->
```sh
aws cloudformation deploy --stack-name s \\
  --template-file ec2-dns-9.9.9.template.json
```
"""


def test_marked_blocks_in_order_the_start_block_first():
    blocks = release_check.checked_blocks(Path("install.md"), DOC)
    assert [(b.line, b.start) for b in blocks] == [(4, True), (13, False)]
    assert blocks[1].code.startswith("aws cloudformation deploy")


def test_the_start_block_must_come_first():
    doc = DOC.replace("<!-- release-check: start -->", "<!-- release-check -->")
    with pytest.raises(SystemExit, match="exactly one"):
        release_check.checked_blocks(Path("install.md"), doc)


def test_a_mark_must_precede_a_shell_fence():
    with pytest.raises(SystemExit, match="just before"):
        release_check.checked_blocks(Path("install.md"), "<!-- release-check: start -->\n```hcl\nx\n```\n")


def test_continuation_lines_make_one_command():
    assert release_check.commands("a \\\n  b\nc\n") == [(0, "a b"), (2, "c")]


def test_a_deploy_without_s3_bucket_is_refused_only_for_a_large_template(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(DOC)
    assert release_check.template_size_problems([page], 51_200) == []
    [problem] = release_check.template_size_problems([page], 51_201)
    assert "page.md:14" in problem and "--s3-bucket" in problem
    page.write_text(DOC.replace("--stack-name s", "--stack-name s --s3-bucket b"))
    assert release_check.template_size_problems([page], 70_000) == []
    page.write_text("```sh\naws cloudformation validate-template --template-body file://t.json\n```\n")
    assert "--template-url" in release_check.template_size_problems([page], 70_000)[0]


def test_versions_in_checked_blocks_must_be_the_release_s():
    blocks = release_check.checked_blocks(Path("install.md"), DOC)
    assert release_check.version_problems(blocks, V) == []
    assert release_check.version_problems(blocks, "1.0.0") == [
        "install.md:5: speaks of 9.9.9, the release is 1.0.0",
        "install.md:15: speaks of 9.9.9, the release is 1.0.0"]


def test_artefacts_named_for_what_they_hold_and_summed(dist, glibc):
    assert release_check.artefact_problems(dist, V) == []
    write_ctl(dist / f"ec2-dns-ctl-{V}-aarch64-unknown-linux-gnu.tar.gz", X86_ELF)
    (dist / "extra.txt").write_text("?")
    problems = release_check.artefact_problems(dist, V)
    assert any("extra.txt is not a release file" in p for p in problems)
    assert "SHA256SUMS does not list extra.txt" in problems
    assert f"SHA256SUMS: ec2-dns-ctl-{V}-aarch64-unknown-linux-gnu.tar.gz does not match" in problems
    assert (f"ec2-dns-ctl-{V}-aarch64-unknown-linux-gnu.tar.gz: its ec2-dns-ctl is not a binary for "
            "aarch64-unknown-linux-gnu") in problems


def test_the_old_names_are_not_release_files(dist, glibc):
    (dist / f"ec2-dns-ctl-{V}-x86_64-unknown-linux-gnu.tar.gz").rename(dist / f"ec2-dns-ctl-{V}-linux-x86_64.tar.gz")
    write_sums(dist)
    problems = release_check.artefact_problems(dist, V)
    assert f"{dist}: ec2-dns-ctl-{V}-x86_64-unknown-linux-gnu.tar.gz is missing" in problems
    assert any(f"ec2-dns-ctl-{V}-linux-x86_64.tar.gz is not a release file" in p for p in problems)


def test_a_linux_ctl_that_needs_a_newer_glibc_than_amazon_linux_2_is_refused(dist, glibc):
    glibc[62] = (2, 34)
    assert release_check.artefact_problems(dist, V) == [
        f"ec2-dns-ctl-{V}-x86_64-unknown-linux-gnu.tar.gz: its ec2-dns-ctl needs glibc 2.34, more than 2.17 "
        "(Amazon Linux 2): build it with cargo-zigbuild's `.2.17` target (make ctl-linux)"]


def test_the_windows_and_macos_archives_are_optional_and_checked(dist, glibc):
    write_exe_zip(dist / f"ec2-dns-ctl-{V}-x86_64-pc-windows-gnu.zip", pe())
    write_ctl(dist / f"ec2-dns-ctl-{V}-aarch64-apple-darwin.tar.gz", ARM64_MACHO)
    write_sums(dist)
    assert release_check.artefact_problems(dist, V) == []
    write_exe_zip(dist / f"ec2-dns-ctl-{V}-x86_64-pc-windows-gnu.zip", pe(subsystem=2))  # a GUI program
    write_ctl(dist / f"ec2-dns-ctl-{V}-aarch64-apple-darwin.tar.gz", ARM64_ELF)
    write_sums(dist)
    assert release_check.artefact_problems(dist, V) == [
        f"ec2-dns-ctl-{V}-aarch64-apple-darwin.tar.gz: its ec2-dns-ctl is not a binary for aarch64-apple-darwin",
        f"ec2-dns-ctl-{V}-x86_64-pc-windows-gnu.zip: its ec2-dns-ctl is not a binary for x86_64-pc-windows-gnu"]


@pytest.mark.parametrize("data, kind", [
    (X86_ELF, "x86_64-unknown-linux-gnu"), (ARM64_ELF, "aarch64-unknown-linux-gnu"),
    (ARM64_MACHO, "aarch64-apple-darwin"), (pe(), "x86_64-pc-windows-gnu"),
    (pe(machine=0x14C), None), (pe(magic=0x10B), None), (b"#!/bin/sh\n", None), (b"", None),
])
def test_binary_kind_reads_the_header(data, kind):
    assert release_check.binary_kind(data) == kind


READELF_V = """
Version symbols section '.gnu.version' contains 4 entries:
  000:   0 (*local*)       2 (GLIBC_2.34)    3 (GLIBC_2.2.5)   4 (GLIBC_2.17)

Version needs section '.gnu.version_r' contains 2 entries:
 Addr: 0x0000000000000f28  Offset: 0x000f28  Link: 7 (.dynstr)
  000000: Version: 1  File: libgcc_s.so.1  Cnt: 1
  0x0010:   Name: GCC_3.0  Flags: none  Version: 5
  0x0020: Version: 1  File: libc.so.6  Cnt: 3
  0x0030:   Name: GLIBC_2.2.5  Flags: none  Version: 3
  0x0040:   Name: GLIBC_2.17  Flags: none  Version: 4
  0x0050:   Name: GLIBC_2.3.4  Flags: none  Version: 2
"""


def test_glibc_versions_come_from_the_version_needs_section():
    assert release_check.glibc_versions(READELF_V) == [(2, 2, 5), (2, 3, 4), (2, 17)]
    assert release_check.glibc_versions("no version information\n") == []


@pytest.mark.skipif(not shutil.which("readelf"), reason="needs readelf (binutils)")
def test_glibc_needed_reads_a_real_binary():
    needed = release_check.glibc_needed(Path(sys.executable).resolve())
    assert needed is not None and needed >= (2, 17)


DEPLOY = ["cloudformation", "deploy", "--stack-name", "ec2-dns", "--template-file", f"ec2-dns-{V}.template.json",
          "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "AllowedDomains=dyn.example.com",
          "CodeBucket=b-1", f"CodeKey=k/ec2-dns-{V}-lambda-arm64.zip"]


def with_bucket():
    return [*DEPLOY[:6], "--s3-bucket", "b-1", *DEPLOY[6:]]


def test_fake_aws_deploys_what_cloudformation_would(dist, tmp_path):
    state = tmp_path / "state"
    cp = fake("aws", ["s3", "cp", f"ec2-dns-{V}-lambda-arm64.zip", "s3://b-1/k/"], dist, dist, state)
    assert cp.returncode == 0, cp.stderr
    p = fake("aws", with_bucket(), dist, dist, state)
    assert p.returncode == 0, p.stderr
    [_, deploy] = [json.loads(line) for line in (state / "actions.jsonl").read_text().splitlines()]
    assert deploy["action"] == "cloudformation deploy" and deploy["s3_bucket"] == "b-1"


def test_fake_aws_refuses_a_large_template_without_s3_bucket(dist, tmp_path):
    state = tmp_path / "state"
    fake("aws", ["s3", "cp", f"ec2-dns-{V}-lambda-arm64.zip", "s3://b-1/k/"], dist, dist, state)
    p = fake("aws", DEPLOY, dist, dist, state)
    assert p.returncode == 255 and "must be deployed via an S3 Bucket" in p.stderr
    (dist / f"ec2-dns-{V}.template.json").write_text(template(40_000))
    assert fake("aws", DEPLOY, dist, dist, state).returncode == 0


@pytest.mark.parametrize("change, says", [
    (lambda a: [x for x in a if not x.startswith("AllowedDomains=")], "['AllowedDomains'] must have values"),
    (lambda a: a + ["Nope=1"], "[Nope] do not exist"),
    (lambda a: a + ["RecordTtl=0"], "out of range"),
    (lambda a: a + ["AllowedDomains=Dyn.Example.com"], "must match pattern"),
    (lambda a: [x for x in a if x != "CAPABILITY_IAM"], "CAPABILITY_IAM"),
    (lambda a: [x.replace("k/", "other/") for x in a], "was not uploaded"),
    (lambda a: [x.replace("CodeKey=k/ec2-dns-", "CodeKey=k/ec2-dns-ddns-") for x in a], "is not ec2-dns-9.9.9-lambda-arm64.zip"),
])
def test_fake_aws_refuses_what_cloudformation_would(dist, tmp_path, change, says):
    state = tmp_path / "state"
    for z in (f"ec2-dns-{V}-lambda-arm64.zip", f"ec2-dns-ddns-{V}-lambda-arm64.zip"):
        assert fake("aws", ["s3", "cp", z, "s3://b-1/k/"], dist, dist, state).returncode == 0
    p = fake("aws", change(with_bucket()), dist, dist, state)
    assert p.returncode == 255 and says in p.stderr, p.stderr


def test_fake_curl_serves_the_release_and_nothing_else(dist, tmp_path):
    base = f"https://github.com/ec2-dns/ec2-dns/releases/download/v{V}/"
    assert fake("curl", ["-fsSLO", base + "LICENSE"], dist, tmp_path, tmp_path / "s").returncode == 0
    assert (tmp_path / "LICENSE").read_text() == "LICENSE"
    assert fake("curl", ["-fsSLO", base.replace(V, "1.0.0") + "LICENSE"], dist, tmp_path, tmp_path / "s").returncode == 22
    assert fake("curl", ["-fsSLO", base + "nope.zip"], dist, tmp_path, tmp_path / "s").returncode == 22
    assert fake("curl", ["-fsSLO", "https://example.com/x"], dist, tmp_path, tmp_path / "s").returncode == 22
