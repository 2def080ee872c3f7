#!/usr/bin/env bash
# make release: the versioned artefacts of one release, in dist/ec2-dns-<version>/, with
# SHA256SUMS, each checked after it is built.
#
#   ec2-dns-<v>-lambda-arm64.zip       the reconciler function (provided.al2023, arm64)
#   ec2-dns-ddns-<v>-lambda-arm64.zip  the DDNS endpoint function
#   ec2-dns-ctl-<v>-<triple>.tar.gz   the operator CLI, one per machine, named by Rust's target
#                                      triple: x86_64-unknown-linux-gnu and aarch64-unknown-linux-gnu
#                                      (glibc 2.17 or later); with --all-platforms also
#   ec2-dns-ctl-<v>-x86_64-pc-windows-gnu.zip (ec2-dns-ctl.exe)
#   ec2-dns-<v>.template.json          CloudFormation with parameters (no CDK, no Terraform)
#   ec2-dns-cdk-<v>.tgz                the CDK construct library (npm, jsii assembly inside)
#   terraform-aws-ec2-dns-<v>.tar.gz   the Terraform module
#   CHANGELOG.md, LICENSE, SHA256SUMS
#
# docs/install.md deploys from these files alone; `make release-check` proves it.
# The version is lambda/Cargo.toml's; CHANGELOG.md must have a section for it.
#
#   tools/release.sh                   what CI builds (make release)
#   tools/release.sh --all-platforms   a published release (make release-all-platforms)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"

die() { echo "release: $*" >&2; exit 1; }

# The operator CLI's builds (Makefile: package and ctl-linux with the release profile,
# ctl-other with release-ctl).
ctl_triples=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu)
case ${1:-} in
  "") ;;
  --all-platforms) ctl_triples+=(x86_64-pc-windows-gnu) ;;
  *) die "usage: tools/release.sh [--all-platforms]" ;;
esac

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' lambda/Cargo.toml | head -n1)
[[ -n $version ]] || die "no version in lambda/Cargo.toml"
grep -q "^## $version\$" CHANGELOG.md || die "CHANGELOG.md has no '## $version' section"
cdk_version=$(node -p "require('./infra/cdk/package.json').version")
[[ $cdk_version == "$version" ]] ||
  die "infra/cdk/package.json says $cdk_version, lambda/Cargo.toml says $version"

out="dist/ec2-dns-$version"
rm -rf "$out"
mkdir -p "$out"

zip_bootstrap_machine() {
  python3 - "$1" <<'EOF'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
assert names == ["bootstrap"], f"{sys.argv[1]}: expected only bootstrap, found {names}"
info = z.getinfo("bootstrap")
assert (info.external_attr >> 16) & 0o111, "bootstrap is not executable"
head = z.open("bootstrap").read(20)
assert head[:4] == b"\x7fELF", "bootstrap is not ELF"
print(int.from_bytes(head[18:20], "little"))
EOF
}

# The binaries come from `make release-binaries` (the Makefile builds them first; CI builds
# them in the background while it tests): both functions for arm64 in one cargo invocation,
# so their links run side by side, and ec2-dns-ctl with cargo-zigbuild.
echo "== Lambda zips (arm64)"
for bin in ec2-dns ec2-dns-ddns; do
  zip="$out/$bin-$version-lambda-arm64.zip"
  cp "target/lambda/$bin/bootstrap.zip" "$zip"
  [[ $(zip_bootstrap_machine "$zip") == 183 ]] || die "$zip: bootstrap is not arm64"
done

# Each archive holds ec2-dns-ctl (ec2-dns-ctl.exe on Windows), LICENSE and README.md. Which
# machine each binary is for, and the glibc a Linux one needs (2.17 at most), are checked on
# the archives themselves by release_check.py --static below.
echo "== ec2-dns-ctl (${ctl_triples[*]})"
for triple in "${ctl_triples[@]}"; do
  exe=ec2-dns-ctl; [[ $triple == *-windows-* ]] && exe=ec2-dns-ctl.exe
  profile=release; [[ $triple == *-linux-* ]] || profile=release-ctl
  built="target/$triple/$profile/$exe"
  [[ -f $built ]] || die "$built is missing: run make release-binaries (make ctl-other for Windows)"
  stage=$(mktemp -d)
  cp "$built" "$stage/$exe"
  cp LICENSE README.md "$stage/"
  # Run it where this machine can: natively, or aarch64 under qemu-user (make system-deps).
  run=()
  if [[ $triple == "$(uname -m)-unknown-linux-gnu" ]]; then
    run=("$stage/$exe")
  elif [[ $triple == aarch64-unknown-linux-gnu && -d /usr/aarch64-linux-gnu ]] && command -v qemu-aarch64-static >/dev/null; then
    run=(qemu-aarch64-static -L /usr/aarch64-linux-gnu "$stage/$exe")
  fi
  if [[ ${#run[@]} -gt 0 ]]; then
    help=$("${run[@]}" --help) && grep -q "ec2-dns-ctl" <<<"$help" || die "$triple: ec2-dns-ctl --help did not answer"
    echo "$triple: $("${run[@]}" --version)"
  fi
  if [[ $triple == *-windows-* ]]; then
    (cd "$stage" && python3 -m zipfile -c "$repo/$out/ec2-dns-ctl-$version-$triple.zip" "$exe" LICENSE README.md)
  else
    tar -czf "$out/ec2-dns-ctl-$version-$triple.tar.gz" -C "$stage" "$exe" LICENSE README.md
  fi
  rm -rf "$stage"
done

echo "== CloudFormation template"
make --no-print-directory -s infra-template TEMPLATE_OUT="$repo/$out/ec2-dns-$version.template.json"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert t.get("Parameters"), "no Parameters"' \
  "$out/ec2-dns-$version.template.json"
infra/.venv/bin/cfn-lint "$out/ec2-dns-$version.template.json"

echo "== CDK construct library (jsii, npm tarball)"
# jsii has built the assembly already when `make infra-test` ran on these sources: pack it.
(cd infra/cdk && rm -f ec2-dns-cdk-*.tgz &&
  if [[ -f .jsii && -z $(find lib bin package.json tsconfig.jsii.json -newer .jsii -print -quit) ]]; then
    npm pack --silent >/dev/null
  else
    npm run --silent package >/dev/null
  fi)
tgz="infra/cdk/ec2-dns-cdk-$version.tgz"
[[ -f $tgz ]] || die "npm run package made no $tgz"
listing=$(tar -tzf "$tgz")
grep -qx 'package/.jsii' <<<"$listing" || die "$tgz has no .jsii assembly"
grep -qx 'package/dist/index.js' <<<"$listing" || die "$tgz has no dist/index.js"
mv "$tgz" "$out/"

echo "== Terraform module"
tar -czf "$out/terraform-aws-ec2-dns-$version.tar.gz" \
  --exclude='.terraform*' --exclude='*.tfstate*' --exclude='tests' \
  -C infra terraform

cp CHANGELOG.md LICENSE "$out/"
(cd "$out" && sha256sum -- * | grep -v ' SHA256SUMS$' > SHA256SUMS && sha256sum --quiet -c SHA256SUMS)
# Each file named for what it holds and listed in SHA256SUMS, install.md's checked blocks
# written for this version, and no documented deploy command that this template's size
# would break (over 51,200 bytes: `aws cloudformation deploy` needs --s3-bucket).
# `make release-check` then runs the documented paths.
python3 tests/release_check.py --static "$out"
echo "== $out"
(cd "$out" && ls -l)
