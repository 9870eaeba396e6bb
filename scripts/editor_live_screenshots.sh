#!/usr/bin/env bash
# Shows the PercepNet editor working on a live signal and saves screenshots of its meters
# moving: the standalone app runs on a JACK server with the dummy driver (no sound card), the
# bundled noisy example is played into its input in a loop, and the virtual X display is
# captured several times, 0.7 s apart.
#
# Usage: scripts/editor_live_screenshots.sh [OUTPUT_PREFIX]    (default: target/editor-live)
#   -> OUTPUT_PREFIX-1.png ... -N.png and OUTPUT_PREFIX.png (all frames side by side)
#
# Needs the `standalone` cargo feature and these Debian packages:
#   apt-get install -y pkg-config libasound2-dev libjack-jackd2-dev jackd2 sndfile-tools \
#                      xvfb libgl1-mesa-dri libglx-mesa0 imagemagick
#
# Environment: SCREENSHOT_DISPLAY (default :98), SHOTS (default 3), CARGO_TARGET_DIR,
# GATE_THRESHOLD (a percentage: typed into the editor's Gate Threshold field before the shots,
# as a user would, so the voice gate and its indicator work in them; needs xdotool; the field's
# position follows the editor's layout at 100 % scale).
set -euo pipefail

cd "$(dirname "$0")/.."
prefix=${1:-target/editor-live}
display=${SCREENSHOT_DISPLAY:-:98}
shots=${SHOTS:-3}
target_dir=${CARGO_TARGET_DIR:-target}
binary="$target_dir/debug/percepnet-standalone"
export JACK_NO_AUDIO_RESERVATION=1 JACK_DEFAULT_SERVER=percepnet-shot

for tool in Xvfb import convert jackd jack_lsp jack_connect sndfile-jackplay; do
    command -v "$tool" >/dev/null || {
        echo "error: '$tool' not found; install the packages in this script's header" >&2
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

# JACK without hardware: the dummy driver clocks 480-sample periods at 48 kHz.
jackd --no-realtime -d dummy -r 48000 -p 480 >/dev/null 2>&1 &
pids+=($!)
sleep 2

Xvfb "$display" -screen 0 1024x768x24 -br -nolisten tcp &
pids+=($!)
sleep 1

DISPLAY=$display "$binary" --backend jack --sample-rate 48000 --period-size 480 &
pids+=($!)
sleep 6

# The example into the plugin's input, forever.
sndfile-jackplay --loop=0 examples/noisy.wav >/dev/null 2>&1 &
pids+=($!)
sleep 1
player=$(jack_lsp | grep -m1 -i 'sndfile\|jackplay' | sed 's/:.*//')
plugin_in=$(jack_lsp | grep -i 'percepnet' | grep -i 'in' | head -2)
echo "player: $player; plugin inputs: $(echo $plugin_in)"
i=0
for port in $plugin_in; do
    i=$((i + 1))
    src=$(jack_lsp | grep "^$player:" | sed -n "${i}p")
    [ -n "$src" ] || src=$(jack_lsp | grep "^$player:" | head -1)
    jack_connect "$src" "$port" || true
done
if [ -n "${GATE_THRESHOLD:-}" ]; then
    command -v xdotool >/dev/null || { echo "error: GATE_THRESHOLD needs xdotool" >&2; exit 1; }
    # The value field of Gate Threshold, right of its slider (window at the top left).
    DISPLAY=$display xdotool mousemove 698 121 click 1
    sleep 0.5
    DISPLAY=$display xdotool key ctrl+a type "$GATE_THRESHOLD"
    DISPLAY=$display xdotool key Return mousemove 5 560
fi
# Let the meters and band view settle on the signal.
sleep 3

mkdir -p "$(dirname "$prefix")"
frames=()
for n in $(seq 1 "$shots"); do
    raw=$(mktemp --suffix=.png)
    DISPLAY=$display import -window root "$raw"
    convert "$raw" -trim +repage "$prefix-$n.png"
    rm -f "$raw"
    frames+=("$prefix-$n.png")
    sleep 0.7
done
convert "${frames[@]}" +append "$prefix.png"
echo "saved ${frames[*]} and $prefix.png"
