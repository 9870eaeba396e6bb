#!/usr/bin/env python3
"""Evaluation on the DEV split of our own corpus: percepnet against noisy, RNNoise, DeepFilterNet3.

    python3 training/eval_dev.py [--bin target/release/percepnet] [--weights W.pnw] [--rebuild]
                                 [--categories babble,rain,...] [--out DIR] [-- more score.py args]

Uses the repository's harness in eval/ (eval/README.md). Started with any Python, it re-executes
itself with the harness venv ($PN_EVAL_CACHE/venv, default ~/.cache/percepnet-eval/venv), running
eval/setup.sh first when that venv is missing.

1. Material (rebuilt when `training/data/devset/set/recipe.json` does not match the current
   corpus manifest and options, or with --rebuild), from `training/data/corpus/manifest.csv`,
   split=dev only:
   * clean: utterances of 8-12 s, each made of clips of ONE group (speaker) joined with 0.3 s of
     silence, every clip first set to -26 dBFS active level; clips with voiced_frac > 0.3 first
     (lower ones only when a group has too little), clips longer than 12 s skipped, no clip used
     twice. Sources take turns (SOURCES below), each cycling through its dev groups (most voiced
     material first), until --utterances (27) are made; a group that cannot fill another 8 s
     utterance drops out.
   * noise: one 30 s excerpt per noise category found among the manifest's dev noise rows
     (column `category`; --categories restricts). The category's dev files are visited in a
     seeded random order and joined, each piece at the same active level with 20 ms fades, until
     30 s are filled; a piece longer than what is still missing is cut at a random offset (so a
     long music chunk or generated file gives one continuous excerpt, short recordings give a
     mosaic). Event-like categories (median dev file shorter than 2 s: effects, keyboard, ...)
     use at most 5 s of each file with 0-0.5 s of silence between. The excerpt is set to
     -25 dBFS RMS (peak <= 0.99). Too little material is looped.
   written as 48 kHz float WAV to devset/material/{clean,noise} with material/selection.csv
   (which corpus files went where). Seeded (--seed): the same corpus gives the same set.
2. eval/build_set.py: every utterance at every SNR of --snrs (27 x 6 = 162 pairs); the noise
   categories take turns so each is used equally often at each SNR (to within one) -> devset/set.
3. eval/score.py --systems noisy,rnnoise,dfn3 --system "NAME=BIN denoise [CLI_ARGS] {in} {out}" ->
   OUT/{table.md, per-file.csv, per-file.speed.json, score.log, logs/}; OUT defaults to
   devset/results. BIN (and --weights) are copied to a temporary folder first, so a rebuild
   during the run does not change what is measured. table.md gets a header (binary hash,
   set composition) and a per-speech-source breakdown. Our f32 reference alone, for example:
   `python3 training/eval_dev.py --systems "" --name percepnet-f32 --cli-args=--f32 --out DIR`;
   `eval/score.py --from-csv A/per-file.csv B/per-file.csv` merges the tables of two runs.
The RTF bench defaults to 20 s x 1 run here (the harness default is 60 s x 3): on a busy 2-core
machine the RTF column is indicative only; scripts/bench_peers.py measures speed properly.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EVAL = os.path.join(ROOT, "eval")
sys.path.insert(0, EVAL)
import pn_systems  # noqa: E402  (standard library only)

CORPUS = os.path.join(HERE, "data", "corpus")
DEVSET = os.path.join(HERE, "data", "devset")
SR = 48000

SOURCES = ["tuxpaint-stamps-default", "fillets-ng-data-cs", "ktuberling-data", "klettres-data",
           "hedgewars-data", "megaglest-data"]
GAP_S = 0.3
MIN_S, MAX_S = 8.0, 12.0
NOISE_S = 30.0
EVENT_MEDIAN_S = 2.0      # categories whose median dev file is shorter are event-like ...
EVENT_PIECE_S = 5.0       # ... and use at most this much of each file, with 0-0.5 s gaps
LEVEL_DBFS = -26.0


def ensure_venv() -> None:
    if pn_systems.in_eval_venv():
        return
    py = pn_systems.venv_python()
    if not os.path.exists(py):
        print(f"eval_dev: {py} missing, running eval/setup.sh", flush=True)
        subprocess.run(["bash", os.path.join(EVAL, "setup.sh")], check=True)
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


def load(rel: str):
    from pn_audio import read_mono
    x = read_mono(os.path.join(CORPUS, rel))
    return x - x.mean()


def fade(x, ms: float = 20.0):
    import numpy as np
    n = min(int(ms * SR / 1000), len(x) // 2)
    if n > 0:
        w = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
        x = x.copy()
        x[:n] *= w
        x[-n:] *= w[::-1]
    return x


def read_manifest() -> list[dict]:
    with open(os.path.join(CORPUS, "manifest.csv"), newline="") as f:
        return list(csv.DictReader(f))


def dev_noise_categories(dev: list[dict]) -> list[str]:
    return sorted({r["category"] for r in dev if r["kind"] == "noise" and r["category"]})


# ------------------------------------------------------------------------------------- speech
def make_utterances(dev: list[dict], seed: int, n_utt: int) -> list[tuple[str, str, list[dict]]]:
    from pn_audio import rng_for
    groups: dict[str, dict[str, list]] = {s: {} for s in SOURCES}
    for r in dev:
        if r["kind"] == "speech" and r["source"] in groups and float(r["duration_s"]) <= MAX_S:
            groups[r["source"]].setdefault(r["group"], []).append(r)
    for s in SOURCES:
        if not groups[s]:
            print(f"eval_dev: no dev speech from {s}", file=sys.stderr)
    queues: dict[str, list] = {}
    for s in SOURCES:
        order = []
        for g, clips in groups[s].items():
            clips.sort(key=lambda r: r["path"])
            rng = rng_for(seed, "speech", g)
            hi = [clips[k] for k in rng.permutation(len(clips)) if float(clips[k]["voiced_frac"]) > 0.3]
            lo = sorted((c for c in clips if float(c["voiced_frac"]) <= 0.3),
                        key=lambda r: (-float(r["voiced_frac"]), r["path"]))
            groups[s][g] = hi + lo
            order.append((-sum(float(c["duration_s"]) for c in hi), g))
        queues[s] = [g for _, g in sorted(order)]

    def take(g_clips: list, rng) -> list | None:
        """Pop clips from one group's queue to fill a target of 9-11 s (<= 12 s); None if < 8 s."""
        target = float(rng.uniform(9.0, 11.0))
        picked, tot, k = [], 0.0, 0
        while k < len(g_clips) and tot < target:
            add = float(g_clips[k]["duration_s"]) + (GAP_S if picked else 0.0)
            if tot + add <= MAX_S:
                picked.append(g_clips.pop(k))
                tot += add
            else:
                k += 1
        if tot < MIN_S:
            g_clips[:0] = picked  # give them back; this group is exhausted
            return None
        return picked

    utts: list[tuple[str, str, list[dict]]] = []
    ptr = {s: 0 for s in SOURCES}
    active = [s for s in SOURCES if queues[s]]
    while len(utts) < n_utt and active:
        for s in list(active):
            if len(utts) >= n_utt:
                break
            got = None
            while queues[s] and got is None:
                g = queues[s][ptr[s] % len(queues[s])]
                got = take(groups[s][g], rng_for(seed, "utt", g, len(utts)))
                if got is None:
                    queues[s].remove(g)
                else:
                    ptr[s] += 1
            if got is None:
                active.remove(s)
            else:
                utts.append((s, g, got))
    if len(utts) < n_utt:
        print(f"eval_dev: only {len(utts)} utterances could be made", file=sys.stderr)
    return utts


# -------------------------------------------------------------------------------------- noise
def noise_excerpt(cat: str, pool: list[dict], seed: int):
    """One NOISE_S excerpt of a category (see the module docstring); returns (signal, rows used)."""
    import numpy as np
    from pn_audio import active_rms, rms, rng_for
    rng = rng_for(seed, "noise", cat)
    need = int(NOISE_S * SR)
    durs = sorted(float(r["duration_s"]) for r in pool)
    event_like = durs[len(durs) // 2] < EVENT_MEDIAN_S
    parts, used, have = [], [], 0
    for k in rng.permutation(len(pool)):
        if have >= need:
            break
        x = load(pool[k]["path"])
        if event_like:
            x = x[: int(EVENT_PIECE_S * SR)]
        missing = need - have
        if len(x) > missing:
            start = int(rng.integers(0, len(x) - missing + 1))
            x = x[start: start + missing]
        x = fade(x) * (0.05 / active_rms(x))
        parts.append(x)
        have += len(x)
        if event_like and have < need:
            gap = np.zeros(int(rng.uniform(0.0, 0.5) * SR))
            parts.append(gap)
            have += len(gap)
        used.append(pool[k])
    y = np.concatenate(parts)
    if len(y) < need:
        y = np.tile(y, -(-need // len(y)))
    y = y[:need]
    y = y * (10 ** (-25 / 20) / rms(y))
    peak = float(np.abs(y).max())
    if peak > 0.99:
        y *= 0.99 / peak
    return y, used


def build_material(seed: int, n_utt: int, categories: list[str], out: str) -> None:
    import numpy as np
    from pn_audio import active_rms, write_wav
    dev = [r for r in read_manifest() if r["split"] == "dev"]
    clean_dir, noise_dir = os.path.join(out, "clean"), os.path.join(out, "noise")
    for d in (clean_dir, noise_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    sel = []  # selection.csv rows

    utts = make_utterances(dev, seed, n_utt)
    gap = np.zeros(int(GAP_S * SR))
    target = 10 ** (LEVEL_DBFS / 20)
    for i, (s, g, clips) in enumerate(utts):
        parts = []
        for c in clips:
            x = load(c["path"])
            parts += ([gap] if parts else []) + [x * (target / active_rms(x))]
        y = np.concatenate(parts)
        name = f"u{i:02d}_{g}.wav"
        write_wav(os.path.join(clean_dir, name), y, "FLOAT")
        for c in clips:
            sel.append({"kind": "clean", "file": name, "source": s, "group": g, "language": c["language"],
                        "corpus_path": c["path"], "duration_s": c["duration_s"], "voiced_frac": c["voiced_frac"],
                        "bandwidth_hz": c["bandwidth_hz"], "out_duration_s": f"{len(y) / SR:.3f}"})

    for cat in categories:
        pool = sorted((r for r in dev if r["kind"] == "noise" and r["category"] == cat), key=lambda r: r["path"])
        y, used = noise_excerpt(cat, pool, seed)
        total = sum(float(r["duration_s"]) for r in pool)
        if total < NOISE_S:
            print(f"eval_dev: noise {cat}: only {total:.1f} s of dev material, looped", file=sys.stderr)
        write_wav(os.path.join(noise_dir, f"{cat}.wav"), y, "FLOAT")
        for r in used:
            sel.append({"kind": "noise", "file": f"{cat}.wav", "source": r["source"], "group": r["group"],
                        "language": "", "corpus_path": r["path"], "duration_s": r["duration_s"],
                        "voiced_frac": "", "bandwidth_hz": r["bandwidth_hz"], "out_duration_s": f"{len(y) / SR:.3f}"})

    with open(os.path.join(out, "selection.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(sel[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(sel)
    print(f"eval_dev: material: {len(utts)} utterances, {len(categories)} noises -> {out}", flush=True)


# ------------------------------------------------------------------------------------ reports
def describe(setdir: str, material: str) -> str:
    import collections
    sel = list(csv.DictReader(open(os.path.join(material, "selection.csv"))))
    man = list(csv.DictReader(open(os.path.join(setdir, "manifest.csv"))))
    utt: dict = {}
    for r in sel:
        if r["kind"] == "clean":
            utt.setdefault(r["file"], (r["source"], r["group"], r["language"], float(r["out_duration_s"])))
    by_src: dict = collections.OrderedDict()
    for f, (s, g, lang, d) in sorted(utt.items()):
        e = by_src.setdefault(s, [0, 0.0, collections.Counter()])
        e[0] += 1
        e[1] += d
        e[2][f"{g} ({lang})"] += 1
    lines = ["| source | utterances | seconds | groups (utterances) |", "|---|---|---|---|"]
    for s, (n, d, gc) in by_src.items():
        lines.append(f"| {s} | {n} | {d:.0f} | {', '.join(f'{g} x{c}' for g, c in gc.items())} |")
    noises: dict = collections.OrderedDict()
    for r in sel:
        if r["kind"] == "noise":
            noises.setdefault(r["file"][:-4], []).append(r)
    nl = [f"{cat}: {len(rs)} file(s) from {', '.join(sorted({r['source'] for r in rs}))}" for cat, rs in noises.items()]
    tot = sum(float(r["duration_s"]) for r in man)
    snrs = sorted({float(r["snr_db"]) for r in man})
    return ("\n".join(lines) + f"\n\nnoise excerpts ({len(noises)}, 30 s each): " + "; ".join(nl) +
            f"\n\n{len(man)} pairs = {len(utt)} utterances x SNRs {','.join(f'{s:g}' for s in snrs)} dB; "
            f"{tot / 60:.1f} min of noisy audio per system\n")


def by_speech_source(csv_path: str, setdir: str, material: str) -> str:
    """PESQ-WB / SI-SDR / DNSMOS OVRL per speech source (the harness tables cover SNR and noise)."""
    man = {r["id"]: r for r in csv.DictReader(open(os.path.join(setdir, "manifest.csv")))}
    src = {}
    for r in csv.DictReader(open(os.path.join(material, "selection.csv"))):
        if r["kind"] == "clean":
            src[r["file"]] = r["source"].replace("-data", "").replace("-stamps-default", "").replace("-ng-cs", "")
    rows = [r for r in csv.DictReader(open(csv_path)) if r["id"] in man and r["system"] != "clean (ref)"]
    systems = list(dict.fromkeys(r["system"] for r in rows))

    def mean(vals):
        v = [float(x) for x in vals if x not in ("", None) and math.isfinite(float(x))]
        return sum(v) / len(v) if v else float("nan")

    keyf = lambda r: src.get(man[r["id"]]["clean_src"], "?")  # noqa: E731
    keys = sorted({keyf(r) for r in rows})
    out = ["PESQ-WB / SI-SDR dB / DNSMOS OVRL by speech source (all SNRs, means over files):", "",
           f"| system | {' | '.join(keys)} |", "|---|" + "---|" * len(keys)]
    for s in systems:
        cells = []
        for k in keys:
            sub = [r for r in rows if r["system"] == s and keyf(r) == k]
            cells.append(f"{mean(r['pesq_wb'] for r in sub):.2f} / {mean(r['si_sdr'] for r in sub):.1f} / "
                         f"{mean(r['dnsmos_ovrl'] for r in sub):.2f}")
        out.append(f"| {s} | {' | '.join(cells)} |")
    return "\n".join(out) + "\n"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "percepnet"),
                    help="percepnet binary (copied to a temporary folder for the run)")
    ap.add_argument("--weights", default="", help="pass --weights FILE.pnw to the CLI (copied too); "
                    "default: the weights built into the binary")
    ap.add_argument("--rebuild", action="store_true", help="rebuild material and set even if they match")
    ap.add_argument("--build-only", action="store_true", help="build the set, do not score")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--utterances", type=int, default=27)
    ap.add_argument("--snrs", default="-5,0,5,10,15,20")
    ap.add_argument("--categories", default="", help="comma-separated noise categories (default: every "
                    "category with dev noise in the corpus manifest)")
    ap.add_argument("--jobs", type=int, default=1, help="metric worker processes (default 1: shared machine)")
    ap.add_argument("--bench-seconds", type=float, default=20.0)
    ap.add_argument("--bench-repeats", type=int, default=1)
    ap.add_argument("--systems", default="noisy,rnnoise,dfn3", help="harness presets ('' for none)")
    ap.add_argument("--name", default="percepnet", help="name of our system in the tables")
    ap.add_argument("--cli-args", default="", help="extra arguments of `percepnet denoise`, e.g. --cli-args=--f32")
    ap.add_argument("--no-percepnet", action="store_true", help="do not add the percepnet system")
    ap.add_argument("--out", default=os.path.join(DEVSET, "results"))
    ap.add_argument("--workdir", default="", help="keep score.py's inputs and outputs here")
    ap.add_argument("score_args", nargs="*", help="extra arguments for eval/score.py (after --)")
    args = ap.parse_args()
    ensure_venv()

    material, setdir = os.path.join(DEVSET, "material"), os.path.join(DEVSET, "set")
    man_path = os.path.join(CORPUS, "manifest.csv")
    if not os.path.exists(man_path):
        sys.exit(f"eval_dev: {man_path} missing (training/prepare_corpus.py makes it)")
    available = dev_noise_categories([r for r in read_manifest() if r["split"] == "dev"])
    if args.categories:
        categories = [c.strip() for c in args.categories.split(",") if c.strip()]
        unknown = [c for c in categories if c not in available]
        if unknown:
            sys.exit(f"eval_dev: no dev noise of categor{'ies' if len(unknown) > 1 else 'y'} {unknown}; "
                     f"the manifest has {available}")
    else:
        categories = available
    recipe = {"corpus_manifest_sha256": sha256(man_path), "seed": args.seed, "utterances": args.utterances,
              "snrs": args.snrs, "categories": categories, "noise_s": NOISE_S}
    recipe_path = os.path.join(setdir, "recipe.json")
    old = json.load(open(recipe_path)) if os.path.exists(recipe_path) else None
    t0 = time.time()
    if args.rebuild or old != recipe:
        if old is not None and not args.rebuild:
            changed = [k for k in recipe if old.get(k) != recipe[k]]
            print(f"eval_dev: rebuilding the dev set ({', '.join(changed)} changed)", flush=True)
        from build_set import build
        build_material(args.seed, args.utterances, categories, material)
        shutil.rmtree(setdir, ignore_errors=True)
        build(os.path.join(material, "clean"), os.path.join(material, "noise"), setdir,
              [float(s) for s in args.snrs.split(",") if s.strip()], seed=args.seed)
        with open(recipe_path, "w") as f:
            json.dump(recipe, f, indent=1)
        print(f"eval_dev: set built in {time.time() - t0:.0f} s", flush=True)
    comp = describe(setdir, material)
    print(comp, flush=True)
    if args.build_only:
        return 0

    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="pn-eval-bin-")
    try:
        cmd = [sys.executable, os.path.join(EVAL, "score.py"), "--manifest", os.path.join(setdir, "manifest.csv"),
               "--systems", args.systems, "--csv", os.path.join(args.out, "per-file.csv"),
               "--md", os.path.join(args.out, "table.md"), "--logs", os.path.join(args.out, "logs"),
               "--jobs", str(args.jobs), "--bench-seconds", f"{args.bench_seconds:g}",
               "--bench-repeats", str(args.bench_repeats)]
        desc = "no percepnet system"
        if not args.no_percepnet:
            binp = os.path.join(tmp, "percepnet")
            shutil.copy2(args.bin, binp)
            shown = os.path.relpath(args.bin)
            shown = args.bin if shown.startswith("..") else shown
            wopt, desc = "", f"binary {shown} sha256 {sha256(binp)[:12]} (mtime " \
                f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(args.bin)))}), built-in weights"
            if args.weights:
                wp = os.path.join(tmp, "weights.pnw")
                shutil.copy2(args.weights, wp)
                wopt = f" --weights {wp}"
                desc = desc.replace("built-in weights", f"weights {args.weights} sha256 {sha256(wp)[:12]}")
            extra = f" {args.cli_args}" if args.cli_args else ""
            cmd += ["--system", f"{args.name}={binp} denoise{extra}{wopt} {{in}} {{out}}"]
        if args.workdir:
            cmd += ["--workdir", args.workdir]
        cmd += args.score_args
        print("eval_dev: " + " ".join(cmd), flush=True)
        t1 = time.time()
        with open(os.path.join(args.out, "score.log"), "w") as log:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in p.stdout:
                sys.stdout.write(line)
                log.write(line)
            rc = p.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    dt = time.time() - t1
    md = os.path.join(args.out, "table.md")
    head = f"<!-- eval_dev.py: {desc}, score.py {dt / 60:.1f} min, rc {rc}, {time.strftime('%Y-%m-%d %H:%M')} -->\n\n"
    body = open(md).read() if os.path.exists(md) else ""
    extra = ""
    try:
        extra = by_speech_source(os.path.join(args.out, "per-file.csv"), setdir, material)
        print(extra)
    except Exception as e:  # a convenience; never lose the main table over it
        print(f"eval_dev: per-source breakdown failed: {e!r}", file=sys.stderr)
    with open(md, "w") as f:
        f.write(head + comp + "\n" + body + "\n" + extra)
    print(f"eval_dev: score.py took {dt / 60:.1f} min (rc {rc}); table -> {md}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
