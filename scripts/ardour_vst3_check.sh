#!/usr/bin/env bash
# Loads the PercepNet VST3 bundle in a real VST3 host, Ardour 7 running headless through its
# Lua interpreter, and shows what tests/ardour/vst3_check.lua measures there (the lines that
# start with "RESULT "). The same check runs as a test:
#   cargo test --test ardour_vst3 -- --ignored --nocapture
#
# Usage: scripts/ardour_vst3_check.sh [--release] [BUNDLE]
#   BUNDLE     the .vst3 bundle to load (default: target/bundled/percepnet.vst3); if it is
#              missing it is built with `cargo xtask bundle percepnet` (debug, or --release).
#
# Installs nothing. Needs Ardour 7 (Debian 12: apt-get install --no-install-recommends ardour).
# Ardour runs in a throwaway HOME/XDG config and cache with its "None (Dummy)" audio backend:
# no display, sound card or JACK needed, and the user's own Ardour setup and ~/.vst3 are
# neither read nor touched.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

profile=()
bundle=""
for arg in "$@"; do
    case "$arg" in
        --release) profile=(--release) ;;
        -h | --help)
            sed -n '2,14p' "$0"
            exit 0
            ;;
        *) bundle=$arg ;;
    esac
done
bundle=${bundle:-$root/target/bundled/percepnet.vst3}
scanner=/usr/lib/ardour7/ardour-vst3-scanner

if ! command -v ardour7-lua >/dev/null 2>&1 || [ ! -x "$scanner" ]; then
    echo "error: Ardour 7 is not installed (ardour7-lua, $scanner)." >&2
    echo "On Debian 12: apt-get install -y --no-install-recommends ardour" >&2
    exit 1
fi

if [ ! -d "$bundle" ]; then
    echo "== building the bundle: cargo xtask bundle percepnet ${profile[*]}"
    cargo xtask bundle percepnet "${profile[@]}"
fi
bundle=$(cd "$bundle" && pwd)
library="$bundle/Contents/x86_64-linux/percepnet.so"
if [ ! -f "$library" ]; then
    echo "error: $library is missing: not a Linux VST3 bundle of PercepNet" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/percepnet-ardour.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/config/ardour7/scripts" "$work/cache" "$work/vst3"

# A private copy: a rebuild of target/bundled during the run cannot swap the library under
# Ardour. Ardour only trusts its plugin cache if the cache file is newer than the library in
# whole seconds, so date the copy back before scanning.
cp -R "$bundle" "$work/vst3/percepnet.vst3"
touch -d '10 seconds ago' "$work/vst3/percepnet.vst3/Contents/x86_64-linux/percepnet.so"
cp tests/ardour/dsp/*.lua "$work/config/ardour7/scripts/"

export HOME="$work/home"
export XDG_CONFIG_HOME="$work/config"
export XDG_CACHE_HOME="$work/cache"
export VST3_PATH="$work/vst3"

echo "== scanning: $scanner -v -f $work/vst3/percepnet.vst3"
scan=$(LD_LIBRARY_PATH=/usr/lib/ardour7 "$scanner" -v -f "$work/vst3/percepnet.vst3" 2>&1 || true)
echo "$scan"
# The scanner exits with 0 even when it fails: read what it says.
if ! grep -q "Found Plugin: PercepNet" <<<"$scan"; then
    echo "error: Ardour's VST3 scanner did not find PercepNet in the bundle" >&2
    exit 1
fi

echo "== running: ardour7-lua tests/ardour/vst3_check.lua"
start=$(date +%s)
status=0
stdbuf -oL -eL ardour7-lua "$root/tests/ardour/vst3_check.lua" "$work" || status=$?
echo "== ardour7-lua exited with status $status after $(($(date +%s) - start)) s"
exit "$status"
