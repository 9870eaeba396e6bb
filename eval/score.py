#!/usr/bin/env python3
"""Run denoisers on a test set (eval/build_set.py) and score them side by side.

    python eval/score.py --manifest SET/manifest.csv [--systems noisy,rnnoise,dfn3]
                         [--system 'NAME=CMD {in} {out}' ...] [--md table.md] [--csv per-file.csv]

Run it with the harness venv's Python (eval/setup.sh; `$PN_EVAL_CACHE/venv/bin/python`, default
~/.cache/percepnet-eval/venv/bin/python). Systems: presets (`--list`) and any command template
with {in} and {out} (see pn_systems.py for the other placeholders), e.g.
    --system 'percepnet=target/release/percepnet denoise {in} {out}'

Steps:
 1. inputs: each noisy file plus --tail-pad-ms (100) of mirrored signal, so systems with latency
    can flush the end of the speech (written in the set's own WAV format);
 2. runs: one system at a time, one file at a time, one thread each (OMP/RAYON/... = 1); CPU time
    of the child process tree per file;
 3. speed: each system also denoises a 1 s and a --bench-seconds input cut from the set, the
    minimum CPU of --bench-repeats runs each: RTF = CPU seconds per second of audio in steady
    state (long minus short, so start-up does not count);
 4. delay: normalised cross-correlation of each output with its clean reference over lags
    0..--max-delay-ms; the system delay is the peak of the sum over files; outputs are shifted by
    it and cut or zero-padded to the clean length (--per-file-delay: each file by its own peak);
 5. metrics (in --jobs worker processes): PESQ-WB, STOI/ESTOI (16 kHz), SI-SDR (48 kHz), DNSMOS
    P.835 (16 kHz, clipped to [-1, 1]), pause dB, above-band dB (pn_metrics.py says what they are);
    the row "clean (ref)" is DNSMOS of the clean references, the ceiling for the material;
 6. report: markdown tables (overall, per SNR, per noise type; means over files) on stdout and
    in --md, one CSV row per (system, file) in --csv, the speed figures in CSV.speed.json.
Exit status 1 if any run failed (its log is in --logs DIR or the kept work folder).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pn_report  # noqa: E402
import pn_systems  # noqa: E402

SR = 48000
SHORT_S = 1.0


def say(msg: str) -> None:
    print(f"[score] {msg}", file=sys.stderr, flush=True)


def load_manifest(path: str, limit: int = 0) -> list[dict]:
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["noisy_path"] = os.path.join(base, r["noisy"])
        r["clean_path"] = os.path.join(base, r["clean"])
        r.setdefault("noise", "")
        r.setdefault("snr_db", "")
    return rows[:limit] if limit else rows


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def prepare_inputs(rows: list[dict], work: str, pad_ms: float) -> None:
    from pn_audio import pad_tail, read_mono, wav_subtype, write_wav
    pad = int(round(pad_ms * SR / 1000))
    os.makedirs(os.path.join(work, "in"), exist_ok=True)
    for r in rows:
        x = read_mono(r["noisy_path"])
        r["duration_s"] = len(x) / SR
        r["in_path"] = os.path.join(work, "in", safe(r["id"]) + ".wav")
        subtype = wav_subtype(r["noisy_path"])
        write_wav(r["in_path"], pad_tail(x, pad), subtype if subtype in ("PCM_16", "PCM_24", "FLOAT") else "FLOAT")
        r["in_subtype"] = subtype


def run_system(name: str, tpl: str | None, rows: list[dict], work: str, env: dict, timeout: float,
               logdir: str) -> list[dict]:
    odir = os.path.join(work, "out", safe(name))
    os.makedirs(odir, exist_ok=True)
    results, t0 = [], time.time()
    with open(os.path.join(logdir, safe(name) + ".log"), "ab") as log:
        for r in rows:
            out = os.path.join(odir, safe(r["id"]) + ".wav")
            if tpl is None:
                shutil.copyfile(r["in_path"], out)
                run = pn_systems.Run(0, 0.0, 0.0)
            else:
                if os.path.exists(out):
                    os.remove(out)
                run = pn_systems.run_timed(pn_systems.command(tpl, r["in_path"], out), env, timeout, log)
                if run.rc == 0 and not os.path.exists(out):
                    run.rc = -1
            results.append({"system": name, "id": r["id"], "snr_db": r["snr_db"], "noise": r["noise"],
                            "duration_s": r["duration_s"], "rc": run.rc, "cpu_s": run.cpu_s, "wall_s": run.wall_s,
                            "out_path": out, "clean_path": r["clean_path"], "noisy_path": r["noisy_path"]})
    failed = sum(1 for x in results if x["rc"] != 0)
    say(f"{name}: {len(rows)} files in {time.time() - t0:.0f} s" + (f", {failed} FAILED (log in {logdir})" if failed else ""))
    return results


def bench_inputs(rows: list[dict], work: str, seconds: float) -> tuple[str, str]:
    import numpy as np
    from pn_audio import read_mono, write_wav
    n = int(seconds * SR)
    pieces, have = [], 0
    for r in rows:                      # only as many files as the long input needs
        pieces.append(read_mono(r["in_path"]))
        have += len(pieces[-1])
        if have >= n:
            break
    audio = np.concatenate(pieces)
    long_x = np.tile(audio, -(-n // len(audio)))[:n]
    subtype = rows[0]["in_subtype"] if rows[0]["in_subtype"] in ("PCM_16", "PCM_24", "FLOAT") else "FLOAT"
    paths = (os.path.join(work, "bench-short-in.wav"), os.path.join(work, "bench-long-in.wav"))
    write_wav(paths[0], long_x[: int(SHORT_S * SR)], subtype)
    write_wav(paths[1], long_x, subtype)
    return paths


def measure_delays(results: dict, max_lag: int, per_file: bool) -> dict:
    from pn_audio import read_mono
    from pn_metrics import delay_of, system_delay, xcorr_lags
    corrs: dict[str, list] = {name: [] for name in results}
    by_clean: dict[str, list] = {}
    for res in results.values():
        for x in res:
            if x["rc"] == 0:
                by_clean.setdefault(x["clean_path"], []).append(x)
    for clean_path, outs in by_clean.items():      # each reference read once
        ref = read_mono(clean_path)
        for x in outs:
            c = xcorr_lags(read_mono(x["out_path"]), ref, max_lag)
            x["delay_file"] = delay_of(c)
            corrs[x["system"]].append(c)
    delays = {}
    for name, res in results.items():
        d = system_delay(corrs[name])
        delays[name] = d
        off = sum(1 for x in res if x.get("delay_file") is not None and d is not None and abs(x["delay_file"] - d) > 2)
        if off:
            say(f"{name}: {off}/{len(corrs[name])} files peak more than 2 samples away from the system delay "
                f"{d} samples" + (" (each aligned by its own, --per-file-delay)" if per_file else ""))
        for x in res:
            x["delay_used"] = (x.get("delay_file") if per_file else d) or 0
    return delays


def compute_metrics(results: dict, jobs: int, want_dnsmos: bool, clean_row: bool, rows: list[dict]) -> None:
    from pn_metrics import score_file
    work_items = []
    for res in results.values():
        for x in res:
            if x["rc"] == 0:
                work_items.append((x, {"clean": x["clean_path"], "noisy": x["noisy_path"], "out": x["out_path"],
                                       "delay": x["delay_used"], "dnsmos": want_dnsmos}))
    if clean_row and want_dnsmos:
        ref_rows = []
        for r in rows:
            x = {"system": pn_report.REF, "id": r["id"], "snr_db": r["snr_db"], "noise": r["noise"],
                 "duration_s": r["duration_s"], "rc": 0}
            ref_rows.append(x)
            work_items.append((x, {"clean": r["clean_path"], "out": None, "dnsmos": True}))
        results[pn_report.REF] = ref_rows
    t0, total = time.time(), len(work_items)
    say(f"metrics: {total} evaluations on {jobs} worker(s)")

    def progress(k: int) -> None:
        if k % 25 == 0 or k == total:
            el = time.time() - t0
            say(f"metrics: {k}/{total}, {el / 60:.1f} min, about {el / k * (total - k) / 60:.1f} min left")

    if jobs <= 1:
        for k, (x, job) in enumerate(work_items, 1):
            x.update(score_file(job))
            progress(k)
    else:
        with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
            for k, ((x, _), res) in enumerate(zip(work_items, pool.map(score_file, [j for _, j in work_items],
                                                                       chunksize=2)), 1):
                x.update(res)
                progress(k)


def report(args, systems, results, speed, delays, rows) -> str:
    names = [n for n, _ in systems] + ([pn_report.REF] if pn_report.REF in results else [])
    allrows = [x for n in names for x in results[n]]
    audio_s = sum(r["duration_s"] for r in rows)
    shown = os.path.relpath(args.manifest)
    shown = args.manifest if shown.startswith("..") else shown
    lines = [f"{len(rows)} files, {audio_s / 60:.1f} min of audio per system (manifest {shown}); systems:", ""]
    for name, tpl in systems:
        lines.append(f"* `{name}`: " + (f"`{tpl}`" if tpl else "the noisy input itself"))
    breakdown = [m for m in args.breakdown.split(",") if m]
    text = pn_report.markdown(names, allrows, speed, delays, "\n".join(lines), breakdown)
    if args.csv:
        pn_report.write_csv(args.csv, allrows)
        with open(os.path.splitext(args.csv)[0] + ".speed.json", "w") as f:
            json.dump({"speed": speed, "delays": delays}, f, indent=1)
    return text


def from_csv(args) -> int:
    """Tables again from earlier per-file CSVs (several are merged; RTF from their .speed.json)."""
    rows, speed, delays, names = [], {}, {}, []
    for path in args.from_csv:
        part = pn_report.read_csv(path)
        rows += part
        names += [n for n in dict.fromkeys(r["system"] for r in part) if n not in names]
        side = os.path.splitext(path)[0] + ".speed.json"
        if os.path.exists(side):
            info = json.load(open(side))
            speed.update(info.get("speed", {}))
            delays.update(info.get("delays", {}))
    if pn_report.REF in names:
        names = [n for n in names if n != pn_report.REF] + [pn_report.REF]
    seen = set()
    rows = [r for r in rows if not ((r["system"], r["id"]) in seen or seen.add((r["system"], r["id"])))]
    text = pn_report.markdown(names, rows, speed, delays, f"merged from {', '.join(args.from_csv)} (a (system, file) "
                              "pair found in several is taken from the first)", [m for m in args.breakdown.split(",") if m])
    print(text)
    if args.md:
        open(args.md, "w").write(text)
    return 0


def selfcheck() -> int:
    """Setup smoke test: both peers run on 2 s of a synthetic voice in noise; all metrics import."""
    import numpy as np
    from pn_audio import resample, write_wav
    from pn_metrics import dnsmos, pesq_wb, stoi_pair
    t = np.arange(2 * SR) / SR
    voice = sum(np.sin(2 * np.pi * 140 * h * t) / h for h in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = 0.05 * voice + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    with tempfile.TemporaryDirectory(prefix="pn-eval-check-") as tmp:
        inp = os.path.join(tmp, "in.wav")
        write_wav(inp, x, "PCM_16")
        for name in ("rnnoise", "dfn3"):
            tpl = pn_systems.PRESETS[name][0]
            out = os.path.join(tmp, name + ".wav")
            with open(os.path.join(tmp, name + ".log"), "wb") as log:
                run = pn_systems.run_timed(pn_systems.command(tpl, inp, out), pn_systems.one_thread_env(), 120, log)
            if run.rc != 0 or not os.path.exists(out):
                print(open(os.path.join(tmp, name + ".log")).read(), file=sys.stderr)
                print(f"selfcheck: preset {name} failed (rc {run.rc})", file=sys.stderr)
                return 1
            print(f"selfcheck: {name} ok ({run.cpu_s:.2f} s CPU)")
        x16 = resample(x, SR, 16000)
        p, _ = pesq_wb(0.05 * resample(voice, SR, 16000), x16)
        s, e = stoi_pair(0.05 * resample(voice, SR, 16000), x16)
        d = dnsmos(x16)
        print(f"selfcheck: metrics ok (PESQ-WB {p:.2f}, STOI {s:.2f}, ESTOI {e:.2f}, DNSMOS OVRL {d['dnsmos_ovrl']:.2f})")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", help="manifest.csv of a set made by build_set.py")
    ap.add_argument("--systems", default="noisy,rnnoise,dfn3", help="comma-separated presets ('' for none)")
    ap.add_argument("--system", action="append", default=[], metavar="NAME=TEMPLATE", help="another system (repeatable)")
    ap.add_argument("--md", help="write the markdown tables here")
    ap.add_argument("--csv", help="write one row per (system, file) here (+ .speed.json beside it)")
    ap.add_argument("--logs", help="keep each system's stdout/stderr here (default: in the work folder)")
    ap.add_argument("--workdir", help="keep inputs and outputs here (default: a temporary folder, removed)")
    ap.add_argument("--jobs", type=int, default=1, help="metric worker processes (default 1)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N files of the manifest")
    ap.add_argument("--tail-pad-ms", type=float, default=100.0)
    ap.add_argument("--max-delay-ms", type=float, default=100.0)
    ap.add_argument("--per-file-delay", action="store_true", help="align each file by its own correlation peak")
    ap.add_argument("--bench-seconds", type=float, default=60.0, help="long input of the RTF bench (0: no bench)")
    ap.add_argument("--bench-repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per command")
    ap.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS (the slow metric)")
    ap.add_argument("--no-clean-row", action="store_true", help="skip DNSMOS of the clean references")
    ap.add_argument("--breakdown", default=pn_report.BREAKDOWN_DEFAULT,
                    help=f"metrics of the per-SNR and per-noise tables ({', '.join(pn_report.METRICS)})")
    ap.add_argument("--from-csv", nargs="+", metavar="CSV", help="only print tables from earlier --csv files")
    ap.add_argument("--list", action="store_true", help="list the presets")
    ap.add_argument("--selfcheck", action="store_true", help="smoke test of the installation (setup.sh runs it)")
    args = ap.parse_args(argv)

    if args.list:
        for name, (tpl, desc) in pn_systems.PRESETS.items():
            print(f"{name:8s} {desc}\n{'':8s} {tpl or '(copy of the input)'}")
        return 0
    if args.selfcheck:
        return selfcheck()
    bad = [m for m in args.breakdown.split(",") if m and m not in pn_report.METRICS]
    if bad:
        ap.error(f"unknown --breakdown metric(s) {bad}")
    if args.from_csv:
        return from_csv(args)
    if not args.manifest:
        ap.error("--manifest is required")
    try:
        systems = [pn_systems.parse_system(s) for s in args.systems.split(",") if s.strip()]
        systems += [pn_systems.parse_system(s) for s in args.system]
    except ValueError as e:
        ap.error(str(e))
    if len({n for n, _ in systems}) != len(systems):
        ap.error("two systems have the same name")
    if not pn_systems.in_eval_venv():
        say(f"note: not running in the eval venv ({pn_systems.venv_python()}); presets use this Python")

    rows = load_manifest(args.manifest, args.limit)
    work = args.workdir or tempfile.mkdtemp(prefix="pn-eval-")
    logdir = args.logs or os.path.join(work, "logs")
    os.makedirs(logdir, exist_ok=True)
    env = pn_systems.one_thread_env()
    t_start = time.time()
    prepare_inputs(rows, work, args.tail_pad_ms)

    results = {name: run_system(name, tpl, rows, work, env, args.timeout, logdir) for name, tpl in systems}

    speed: dict = {}
    if args.bench_seconds > SHORT_S and any(tpl for _, tpl in systems):
        short_in, long_in = bench_inputs(rows, work, args.bench_seconds)
        for name, tpl in systems:
            if tpl is None:
                continue
            with open(os.path.join(logdir, safe(name) + ".bench.log"), "ab") as log:
                s = pn_systems.steady_rtf(tpl, short_in, long_in, SHORT_S, args.bench_seconds, work,
                                          args.bench_repeats, env, args.timeout, log=log)
            if s is None:
                say(f"{name}: bench FAILED")
                continue
            speed[name] = s
            say(f"{name}: RTF {s['rtf']:.4f}, start-up {s['startup_cpu_s']:.3f} s CPU")

    delays = measure_delays(results, int(args.max_delay_ms * SR / 1000), args.per_file_delay)
    compute_metrics(results, args.jobs, not args.no_dnsmos, not args.no_clean_row, rows)
    text = report(args, systems, results, speed, delays, rows)
    text += f"\nScored in {(time.time() - t_start) / 60:.1f} min.\n"
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)

    failed = sum(1 for n, _ in systems for x in results[n] if x["rc"] != 0)
    if args.workdir:
        pass
    elif failed and not args.logs:
        say(f"{failed} runs failed; kept {work} for the logs")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
