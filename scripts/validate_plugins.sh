#!/usr/bin/env bash
# Runs the two public plugin validators on the built bundles, headless:
#   Tracktion's pluginval at strictness 10 on target/bundled/percepnet.vst3 (under Xvfb), and
#   free-audio's clap-validator on target/bundled/percepnet.clap.
#
#   cargo xtask bundle percepnet [--release]    # or with --features assert_process_allocs
#   PLUGINVAL=/path/to/pluginval CLAP_VALIDATOR=/path/to/clap-validator scripts/validate_plugins.sh
#
# Neither validator is on a package registry, and neither is part of this repository. Build them
# once, anywhere outside it (about 15 min for pluginval with JUCE on 2 cores, 3 min for
# clap-validator):
#   git clone https://github.com/Tracktion/pluginval && cd pluginval
#   git clone --depth 1 https://github.com/juce-framework/JUCE modules/juce   # if the submodule is empty
#   cmake -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2      # -> build/pluginval_artefacts/Release/pluginval
#   (needs cmake and JUCE's Linux packages, listed in JUCE's docs/Linux Dependencies.md)
#   git clone https://github.com/free-audio/clap-validator && cd clap-validator && cargo build --release
# Last run here (2026-12-04, pluginval 1.0.3 with JUCE 8.0.3, clap-validator from its main
# branch, the debug bundles with the allocation checker): pluginval SUCCESS at strictness 10
# (25 test groups; its "vst3 validator" step is skipped without Steinberg's validator binary);
# clap-validator 44 tests, 34 passed, 0 failed, 10 skipped (features the plugin does not have:
# 64-bit audio, note ports, preset discovery).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PLUGINVAL:?set PLUGINVAL to the pluginval binary}"
: "${CLAP_VALIDATOR:?set CLAP_VALIDATOR to the clap-validator binary}"
vst3=target/bundled/percepnet.vst3
clap=target/bundled/percepnet.clap
[ -d "$vst3" ] && [ -f "$clap" ] || { echo "build the bundles first: cargo xtask bundle percepnet" >&2; exit 1; }
out=$(mktemp -d)
status=0
echo "== pluginval, strictness 10: $vst3"
xvfb-run -a "$PLUGINVAL" --strictness-level 10 --validate-in-process --output-dir "$out" \
    --validate "$vst3" > "$out/pluginval.txt" 2>&1 || status=1
tail -n 3 "$out/pluginval.txt"
echo "== clap-validator: $clap"
"$CLAP_VALIDATOR" validate "$clap" > "$out/clap-validator.txt" 2>&1 || status=1
tail -n 1 "$out/clap-validator.txt"
echo "full logs in $out"
exit $status
