#!/usr/bin/env bash
# Create the training-data venv outside the repository (idempotent).
#
#   bash training/setup.sh        # -> ${PN_TRAIN_CACHE:-~/.cache/pn-train}/venv
#
# Re-installs only when requirements.txt changes (sha256 stamp in the venv).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PN_TRAIN_CACHE:-$HOME/.cache/pn-train}"
PY="${PYTHON:-python3}"
mkdir -p "$CACHE"
if [ ! -x "$CACHE/venv/bin/python" ]; then
    echo "[setup] creating venv $CACHE/venv"
    "$PY" -m venv "$CACHE/venv"
fi
stamp="$CACHE/venv/.requirements.sha256"
want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[setup] pip install -r training/requirements.txt"
    "$CACHE/venv/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    "$CACHE/venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
        pyopenjtalk-plus==0.4.1.post10 SudachiPy==0.7.0
    echo "$want" > "$stamp"
else
    echo "[setup] venv up to date"
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
    echo "[setup] apt-get update (lists are empty; prepare_corpus.py uses apt-get download)"
    apt-get update -qq
fi
# festival, espeak-ng and the fortunes texts (stage tts) are not installed: prepare_corpus.py
# downloads and unpacks them into $CACHE/tts-root itself (tts_corpus.py TTS_DEBS).
echo "[setup] ok: $CACHE/venv/bin/python training/prepare_corpus.py --help"
