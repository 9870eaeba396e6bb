#!/usr/bin/env python3
"""Peer evaluation on the DEV split of our own corpus (percepnet vs noisy, RNNoise, DeepFilterNet3).

    python training/eval_dev.py [--bin target/release/percepnet] [--weights W.pnw] [--rebuild] [--jobs 1]

Runs under the peer-harness venv (`../shared/eval/setup.sh`, ~/.cache/pn-eval/venv); started
with any other python it re-executes itself with that one (running setup.sh first if the venv
is missing).

1. Material (only if `training/data/devset/set/manifest.csv` is missing, or `--rebuild`):
   from `training/data/corpus/manifest.csv`, split=dev only,
   * clean: utterances of 8-12 s, each made of clips of ONE group (speaker) joined with 0.3 s of
     silence, every clip first set to -26 dBFS active level; clips with voiced_frac > 0.3 first
     (lower ones only when a group has too little), clips longer than 12 s skipped, no clip used
     twice. Sources take turns (tuxpaint, fillets, ktuberling, klettres, hedgewars, megaglest),
     each source cycling through its dev groups (most material first), until `--utterances`
     (27) are made; a group that cannot fill another 8 s utterance drops out.
   * noise: one 30 s excerpt per category: music (one dev music chunk), ambience and effects
     (dev files concatenated, each piece at equal RMS, 20 ms fades; effects with 0-0.5 s gaps),
     babble/white/pink/brown/hum/fan (one of the generated dev files).
   written as 48 kHz float WAV to `devset/material/{clean,noise}` with `material/selection.csv`
   (which corpus files went where). Seeded (`--seed`), so the same corpus gives the same set.
2. `../shared/eval/mix.py --snrs=-5,0,5,10,15,20` -> `devset/set` (27 x 6 = 162 pairs; the 9
   noises rotate so each appears 3 times at each SNR).
3. `../shared/eval/score.py --systems noisy,rnnoise,dfn3 --system "percepnet=BIN denoise {in} {out}"
   --by-snr` -> `devset/results/{table.md,per-file.csv,score.log}`. BIN is copied to
   /tmp/pn-eval-bin/percepnet first, so a rebuild during the run does not change what is measured.
   The RTF bench is shortened (`--bench-seconds 20 --bench-repeats 1`) for the shared 2-core
   machine: RTF is indicative only (the harness README: short benches read high/noisy).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EVAL = os.environ.get("PN_EVAL_DIR", os.path.normpath(os.path.join(ROOT, "..", "shared", "eval")))
CACHE = os.environ.get("PN_EVAL_CACHE", os.path.expanduser("~/.cache/pn-eval"))
VENV_PY = os.path.join(CACHE, "venv", "bin", "python")
CORPUS = os.path.join(HERE, "data", "corpus")
DEVSET = os.path.join(HERE, "data", "devset")
SR = 48000

SOURCES = ["tuxpaint-stamps-default", "fillets-ng-data-cs", "ktuberling-data", "klettres-data",
           "hedgewars-data", "megaglest-data"]
NOISE_CATS = ["music", "ambience", "effects", "babble", "white", "pink", "brown", "hum", "fan"]
GAP_S = 0.3
MIN_S, MAX_S = 8.0, 12.0
NOISE_S = 30.0
LEVEL_DBFS = -26.0


def ensure_venv() -> None:
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(CACHE, "venv")):
        return
    if not os.path.exists(VENV_PY):
        print(f"eval_dev: {VENV_PY} missing, running setup.sh", flush=True)
        subprocess.run(["bash", os.path.join(EVAL, "setup.sh")], check=True)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


def rng_for(seed: int, *parts):
    import numpy as np
    h = hashlib.sha256(repr((seed,) + parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def active_rms(x) -> float:
    """Same definition as mix.py: RMS of the 20 ms frames within 40 dB of the loudest."""
    import numpy as np
    n = int(0.02 * SR)
    nfr = max(1, len(x) // n)
    e = np.mean(x[: nfr * n].reshape(nfr, n) ** 2, axis=1) if len(x) >= n else np.array([np.mean(x**2)])
    return float(np.sqrt(e[e >= e.max() * 1e-4].mean()) + 1e-12)


def load(rel: str):
    import numpy as np
    import soundfile as sf
    x, sr = sf.read(os.path.join(CORPUS, rel), dtype="float64", always_2d=True)
    assert sr == SR, (rel, sr)
    x = x.mean(axis=1)
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


def build_material(seed: int, n_utt: int, out: str) -> None:
    import numpy as np
    import soundfile as sf

    rows = list(csv.DictReader(open(os.path.join(CORPUS, "manifest.csv"))))
    dev = [r for r in rows if r["split"] == "dev"]
    clean_dir, noise_dir = os.path.join(out, "clean"), os.path.join(out, "noise")
    for d in (clean_dir, noise_dir):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    sel = []  # selection.csv rows

    # ---- speech: per source, per group, a seeded queue of clips (voiced first)
    groups: dict[str, dict[str, list]] = {s: {} for s in SOURCES}
    for r in dev:
        if r["kind"] == "speech" and r["source"] in groups and float(r["duration_s"]) <= MAX_S:
            groups[r["source"]].setdefault(r["group"], []).append(r)
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
            voiced_s = sum(float(c["duration_s"]) for c in hi)
            order.append((-voiced_s, g))
        queues[s] = [g for _, g in sorted(order)]

    def take(g_clips: list, rng) -> list | None:
        """Pop clips from one group's queue to fill a target of 9-11 s (<= 12 s); None if < 8 s."""
        target = float(rng.uniform(9.0, 11.0))
        picked, tot, k = [], 0.0, 0
        while k < len(g_clips) and tot < target:
            d = float(g_clips[k]["duration_s"])
            add = d + (GAP_S if picked else 0.0)
            if tot + add <= MAX_S:
                picked.append(g_clips.pop(k))
                tot += add
            else:
                k += 1
        if tot < MIN_S:
            g_clips[:0] = picked  # give them back; this group is exhausted
            return None
        return picked

    utts = []  # (source, group, clips)
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

    gap = np.zeros(int(GAP_S * SR))
    tgt = 10 ** (LEVEL_DBFS / 20)
    for i, (s, g, clips) in enumerate(utts):
        parts = []
        for c in clips:
            x = load(c["path"])
            parts += ([gap] if parts else []) + [x * (tgt / active_rms(x))]
        y = np.concatenate(parts)
        name = f"u{i:02d}_{g}.wav"
        sf.write(os.path.join(clean_dir, name), y.astype(np.float32), SR, subtype="FLOAT")
        for c in clips:
            sel.append({"kind": "clean", "file": name, "source": s, "group": g, "language": c["language"],
                        "corpus_path": c["path"], "duration_s": c["duration_s"], "voiced_frac": c["voiced_frac"],
                        "bandwidth_hz": c["bandwidth_hz"], "out_duration_s": f"{len(y) / SR:.3f}"})

    # ---- noise: one 30 s excerpt per category
    n_len = int(NOISE_S * SR)
    for cat in NOISE_CATS:
        pool = sorted((r for r in dev if r["kind"] == "noise" and r["category"] == cat), key=lambda r: r["path"])
        if not pool:
            print(f"eval_dev: no dev noise of category {cat}", file=sys.stderr)
            continue
        rng = rng_for(seed, "noise", cat)
        used = []
        if cat in ("ambience", "effects"):
            parts, tot = [], 0
            for k in rng.permutation(len(pool)):
                r = pool[k]
                x = load(r["path"])
                if cat == "effects":
                    x = x[: int(5 * SR)]
                    g = np.zeros(int(rng.uniform(0.0, 0.5) * SR))
                else:
                    g = np.zeros(0)
                x = fade(x) * (0.05 / (np.sqrt(np.mean(x**2)) + 1e-12))
                parts += [x, g]
                used.append(r)
                tot += len(x) + len(g)
                if tot >= n_len:
                    break
            y = np.concatenate(parts)
            if len(y) < n_len:
                y = np.tile(y, -(-n_len // len(y)))
            y = y[:n_len]
        else:
            full = [r for r in pool if float(r["duration_s"]) >= NOISE_S - 0.5] or pool
            r = full[int(rng.integers(len(full)))]
            x = load(r["path"])
            if len(x) > n_len:
                off = int(rng.integers(0, len(x) - n_len + 1))
                x = x[off: off + n_len]
            y = x
            used.append(r)
        y = y * (10 ** (-25 / 20) / (np.sqrt(np.mean(y**2)) + 1e-12))
        pk = np.abs(y).max()
        if pk > 0.99:
            y *= 0.99 / pk
        name = f"{cat}.wav"
        sf.write(os.path.join(noise_dir, name), y.astype(np.float32), SR, subtype="FLOAT")
        for r in used:
            sel.append({"kind": "noise", "file": name, "source": r["source"], "group": r["group"],
                        "language": "", "corpus_path": r["path"], "duration_s": r["duration_s"],
                        "voiced_frac": "", "bandwidth_hz": r["bandwidth_hz"], "out_duration_s": f"{len(y) / SR:.3f}"})

    with open(os.path.join(out, "selection.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(sel[0].keys()))
        w.writeheader()
        w.writerows(sel)
    print(f"eval_dev: material: {len(utts)} utterances, "
          f"{len(os.listdir(noise_dir))} noises -> {out}", flush=True)


def describe(setdir: str, material: str) -> str:
    import collections
    sel = list(csv.DictReader(open(os.path.join(material, "selection.csv"))))
    man = list(csv.DictReader(open(os.path.join(setdir, "manifest.csv"))))
    utt = {}
    for r in sel:
        if r["kind"] == "clean":
            utt.setdefault(r["file"], (r["source"], r["group"], r["language"], float(r["out_duration_s"]), []))[4].append(r)
    by_src = collections.OrderedDict()
    for f, (s, g, lang, d, clips) in sorted(utt.items()):
        e = by_src.setdefault(s, [0, 0.0, collections.Counter()])
        e[0] += 1
        e[1] += d
        e[2][f"{g} ({lang})"] += 1
    lines = ["| source | utterances | seconds | groups (utterances) |", "|---|---|---|---|"]
    for s, (n, d, gc) in by_src.items():
        lines.append(f"| {s} | {n} | {d:.0f} | {', '.join(f'{g} x{c}' for g, c in gc.items())} |")
    noises = collections.OrderedDict()
    for r in sel:
        if r["kind"] == "noise":
            noises.setdefault(r["file"][:-4], []).append(r)
    nl = []
    for cat, rs in noises.items():
        srcs = sorted({r["source"] for r in rs})
        nl.append(f"{cat}: {len(rs)} file(s) from {', '.join(srcs)}")
    tot = sum(float(r["duration_s"]) for r in man)
    snrs = sorted({float(r["snr_db"]) for r in man})
    return ("\n".join(lines) + "\n\nnoise excerpts (30 s each): " + "; ".join(nl) +
            f"\n\n{len(man)} pairs = {len(utt)} utterances x SNRs {','.join(f'{s:g}' for s in snrs)} dB; "
            f"{tot / 60:.1f} min of noisy audio per system\n")


def breakdown(csv_path: str, setdir: str, material: str) -> str:
    """PESQ-WB / SI-SDR / DNSMOS OVRL per noise type and per speech source, from score.py's CSV."""
    import math
    man = {r["id"]: r for r in csv.DictReader(open(os.path.join(setdir, "manifest.csv")))}
    src = {}
    for r in csv.DictReader(open(os.path.join(material, "selection.csv"))):
        if r["kind"] == "clean":
            src[r["file"]] = r["source"].replace("-data", "").replace("-stamps-default", "").replace("-ng-cs", "")
    rows = list(csv.DictReader(open(csv_path)))
    systems = list(dict.fromkeys(r["system"] for r in rows if r["system"] != "clean (ref)"))

    def mean(v):
        v = [float(x) for x in v if x not in ("", None) and not math.isnan(float(x))]
        return sum(v) / len(v) if v else float("nan")

    out = []
    for title, keyf in (("noise type", lambda r: r["noise"]),
                        ("speech source", lambda r: src.get(man[r["id"]]["clean_src"], "?"))):
        keys = sorted({keyf(r) for r in rows if r["id"] in man})
        out += [f"PESQ-WB / SI-SDR dB / DNSMOS OVRL by {title} (all SNRs):", "",
                f"| system | {' | '.join(keys)} |", "|---|" + "---|" * len(keys)]
        for s in systems:
            cells = []
            for k in keys:
                sub = [r for r in rows if r["system"] == s and r["id"] in man and keyf(r) == k]
                cells.append(f"{mean(r['pesq_wb'] for r in sub):.2f} / {mean(r['si_sdr'] for r in sub):.1f} / "
                             f"{mean(r['dnsmos_ovrl'] for r in sub):.2f}")
            out.append(f"| {s} | {' | '.join(cells)} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "percepnet"),
                    help="percepnet binary (copied to /tmp/pn-eval-bin/percepnet before the run)")
    ap.add_argument("--weights", default="", help="pass --weights FILE.pnw to the CLI (copied beside the binary); "
                    "default: the weights built into the binary")
    ap.add_argument("--rebuild", action="store_true", help="rebuild material and set even if present")
    ap.add_argument("--build-only", action="store_true", help="build the set, do not score")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--utterances", type=int, default=27)
    ap.add_argument("--snrs", default="-5,0,5,10,15,20")
    ap.add_argument("--jobs", type=int, default=1, help="score.py metric workers (default 1: shared machine)")
    ap.add_argument("--bench-seconds", type=float, default=20.0)
    ap.add_argument("--bench-repeats", type=int, default=1)
    ap.add_argument("--systems", default="noisy,rnnoise,dfn3", help="harness presets")
    ap.add_argument("--out", default=os.path.join(DEVSET, "results"))
    ap.add_argument("--workdir", default="", help="keep score.py inputs/outputs/logs here")
    ap.add_argument("score_args", nargs="*", help="extra arguments for score.py (after --)")
    args = ap.parse_args()
    ensure_venv()

    material, setdir = os.path.join(DEVSET, "material"), os.path.join(DEVSET, "set")
    t0 = time.time()
    if args.rebuild or not os.path.exists(os.path.join(setdir, "manifest.csv")):
        build_material(args.seed, args.utterances, material)
        if os.path.isdir(setdir):
            shutil.rmtree(setdir)
        subprocess.run([sys.executable, os.path.join(EVAL, "mix.py"), "--clean", os.path.join(material, "clean"),
                        "--noise", os.path.join(material, "noise"), "--out", setdir, f"--snrs={args.snrs}",
                        "--seed", str(args.seed)], check=True)
        print(f"eval_dev: set built in {time.time() - t0:.0f} s", flush=True)
    comp = describe(setdir, material)
    print(comp, flush=True)
    if args.build_only:
        return 0

    os.makedirs(args.out, exist_ok=True)
    bindir = "/tmp/pn-eval-bin"
    os.makedirs(bindir, exist_ok=True)
    binp = os.path.join(bindir, "percepnet")
    shutil.copy2(args.bin, binp + ".tmp")
    os.replace(binp + ".tmp", binp)
    sha = hashlib.sha256(open(binp, "rb").read()).hexdigest()
    wopt, wdesc = "", "built-in weights"
    if args.weights:
        wp = os.path.join(bindir, "weights.pnw")
        shutil.copy2(args.weights, wp + ".tmp")
        os.replace(wp + ".tmp", wp)
        wopt = f" --weights {wp}"
        wdesc = f"weights {args.weights} sha256 {hashlib.sha256(open(wp, 'rb').read()).hexdigest()[:12]}"
    md = os.path.join(args.out, "table.md")
    cmd = [sys.executable, os.path.join(EVAL, "score.py"), "--manifest", os.path.join(setdir, "manifest.csv"),
           "--systems", args.systems, "--system", f"percepnet={binp} denoise{wopt} {{in}} {{out}}",
           "--by-snr", "--csv", os.path.join(args.out, "per-file.csv"), "--md", md,
           "--jobs", str(args.jobs), "--bench-seconds", f"{args.bench_seconds:g}",
           "--bench-repeats", str(args.bench_repeats)]
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
    dt = time.time() - t1
    head = (f"<!-- eval_dev.py: binary {args.bin} sha256 {sha[:12]} "
            f"(mtime {time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(args.bin)))}), {wdesc}, "
            f"score.py {dt / 60:.1f} min, rc {rc}, {time.strftime('%Y-%m-%d %H:%M')} -->\n\n")
    body = open(md).read() if os.path.exists(md) else ""
    extra = ""
    try:
        extra = breakdown(os.path.join(args.out, "per-file.csv"), setdir, material)
        print(extra)
    except Exception as e:  # the breakdown is a convenience; never lose the main table over it
        print(f"eval_dev: breakdown failed: {e!r}", file=sys.stderr)
    with open(md, "w") as f:
        f.write(head + comp + "\n" + body + "\n" + extra)
    print(f"eval_dev: score.py took {dt / 60:.1f} min (rc {rc}); table -> {md}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
