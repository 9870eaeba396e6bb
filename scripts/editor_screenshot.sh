#!/usr/bin/env bash
# Opens the PercepNet editor (standalone app, dummy audio backend) on a virtual X display and
# saves a PNG screenshot of it.
#
# Usage: scripts/editor_screenshot.sh [OUTPUT.png]     (default: target/editor-screenshot.png)
#
# Needs the `standalone` cargo feature and these Debian packages:
#   apt-get install -y pkg-config libasound2-dev libjack-jackd2-dev \
#                      xvfb libgl1-mesa-dri libglx-mesa0 imagemagick
# The egui editor renders through OpenGL on Mesa's software driver.
#
# Environment: SCREENSHOT_DISPLAY (default :99), SCREENSHOT_WAIT seconds before the shot
# (default 6), CARGO_TARGET_DIR (default target).
set -euo pipefail

cd "$(dirname "$0")/.."
output=${1:-target/editor-screenshot.png}
display=${SCREENSHOT_DISPLAY:-:99}
wait_s=${SCREENSHOT_WAIT:-6}
target_dir=${CARGO_TARGET_DIR:-target}
binary="$target_dir/debug/percepnet-standalone"

for tool in Xvfb import convert; do
    command -v "$tool" >/dev/null || {
        echo "error: '$tool' not found; install xvfb and imagemagick (see this script's header)" >&2
        exit 1
    }
done

cargo build --features standalone --bin percepnet-standalone

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# A black root window (-br), larger than the editor; the editor opens at the top left.
Xvfb "$display" -screen 0 1024x768x24 -br -nolisten tcp &
pids+=($!)
sleep 1

DISPLAY=$display "$binary" --backend dummy &
pids+=($!)
sleep "$wait_s"

if ! kill -0 "${pids[1]}" 2>/dev/null; then
    echo "error: the standalone exited early (see its output above)" >&2
    exit 1
fi

mkdir -p "$(dirname "$output")"
raw=$(mktemp --suffix=.png)
DISPLAY=$display import -window root "$raw"
# Cut the black desktop away, keeping only the editor window.
convert "$raw" -trim +repage "$output"
rm -f "$raw"
echo "saved $output"
