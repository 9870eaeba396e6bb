#!/usr/bin/env bash
# The whole corpus (training/README.md, "Corpus") on a 2-core machine in two lanes at once.
#
#   bash training/rebuild_corpus.sh [OUT]     # OUT defaults to training/data/corpus
#
# One `prepare_corpus.py` run does the stages one after another on one core (1 h 45 min to 2 h 25
# min here, training/README.md).
# The stages only meet through their part files (parts/*.csv), so after the fetch they split
# into two independent lanes, each a chain of single-stage runs:
#
#   lane 1: speech -> generated -> synth     (generated and synth babble need the speech parts)
#   lane 2: noise -> tts                     (needs only the fetched packages)
#
# then the manifest, the file lists and the room impulse responses. Every stage is seeded and
# reads only what the earlier stages of its own lane wrote, so the corpus is the one the
# sequential recipe makes. The lanes log to OUT/lane1.log and OUT/lane2.log; if either fails,
# the script names it and stops before the manifest. The file lists and IRs go to
# training/data/{lists,irs} for the default OUT, else to OUT/{lists,irs}.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/data/corpus}"
bash "$HERE/setup.sh"
PY="${PN_TRAIN_CACHE:-$HOME/.cache/pn-train}/venv/bin/python"
prep() { nice -n 10 "$PY" "$HERE/prepare_corpus.py" --out "$OUT" "$@"; }
mkdir -p "$OUT"
start=$(date +%s)
prep --prune-debs --stages fetch
{ prep --stages speech && prep --stages generated && prep --stages synth; } >"$OUT/lane1.log" 2>&1 &
lane1=$!
{ prep --stages noise && prep --stages tts --tts mei,piper,festival,espeak; } >"$OUT/lane2.log" 2>&1 &
lane2=$!
status=0
wait "$lane1" || { echo "lane 1 (speech, generated, synth) failed: $OUT/lane1.log" >&2; status=1; }
wait "$lane2" || { echo "lane 2 (noise, tts) failed: $OUT/lane2.log" >&2; status=1; }
[ "$status" = 0 ] || exit 1
prep --stages manifest
lists="$HERE/data/lists" irs="$HERE/data/irs"
[ "$OUT" -ef "$HERE/data/corpus" ] || { lists="$OUT/lists"; irs="$OUT/irs"; }
python3 "$HERE/make_lists.py" --corpus "$OUT" --out "$lists"
# the room impulse responses `percepnet features --irs` reads (seeded, ~1 min)
nice -n 10 "$PY" "$HERE/make_irs.py" --count 300 --out "$irs" --lists "$lists"
echo "rebuild_corpus: done in $(( ($(date +%s) - start) / 60 )) min -> $OUT" >&2
