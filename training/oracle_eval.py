#!/usr/bin/env python3
"""Oracle evaluation: what the PercepNet representation can reach, on the corpus's DEV split.

    ~/.cache/pn-train/venv/bin/python training/oracle_eval.py [--bin target/debug/percepnet]
        [--manifest training/data/corpus/manifest.csv] [--out training/data/oracle_eval]
        [--clips 24] [--snrs 0,5,10] [--jobs 1]

Builds an evaluation set from manifest.csv (prepare_corpus.py) rows with split == dev only:
  * clean: --clips voiced speech clips of 2-6 s (files with voiced_frac >= 0.3; a speaker whose
    files are all shorter gets several of its utterances joined with 150 ms gaps), spread over
    as many dev speakers/groups and sources (languages) as possible (round robin over sources,
    groups in seeded order), set to -26 dBFS active level, written as 32-bit float 48 kHz WAV;
  * noise: dev noise of the types in --noise-types (generated white/pink/brown/hum/fan/babble,
    real music/ambience chunks), rotated so each type appears about equally often at each SNR,
    a seeded excerpt of the clip's length (tiled if the file is shorter).
For every (clip, SNR) the CLI `percepnet oracle` runs in four ways, giving five configurations:
  noisy        the mix, from --noisy-out
  bins         per-bin magnitude oracle on the noisy phase  (--noisy-phase-bins)
  band         band gains only                              (--no-comb --no-postfilter)
  band+comb    band gains + pitch (comb) filtering          (--no-postfilter)
  full         band + comb + envelope post-filter           (no flags)
The CLI mixes by total-energy SNR and writes output aligned with the input. Scores against the
clean clip: SI-SDR (numpy, 48 kHz, zero-mean, scale-invariant) and PESQ-WB (PyPI pesq, both
signals resampled 48 -> 16 kHz with soxr HQ, mode 'wb'; a file PESQ rejects scores NaN and is
left out of that mean, the count is shown). Prints markdown tables (overall, per SNR, per noise
type) and writes OUT/results.csv (one row per clip, SNR and configuration) and OUT/table.md.
Same manifest + same arguments = same set (seeded).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 48000
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = [("noisy", None), ("bins", ["--noisy-phase-bins"]), ("band", ["--no-comb", "--no-postfilter"]),
           ("band+comb", ["--no-postfilter"]), ("full", [])]
GENERATED = {"white", "pink", "brown", "hum", "fan", "babble"}


def h(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


def active_level(y: np.ndarray) -> float:
    """dBFS RMS of the 20 ms frames within 40 dB of the loudest (as eval/build_set.py)."""
    n = SR // 50
    m = max(1, len(y) // n)
    e = np.mean(np.pad(y, (0, max(0, m * n - len(y))))[: m * n].reshape(m, n) ** 2, axis=1) + 1e-20
    e = e[e > e.max() * 1e-4]
    return float(10 * np.log10(e.mean()))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    n = min(len(ref), len(est))
    ref, est = ref[:n] - ref[:n].mean(), est[:n] - est[:n].mean()
    a = np.dot(est, ref) / (np.dot(ref, ref) + 1e-20)
    t = a * ref
    return float(10 * np.log10((np.sum(t**2) + 1e-20) / (np.sum((est - t) ** 2) + 1e-20)))


def pesq_wb(ref: np.ndarray, est: np.ndarray) -> tuple[float, str]:
    from pesq import pesq
    n = min(len(ref), len(est))
    r = soxr.resample(ref[:n], SR, 16000, quality="HQ")
    e = soxr.resample(est[:n], SR, 16000, quality="HQ")
    try:
        return float(pesq(16000, r, e, "wb")), ""
    except Exception as ex:    # e.g. NoUtterancesError
        return float("nan"), f"{type(ex).__name__}"


# ----------------------------------------------------------------------------------------------
# Set construction
# ----------------------------------------------------------------------------------------------

def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def build_clips(rows: list[dict], base: Path, n_clips: int, seed: int, min_s: float, max_s: float,
                min_voiced: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    sp = [r for r in rows if r["kind"] == "speech" and r["split"] == "dev"
          and float(r["voiced_frac"] or 0) >= min_voiced and float(r["duration_s"]) <= max_s]
    if not sp:
        sys.exit("oracle_eval: no dev speech in the manifest")
    by_src: dict[str, dict[str, list[dict]]] = {}
    for r in sp:
        by_src.setdefault(r["source"], {}).setdefault(r["group"], []).append(r)
    # round robin over sources; inside a source, over its groups in seeded-hash order
    queues = {s: sorted(g, key=lambda k: h(f"{seed}|{k}")) for s, g in by_src.items()}
    srcs = sorted(queues, key=lambda s: h(f"{seed}|{s}"))
    used: set[str] = set()
    clips: list[dict] = []
    stalls = 0
    while len(clips) < n_clips and stalls < len(srcs):
        stalls = 0
        for s in srcs:
            if len(clips) >= n_clips:
                break
            made = None
            for _ in range(len(queues[s])):
                g = queues[s].pop(0)
                queues[s].append(g)
                files = [r for r in by_src[s][g] if r["path"] not in used]
                made = make_clip(files, base, rng, min_s, max_s)
                if made:
                    break
            if not made:
                stalls += 1
                continue
            y, parts = made
            used.update(p["path"] for p in parts)
            clips.append(dict(id=f"c{len(clips):02d}", y=y, source=s, group=parts[0]["group"],
                              language=parts[0]["language"], files="+".join(p["path"] for p in parts),
                              bandwidth_hz=min(float(p["bandwidth_hz"]) for p in parts)))
    return clips


def make_clip(files: list[dict], base: Path, rng, min_s: float, max_s: float):
    if not files:
        return None
    long = [r for r in files if min_s <= float(r["duration_s"]) <= max_s]
    if long:
        r = long[int(rng.integers(len(long)))]
        y, sr = sf.read(str(base / r["path"]), dtype="float64")
        return y, [r]
    # join utterances of the same speaker/group
    order = [files[i] for i in rng.permutation(len(files))]
    parts, ys, total = [], [], 0.0
    gap = np.zeros(int(0.15 * SR))
    for r in order:
        d = float(r["duration_s"])
        if total + d + 0.15 > max_s:
            continue
        y, sr = sf.read(str(base / r["path"]), dtype="float64")
        ys += [y, gap]
        parts.append(r)
        total += d + 0.15
        if total >= min_s + 0.5:
            break
    if total < min_s:
        return None
    return np.concatenate(ys[:-1]), parts


def pick_noise(rows: list[dict], types: list[str]) -> dict[str, list[dict]]:
    out = {}
    for t in types:
        c = [r for r in rows if r["kind"] == "noise" and r["split"] == "dev" and r["category"] == t]
        longc = [r for r in c if float(r["duration_s"]) >= 6.0]
        out[t] = sorted(longc or c, key=lambda r: r["path"])
        if not out[t]:
            print(f"oracle_eval: no dev noise of type {t}; skipped", file=sys.stderr)
    return {t: v for t, v in out.items() if v}


def noise_excerpt(r: dict, base: Path, n: int, rng) -> np.ndarray:
    y, sr = sf.read(str(base / r["path"]), dtype="float64")
    if len(y) < n:
        y = np.tile(y, n // len(y) + 1)
    o = int(rng.integers(0, len(y) - n + 1))
    return y[o:o + n]


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------

CLI_LINE = re.compile(r"^(noisy|output):\s+SNR\s+(-?[\d.]+|-?inf|NaN)\s+dB\s+SI-SDR\s+(-?[\d.]+|-?inf|NaN)\s+dB", re.M)


def run_pair(task: dict) -> list[dict]:
    d = Path(task["dir"])
    clean = str(d.parent.parent / "clean" / f"{task['clip']}.wav")
    noise = str(d / "noise.wav")
    outs = {}
    cli = {}
    for name, flags in CONFIGS:
        if name == "noisy":
            continue
        o = d / f"{name.replace('+', '_')}.wav"
        cmd = [task["bin"], "oracle", "--clean", clean, "--noise", noise, "--snr", str(task["snr"]), str(o)]
        if name == "full":
            cmd += ["--noisy-out", str(d / "noisy.wav")]
        cmd += flags
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
        m = {k: (float(a), float(b)) for k, a, b in CLI_LINE.findall(p.stdout + p.stderr)}
        cli[name] = m.get("output", (float("nan"),) * 2)[1]
        if name == "full":
            cli["noisy"] = m.get("noisy", (float("nan"),) * 2)[1]
        outs[name] = o
    outs["noisy"] = d / "noisy.wav"
    ref, _ = sf.read(clean, dtype="float64")
    rows = []
    for name, _ in CONFIGS:
        y, sr = sf.read(str(outs[name]), dtype="float64")
        assert sr == SR, (outs[name], sr)
        if y.ndim > 1:
            y = y.mean(axis=1)
        p, err = pesq_wb(ref, y)
        rows.append(dict(clip=task["clip"], snr_db=task["snr"], noise_type=task["noise_type"],
                         noise_file=task["noise_file"], source=task["source"], group=task["group"],
                         language=task["language"], config=name, si_sdr=f"{si_sdr(ref, y):.3f}",
                         pesq_wb=f"{p:.3f}", cli_si_sdr=f"{cli.get(name, float('nan')):.2f}", error=err,
                         len_ref=len(ref), len_out=len(y)))
    return rows


def fmt(v: list[float]) -> str:
    v = [x for x in v if np.isfinite(x)]
    return f"{np.mean(v):.2f}" if v else "—"


def tables(res: list[dict], snrs: list[float], n_clips: int, n_pairs: int) -> str:
    names = [c for c, _ in CONFIGS]

    def sel(**kw):
        return [r for r in res if all(r[k] == v for k, v in kw.items())]

    L = [f"Oracle evaluation: {n_clips} dev clips x {len(snrs)} SNRs = {n_pairs} pairs "
         "(SI-SDR dB / PESQ-WB; PESQ NaN files left out, count in brackets when any).", ""]
    head = "| config | n | SI-SDR | PESQ-WB | " + " | ".join(f"{s:g} dB SI-SDR / PESQ" for s in snrs) + " |"
    L += [head, "|---" * (4 + len(snrs)) + "|"]
    for c in names:
        rs = sel(config=c)
        si = [float(r["si_sdr"]) for r in rs]
        pq = [float(r["pesq_wb"]) for r in rs]
        nn = sum(1 for x in pq if not np.isfinite(x))
        cells = []
        for s in snrs:
            rr = [r for r in rs if float(r["snr_db"]) == s]
            cells.append(f"{fmt([float(r['si_sdr']) for r in rr])} / {fmt([float(r['pesq_wb']) for r in rr])}")
        L.append(f"| {c} | {len(rs)} | {fmt(si)} | {fmt(pq)}{f' ({nn} NaN)' if nn else ''} | " + " | ".join(cells) + " |")
    L.append("")
    types = sorted({r["noise_type"] for r in res})
    L += ["Per noise type (SI-SDR dB / PESQ-WB, all SNRs):", "",
          "| config | " + " | ".join(f"{t} (n={len(sel(config='noisy', noise_type=t))})" for t in types) + " |",
          "|---" * (1 + len(types)) + "|"]
    for c in names:
        cells = []
        for t in types:
            rr = sel(config=c, noise_type=t)
            cells.append(f"{fmt([float(r['si_sdr']) for r in rr])} / {fmt([float(r['pesq_wb']) for r in rr])}")
        L.append(f"| {c} | " + " | ".join(cells) + " |")
    L.append("")
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "debug" / "percepnet")
    ap.add_argument("--manifest", type=Path, default=HERE / "data" / "corpus" / "manifest.csv")
    ap.add_argument("--out", type=Path, default=HERE / "data" / "oracle_eval")
    ap.add_argument("--jobs", type=int, default=1, help="parallel (clip, SNR) pairs (default 1: shared 2-core machine)")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--snrs", default="0,5,10")
    ap.add_argument("--noise-types", default="white,pink,brown,hum,fan,babble,music,ambience")
    ap.add_argument("--min-s", type=float, default=2.0)
    ap.add_argument("--max-s", type=float, default=6.0)
    ap.add_argument("--min-voiced", type=float, default=0.3)
    ap.add_argument("--level", type=float, default=-26.0, help="clean active level, dBFS")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    snrs = [float(s) for s in args.snrs.split(",")]
    binp = args.bin.resolve()
    if not os.access(binp, os.X_OK):
        sys.exit(f"oracle_eval: {binp} is missing or not executable (build the CLI first)")
    rows = read_manifest(args.manifest)
    base = args.manifest.parent
    clips = build_clips(rows, base, args.clips, args.seed, args.min_s, args.max_s, args.min_voiced)
    if len(clips) < args.clips:
        print(f"oracle_eval: only {len(clips)} clips could be built", file=sys.stderr)
    noise = pick_noise(rows, args.noise_types.split(","))
    types = list(noise)
    out = args.out
    (out / "clean").mkdir(parents=True, exist_ok=True)
    tasks = []
    for i, c in enumerate(clips):
        y = c["y"] * 10 ** ((args.level - active_level(c["y"])) / 20)
        sf.write(str(out / "clean" / f"{c['id']}.wav"), y.astype(np.float32), SR, subtype="FLOAT")
        for j, snr in enumerate(snrs):
            t = types[(i + j) % len(types)]
            rng = np.random.default_rng([args.seed, i, j])
            nr = noise[t][int(rng.integers(len(noise[t])))]
            nz = noise_excerpt(nr, base, len(y), rng)
            d = out / "pairs" / f"{c['id']}_snr{snr:g}"
            d.mkdir(parents=True, exist_ok=True)
            sf.write(str(d / "noise.wav"), nz.astype(np.float32), SR, subtype="FLOAT")
            tasks.append(dict(dir=str(d), clip=c["id"], snr=snr, noise_type=t, noise_file=nr["path"],
                              source=c["source"], group=c["group"], language=c["language"], bin=str(binp)))
    with open(out / "clips.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "source", "group", "language", "seconds", "bandwidth_hz", "files"], lineterminator="\n")
        w.writeheader()
        for c in clips:
            w.writerow(dict(id=c["id"], source=c["source"], group=c["group"], language=c["language"],
                            seconds=f"{len(c['y']) / SR:.2f}", bandwidth_hz=f"{c['bandwidth_hz']:.0f}", files=c["files"]))
    print(f"oracle_eval: {len(clips)} clips from {len({c['group'] for c in clips})} dev groups, "
          f"{len({c['source'] for c in clips})} sources, languages {sorted({c['language'] for c in clips})}; "
          f"noise types {types}; {len(tasks)} pairs; {binp}", file=sys.stderr, flush=True)
    t0 = time.time()
    res: list[dict] = []
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as ex:
            for r in ex.map(run_pair, tasks):
                res += r
    else:
        for k, t in enumerate(tasks):
            res += run_pair(t)
            if (k + 1) % 12 == 0:
                print(f"  {k + 1}/{len(tasks)} pairs, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(res[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(res)
    bad = [r for r in res if r["len_ref"] != r["len_out"]]
    if bad:
        print(f"oracle_eval: {len(bad)} outputs differ in length from the clean clip", file=sys.stderr)
    dev = [abs(float(r["si_sdr"]) - float(r["cli_si_sdr"])) for r in res if r["cli_si_sdr"] != "nan"]
    if dev:
        print(f"oracle_eval: SI-SDR here vs the CLI's own print: max |diff| {max(dev):.3f} dB", file=sys.stderr)
    st = binp.stat()
    ident = (f"Binary: {binp} ({st.st_size} bytes, modified "
             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(st.st_mtime))}, sha256 "
             f"{hashlib.sha256(binp.read_bytes()).hexdigest()[:12]}); manifest {args.manifest}; seed {args.seed}.")
    md = tables(res, snrs, len(clips), len(tasks)) + ident + "\n"
    (out / "table.md").write_text(md)
    print(md)
    print(f"oracle_eval: {time.time() - t0:.0f} s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
