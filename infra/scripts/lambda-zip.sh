#!/usr/bin/env bash
# Prints the absolute path of the Lambda package for synth and plan.
#
#   infra/scripts/lambda-zip.sh LAMBDA_ZIP BUILD_DIR
#
# LAMBDA_ZIP when it exists (the package of `make package`); otherwise a small placeholder
# zip in BUILD_DIR, with a note on stderr. Templates and plans do not depend on the code
# inside the package, only on its path.
set -euo pipefail
zip=${1:?usage: lambda-zip.sh LAMBDA_ZIP BUILD_DIR}
build=${2:?usage: lambda-zip.sh LAMBDA_ZIP BUILD_DIR}

if [[ -f "$zip" ]]; then
  realpath "$zip"
  exit 0
fi

placeholder="$build/placeholder/bootstrap.zip"
if [[ ! -f "$placeholder" ]]; then
  mkdir -p "$(dirname "$placeholder")"
  python3 - "$placeholder" <<'PY'
import sys, zipfile
# Fixed timestamp, so the placeholder (and the asset hash derived from it) never changes.
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
info.external_attr = 0o755 << 16
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr(info, "#!/bin/sh\necho 'placeholder: build the real package with make package' >&2\nexit 1\n")
PY
fi
echo "infra: $zip does not exist; using the placeholder $placeholder for synth and plan (run 'make package' for the real one)" >&2
realpath "$placeholder"
