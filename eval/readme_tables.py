#!/usr/bin/env python3
"""The README's compact dev-set tables, from the per-file CSVs that eval/score.py writes.

    python3 eval/readme_tables.py RESULTS/per-file.csv [MORE/per-file.csv ...] \
        [--systems noisy,rnnoise,dfn3,percepnet] [--names percepnet=PercepNet,...]

Several CSVs may be given (e.g. the peers from one run, our model from another on the same
set); a system found in more than one is taken from the last. Prints three Markdown tables:

1. overall means: PESQ-WB, ESTOI, SI-SDR, DNSMOS SIG/BAK/OVRL, pause dB, above-band dB;
2. per SNR: PESQ-WB / DNSMOS OVRL / pause dB per cell;
3. per noise type: DNSMOS BAK and pause dB of each system.

Means over files, NaN values left out (above-band dB exists only for files whose clean speech
is band-limited: score.py leaves it NaN elsewhere). Standard library only.
"""

import argparse
import csv
import math
from collections import defaultdict

METRICS = ["pesq_wb", "estoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "pause_db", "oob_db"]


def read_rows(paths):
    """{system: [row, ...]}; a system in a later file replaces the same system of an earlier one."""
    by_system = {}
    for path in paths:
        found = defaultdict(list)
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                found[row["system"]].append(row)
        by_system.update(found)
    return by_system


def mean(rows, key):
    """Mean of the finite values of `key` over `rows` (NaN if none)."""
    vals = []
    for r in rows:
        try:
            v = float(r[key])
        except (KeyError, ValueError):
            continue
        if math.isfinite(v):
            vals.append(v)
    return sum(vals) / len(vals) if vals else float("nan")


def fmt(v, digits):
    return "—" if not math.isfinite(v) else f"{v:.{digits}f}"


def overall_table(data, systems, names):
    out = ["| system | PESQ-WB | ESTOI | SI-SDR dB | DNSMOS SIG/BAK/OVRL | pause dB | above-band dB |",
           "|---|---|---|---|---|---|---|"]
    for s in systems:
        rows = data[s]
        m = {k: mean(rows, k) for k in METRICS}
        out.append(f"| {names.get(s, s)} | {fmt(m['pesq_wb'], 3)} | {fmt(m['estoi'], 3)} | {fmt(m['si_sdr'], 2)} | "
                   f"{fmt(m['dnsmos_sig'], 2)}/{fmt(m['dnsmos_bak'], 2)}/{fmt(m['dnsmos_ovrl'], 3)} | "
                   f"{fmt(m['pause_db'], 1)} | {fmt(m['oob_db'], 1)} |")
    return "\n".join(out)


def group_keys(data, systems, field, numeric):
    keys = {r[field] for s in systems for r in data[s]}
    return sorted(keys, key=float) if numeric else sorted(keys)


def per_snr_table(data, systems, names):
    snrs = group_keys(data, systems, "snr_db", numeric=True)
    out = ["| system | " + " | ".join(f"{float(k):+g} dB" for k in snrs) + " |",
           "|---|" + "---|" * len(snrs)]
    for s in systems:
        cells = []
        for k in snrs:
            rows = [r for r in data[s] if r["snr_db"] == k]
            cells.append(f"{fmt(mean(rows, 'pesq_wb'), 2)} / {fmt(mean(rows, 'dnsmos_ovrl'), 2)} / "
                         f"{fmt(mean(rows, 'pause_db'), 1)}")
        out.append(f"| {names.get(s, s)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def per_noise_table(data, systems, names):
    shown = [s for s in systems if s != "noisy"]
    noises = group_keys(data, shown, "noise", numeric=False)
    head = " | ".join(f"BAK {names.get(s, s)}" for s in shown) + " | " + " | ".join(
        f"pause {names.get(s, s)}" for s in shown)
    out = [f"| noise | {head} |", "|---|" + "---|" * (2 * len(shown))]
    for n in noises:
        bak = [fmt(mean([r for r in data[s] if r["noise"] == n], "dnsmos_bak"), 2) for s in shown]
        pause = [fmt(mean([r for r in data[s] if r["noise"] == n], "pause_db"), 1) for s in shown]
        out.append(f"| {n} | " + " | ".join(bak + pause) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+", help="per-file.csv files written by eval/score.py")
    ap.add_argument("--systems", default=None, help="comma-separated, in table order (default: all found)")
    ap.add_argument("--names", default="", help="display names: system=Name,...")
    args = ap.parse_args()
    data = read_rows(args.csv)
    systems = args.systems.split(",") if args.systems else list(data)
    missing = [s for s in systems if s not in data]
    if missing:
        raise SystemExit(f"readme_tables: no rows for {', '.join(missing)} (found: {', '.join(data)})")
    names = dict(kv.split("=", 1) for kv in args.names.split(",") if kv)
    print(overall_table(data, systems, names))
    print("\nPESQ-WB / DNSMOS OVRL / pause dB per SNR:\n")
    print(per_snr_table(data, systems, names))
    print("\nDNSMOS BAK and pause dB per noise type (all SNRs):\n")
    print(per_noise_table(data, systems, names))


if __name__ == "__main__":
    main()
