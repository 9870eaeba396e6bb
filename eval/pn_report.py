"""Tables from per-file results: markdown (overall, per SNR, per noise type) and the per-file
CSV. Standard library only. Every number in a table is a mean over files; NaN values (PESQ that
found no utterance, a file without pauses, fullband speech for above-band) are left out of the
mean, and the count behind a mean is shown where it can differ from the file count."""
from __future__ import annotations

import csv
import math

REF = "clean (ref)"
SR = 48000

# metric key -> (column title, format)
METRICS = {
    "pesq_wb": ("PESQ-WB", ".3f"),
    "stoi": ("STOI", ".3f"),
    "estoi": ("ESTOI", ".3f"),
    "si_sdr": ("SI-SDR dB", ".2f"),
    "dnsmos_sig": ("DNSMOS SIG", ".3f"),
    "dnsmos_bak": ("DNSMOS BAK", ".3f"),
    "dnsmos_ovrl": ("DNSMOS OVRL", ".3f"),
    "dnsmos_p808": ("DNSMOS P.808", ".3f"),
    "pause_db": ("pause dB", ".1f"),
    "oob_db": ("above-band dB", ".1f"),
}
BREAKDOWN_DEFAULT = "pesq_wb,si_sdr,dnsmos_sig,dnsmos_bak,dnsmos_ovrl,pause_db,oob_db"
CSV_COLUMNS = ["system", "id", "snr_db", "noise", "duration_s", "rc", "cpu_s", "wall_s", "delay_file",
               "delay_used", "pesq_wb", "stoi", "estoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl",
               "dnsmos_p808", "pause_db", "oob_db", "bandwidth_hz", "error"]


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def mean_of(rows: list[dict], key: str) -> tuple[float | None, int]:
    vals = [f for f in (_num(r.get(key)) for r in rows) if f is not None]
    return (sum(vals) / len(vals), len(vals)) if vals else (None, 0)


def fmt(v, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def _label(name: str, rows: list[dict]) -> str:
    bad = sum(1 for r in rows if int(r.get("rc") or 0) != 0)
    return f"{name} ({bad} failed)" if bad else name


def overall_table(systems: list[str], rows: list[dict], speed: dict, delays: dict) -> str:
    """One line per system: quality means, residual noise, RTF and measured delay."""
    out = ["| system | files | PESQ-WB | ESTOI | SI-SDR dB | DNSMOS SIG/BAK/OVRL | pause dB | above-band dB (files) "
           "| RTF | delay ms |", "|---" * 10 + "|"]
    for name in systems:
        rs = [r for r in rows if r["system"] == name]
        m = {k: mean_of(rs, k) for k in METRICS}
        dn = "/".join(fmt(m[k][0], ".3f") for k in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"))
        if name == REF:
            out.append(f"| {name} | {len(rs)} | — | — | — | {dn} | — | — | — | — |")
            continue
        rtf = fmt(speed[name]["rtf"], ".4f") if speed.get(name) else "—"
        d = delays.get(name)
        oob, n_oob = m["oob_db"]
        out.append(f"| {_label(name, rs)} | {len(rs)} | {fmt(m['pesq_wb'][0], '.3f')} | {fmt(m['estoi'][0], '.3f')} | "
                   f"{fmt(m['si_sdr'][0], '.2f')} | {dn} | {fmt(m['pause_db'][0], '.1f')} | "
                   f"{fmt(oob, '.1f')} ({n_oob}) | {rtf} | {fmt(None if d is None else d * 1000 / SR, '.2f')} |")
    return "\n".join(out)


def speed_table(systems: list[str], rows: list[dict], speed: dict) -> str:
    out = ["| system | RTF, steady state | bench input | start-up CPU s | CPU s per file incl. start-up (mean) |",
           "|---|---|---|---|---|"]
    for name in systems:
        if not speed.get(name):
            continue
        per_file, _ = mean_of([r for r in rows if r["system"] == name and int(r.get("rc") or 0) == 0], "cpu_s")
        s = speed[name]
        bench = (f"{s['long_s']:g} s minus {s['short_s']:g} s, min of {s['repeats']}" if "long_s" in s else "—")
        out.append(f"| {name} | {s['rtf']:.4f} | {bench} | {s['startup_cpu_s']:.3f} | {fmt(per_file, '.3f')} |")
    return "\n".join(out)


def group_keys(rows: list[dict], field: str) -> list[str]:
    keys = {str(r.get(field, "")) for r in rows}
    if all(_num(k) is not None for k in keys):
        return sorted(keys, key=float)
    return sorted(keys)


def breakdown_table(systems: list[str], rows: list[dict], field: str, metric: str, title: str) -> str:
    """Rows = values of `field` (SNR or noise type), columns = systems, cells = mean of `metric`
    over that group's files (with the count in brackets when some files had no value)."""
    name, spec = METRICS[metric]
    cols = [s for s in systems if s != REF or metric.startswith("dnsmos")]
    out = [f"{name}, mean per {title}:", "", f"| {title} | files | " + " | ".join(cols) + " |",
           "|---|---|" + "---|" * len(cols)]
    for key in group_keys(rows, field):
        sub = [r for r in rows if str(r.get(field, "")) == key]
        n_files = len({r["id"] for r in sub})
        cells = []
        for s in cols:
            v, n = mean_of([r for r in sub if r["system"] == s], metric)
            cells.append(fmt(v, spec) + (f" ({n})" if v is not None and n != n_files else ""))
        label = f"{key} dB" if field == "snr_db" else key
        out.append(f"| {label} | {n_files} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def markdown(systems: list[str], rows: list[dict], speed: dict, delays: dict, header: str,
             breakdown: list[str]) -> str:
    parts = [header, "", "Means over files (NaN values left out).", "", overall_table(systems, rows, speed, delays)]
    if speed:
        parts += ["", speed_table(systems, rows, speed)]
    for field, title in (("snr_db", "SNR"), ("noise", "noise type")):
        if len({r.get(field) for r in rows}) < 2:
            continue
        parts += ["", f"### Per {title}", ""]
        for metric in breakdown:
            parts += [breakdown_table(systems, rows, field, metric, title), ""]
    return "\n".join(parts).rstrip() + "\n"


def write_csv(path: str, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (format(v, ".6g") if isinstance(v, float) else v) for k, v in r.items()})


def read_csv(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
