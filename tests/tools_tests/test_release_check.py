"""tests/release_check.py and its fakes: what counts as a checked block, the template size
rule, the artefact names, and the fake `aws` refusing what AWS would refuse."""

import hashlib
import json
import os
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
    write_ctl(d / f"ec2-dns-ctl-{V}-linux-x86_64.tar.gz", X86_ELF)
    write_ctl(d / f"ec2-dns-ctl-{V}-linux-aarch64.tar.gz", ARM64_ELF)
    (d / f"ec2-dns-{V}.template.json").write_text(template(60_000))
    for name in (f"ec2-dns-cdk-{V}.tgz", f"terraform-aws-ec2-dns-{V}.tar.gz", "CHANGELOG.md", "LICENSE"):
        (d / name).write_text(name)
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(d.iterdir()))
    (d / "SHA256SUMS").write_text(sums)
    return d


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


def test_artefacts_named_for_what_they_hold_and_summed(dist):
    assert release_check.artefact_problems(dist, V) == []
    write_ctl(dist / f"ec2-dns-ctl-{V}-linux-aarch64.tar.gz", X86_ELF)
    (dist / "extra.txt").write_text("?")
    problems = release_check.artefact_problems(dist, V)
    assert any("extra.txt is not a release file" in p for p in problems)
    assert "SHA256SUMS does not list extra.txt" in problems
    assert f"SHA256SUMS: ec2-dns-ctl-{V}-linux-aarch64.tar.gz does not match" in problems
    assert f"ec2-dns-ctl-{V}-linux-aarch64.tar.gz: its ec2-dns-ctl is not a Linux aarch64 binary" in problems


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
