#!/usr/bin/env python3
"""Speech-presence accuracy of the voice gate on the development set: misses, false alarms, speech lost.

    nice -n 10 python3 eval/gate_accuracy.py [--bin target/release/percepnet] [--weights W.pnw]
        [--manifest training/data/devset/set/manifest.csv] [--thresholds 20,30,40,50,60,70]
        [--jobs 1] [--cli-args=--f32] [--md FILE] [--csv FILE]

Runs `percepnet denoise NOISY OUT --presence-csv P.csv` on every noisy file of the manifest (in a
temporary folder; `--cli-args` adds options to each run) and compares the engine's speech
presence p_i of each 10 ms frame with a label taken from the clean speech of the same frame.

Frames. Presence row i of the CSV is the value the gate acts on for output samples
[i N, (i + 1) N), N = 480 (10 ms at 48 kHz); the output is time-aligned with the input (the
latency is removed), so row i belongs to the samples [i N, (i + 1) N) of the noisy and the
clean file. Only whole frames count (a last partial frame is left out). The manifest's files
must be 48 kHz mono, noisy and clean of the same length.

Labels, from the clean speech x of each file (this mirrors the training label of
src/targets/dataset.rs, on the 10 ms frames the gate acts on instead of the 20 ms windows):

    E_i = sum_{n in frame i} x[n]^2                         frame energy
    A   = mean { E_i : E_i >= max_j E_j * 10^(-40/10) }      active level: mean energy of the
                                                             frames within 40 dB of the loudest
    speech  if E_i >= A * 10^(-30/10)                        within 30 dB of the active level
    pause   if E_i <  A * 10^(-45/10)                        more than 45 dB below it
    (in between: ambiguous, not counted; a file of digital silence is all pause)

Rates at a threshold θ (the Gate Threshold parameter, in %), pooled over the frames of all
files (of a group):

    miss rate        = #{speech frames with p_i <  θ} / #{speech frames}
    false-alarm rate = #{pause frames  with p_i >= θ} / #{pause frames}

The CSV holds p_i rounded to 4 decimals, so a presence within 5e-5 of θ may fall on the other
side of it than in the engine.

Speech lost by gating: a simulation of the gate with its default grace (G = 200 ms = 20 frames)
and retroactive grace (one hop) from the presence sequence. A speech frame j (p_j >= θ) opens
the samples from (j + 1) N - N to (j + 1) N + G, i.e. frames j to j + 20; the gate also starts
open and holds for G from the engine's first hop, two hops before output frame 0 (frames 0 to
17 open). So

    open_i = p_j >= θ for some j in [i - 20, i], or i <= 17;   closed_i = not open_i
    lost   = sum_i closed_i E_i / sum_i E_i                    (over all whole frames)

pooled over files with each file's energies in units of its active level A, so that a file
weighs by its amount of speech, not by its loudness. The gain ramps are left out: the 2.5 ms
opening ramp of an opening frame counts as open, the 25 ms closing ramp as closed.

Output: Markdown tables (overall; per SNR; per noise type) on stdout and in `--md FILE`;
`--csv FILE` writes the counts per file and threshold, from which any grouping can be redone.
Needs numpy and soundfile: started with a Python that lacks them, it re-executes itself with
the evaluation harness's venv ($PN_EVAL_CACHE/venv, default ~/.cache/percepnet-eval, made by
`bash eval/setup.sh`).
"""

import argparse
import csv
import importlib.util
import os
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__" and not all(importlib.util.find_spec(m) for m in ("numpy", "soundfile")):
    venv_python = Path(os.environ.get("PN_EVAL_CACHE", Path.home() / ".cache/percepnet-eval")) / "venv/bin/python"
    if not venv_python.exists() or Path(sys.executable) == venv_python:
        sys.exit("eval/gate_accuracy.py: needs numpy and soundfile: run `bash eval/setup.sh` first")
    os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])

import numpy as np  # noqa: E402  (after the re-execution above)

RATE = 48000
# Frame (hop) length N in samples: 10 ms at 48 kHz, one presence row.
HOP = 480
# Frames more than this far under the loudest do not count in the active level A.
ACTIVE_RANGE_DB = 40.0
# Speech: frame energy at most this far under A. Pause: more than PAUSE_BELOW_ACTIVE_DB under A.
SPEECH_BELOW_ACTIVE_DB = 30.0
PAUSE_BELOW_ACTIVE_DB = 45.0
# Frame labels.
PAUSE, SPEECH, AMBIGUOUS = 0, 1, -1
# The gate's default grace, 200 ms, in frames.
GRACE_FRAMES = 20
# The initial hold, as if this frame had been speech: it holds from the engine's first hop, two
# hops before output frame 0 (FIRST_OUTPUT_HOP in src/offline/batch.rs), so frames 0 to 17.
PRIMED_FRAME = -3
DEFAULT_MANIFEST = ROOT / "training/data/devset/set/manifest.csv"
DEFAULT_THRESHOLDS = "20,30,40,50,60,70"
# Per-file count columns, in the order `file_counts` returns them (one row per threshold).
COUNTS = ("speech_frames", "misses", "pause_frames", "false_alarms", "speech_energy", "lost_energy")


def frame_energies(x):
    """E_i = sum of x[n]^2 over each whole frame of HOP samples."""
    frames = len(x) // HOP
    return np.sum(np.reshape(x[: frames * HOP], (frames, HOP)) ** 2, axis=1)


def active_level(energy):
    """A: mean energy of the frames within ACTIVE_RANGE_DB of the loudest (0 for silence)."""
    loudest = energy.max(initial=0.0)
    if loudest <= 0.0:
        return 0.0
    return float(energy[energy >= loudest * 10 ** (-ACTIVE_RANGE_DB / 10)].mean())


def frame_labels(energy, level):
    """SPEECH where E_i >= A 10^(-30/10), PAUSE where E_i < A 10^(-45/10), else AMBIGUOUS;
    all PAUSE when A = 0 (digital silence)."""
    labels = np.full(len(energy), AMBIGUOUS)
    if level <= 0.0:
        labels[:] = PAUSE
        return labels
    labels[energy >= level * 10 ** (-SPEECH_BELOW_ACTIVE_DB / 10)] = SPEECH
    labels[energy < level * 10 ** (-PAUSE_BELOW_ACTIVE_DB / 10)] = PAUSE
    return labels


def gate_open(presence, threshold):
    """open_i: some j in [i - GRACE_FRAMES, i] has p_j >= θ, or the initial hold covers i
    (frame PRIMED_FRAME counts as speech)."""
    index = np.arange(len(presence))
    last_speech = np.maximum.accumulate(np.where(presence >= threshold, index, PRIMED_FRAME))
    return index - last_speech <= GRACE_FRAMES


def file_counts(labels, presence, energy, thresholds):
    """Per threshold θ (0-1): speech frames, misses (p < θ), pause frames, false alarms (p >= θ),
    total energy and the energy in frames the gate closes; an array, one row per θ, columns as
    COUNTS."""
    speech, pause = labels == SPEECH, labels == PAUSE
    rows = []
    for t in thresholds:
        called = presence >= t
        closed = ~gate_open(presence, t)
        rows.append([speech.sum(), (speech & ~called).sum(), pause.sum(), (pause & called).sum(),
                     energy.sum(), energy[closed].sum()])
    return np.array(rows, dtype=np.float64)


def read_presence(path):
    """p_i of a mono presence CSV (`time_s,presence`); checks that row i starts at i N / RATE."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != ["time_s", "presence"]:
        raise ValueError(f"{path}: header {rows[0]}, expected time_s,presence (a mono file)")
    table = np.array(rows[1:], dtype=np.float64).reshape(-1, 2)
    expected = np.round(np.arange(len(table)) * HOP / RATE, 2)
    if not np.allclose(table[:, 0], expected, atol=1e-6):
        raise ValueError(f"{path}: time_s is not one row per {HOP} samples from 0")
    return table[:, 1]


def read_mono(path):
    """The samples of a 48 kHz mono audio file as float64."""
    import soundfile as sf  # here, not at the top: the counting functions and their test need numpy only

    x, rate = sf.read(path, dtype="float64")
    if rate != RATE or x.ndim != 1:
        raise ValueError(f"{path}: {rate} Hz, {x.ndim} dimensions; expected {RATE} Hz mono")
    return x


def run_presence(cli, noisy, work):
    """Runs the CLI (`cli`: its words up to the input) on `noisy` in folder `work`; returns p_i."""
    csv_path = work / "presence.csv"
    subprocess.run([*cli, str(noisy), str(work / "out.wav"), "--presence-csv", str(csv_path)],
                   check=True, stdout=subprocess.DEVNULL)
    return read_presence(csv_path)


def measure_pair(row, base, cli, thresholds, tmp):
    """COUNTS rows of one manifest entry (paths relative to the folder `base`), the energies in
    units of the clean file's active level; the run's files go to a new folder inside `tmp`."""
    noisy, clean = read_mono(base / row["noisy"]), read_mono(base / row["clean"])
    if len(noisy) != len(clean):
        raise ValueError(f"{row['id']}: noisy {len(noisy)} and clean {len(clean)} samples")
    presence = run_presence(cli, base / row["noisy"], Path(tempfile.mkdtemp(dir=tmp)))
    if len(presence) != -(-len(noisy) // HOP):
        raise ValueError(f"{row['id']}: {len(presence)} presence rows for {len(noisy)} samples")
    energy = frame_energies(clean)
    level = active_level(energy)
    labels = frame_labels(energy, level)
    return file_counts(labels, presence[: len(energy)], energy / (level or 1.0), thresholds)


def group_sums(rows, counts, key):
    """Sums the per-file count arrays by `key(row)`: {group: array}, groups in sorted order."""
    sums = {}
    for row, c in zip(rows, counts):
        sums[key(row)] = sums.get(key(row), 0) + c
    return dict(sorted(sums.items()))


def rates(c):
    """Miss rate, false-alarm rate and lost energy share (in %) from COUNTS columns (any shape)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (100 * c[..., 1] / c[..., 0], 100 * c[..., 3] / c[..., 2], 100 * c[..., 5] / c[..., 4])


def pct(v):
    """A rate in % for a table cell ("-" when the group has no such frames)."""
    return "-" if np.isnan(v) else f"{v:.1f}"


def overall_table(total, thresholds):
    """Markdown: one row per threshold with the pooled counts and rates."""
    miss, fa, lost = rates(total)
    lines = ["| threshold | speech frames | miss % | pause frames | false alarm % | speech energy lost % |",
             "|---:|---:|---:|---:|---:|---:|"]
    for i, t in enumerate(thresholds):
        lines.append(f"| {100 * t:g} % | {total[i, 0]:.0f} | {pct(miss[i])} | {total[i, 2]:.0f} | {pct(fa[i])} "
                     f"| {pct(lost[i])} |")
    return lines


def group_table(groups, thresholds, title, column):
    """Markdown: one row per group, the rate `column` (0 miss, 1 false alarm, 2 lost) per threshold."""
    head = " | ".join(f"{100 * t:g} %" for t in thresholds)
    lines = [f"| {title} | frames | {head} |", "|---|---:|" + "---:|" * len(thresholds)]
    for name, c in groups.items():
        frames = c[0, 2] if column == 1 else c[0, 0]
        values = " | ".join(pct(v) for v in rates(c)[column])
        lines.append(f"| {name} | {frames:.0f} | {values} |")
    return lines


def report(rows, counts, thresholds, header):
    """The whole Markdown report."""
    total = sum(counts)
    by_snr = group_sums(rows, counts, lambda r: float(r["snr_db"]))
    by_snr = {f"{snr:+g} dB": c for snr, c in by_snr.items()}
    by_noise = group_sums(rows, counts, lambda r: r["noise"])
    out = [*header, "", "## Overall", "", *overall_table(total, thresholds)]
    for name, groups in (("SNR", by_snr), ("noise", by_noise)):
        for column, what, frames in ((0, "Miss rate", "speech"), (1, "False-alarm rate", "pause"),
                                     (2, "Speech energy lost", "speech")):
            out += ["", f"## {what} (%) by {name}", "",
                    f"(`frames`: {frames} frames; columns: gate threshold)", "",
                    *group_table(groups, thresholds, name, column)]
    return "\n".join(out) + "\n"


def write_csv(path, rows, counts, thresholds):
    """Per file and threshold: id, snr_db, noise, threshold_pct and the COUNTS columns."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "snr_db", "noise", "threshold_pct", *COUNTS])
        for row, c in zip(rows, counts):
            for t, values in zip(thresholds, c):
                w.writerow([row["id"], row["snr_db"], row["noise"], f"{100 * t:g}",
                            *(f"{v:.0f}" for v in values[:4]), *(f"{v:.6g}" for v in values[4:])])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/percepnet"))
    ap.add_argument("--weights", help="weights file (.pnw); default: the binary's built-in weights")
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--thresholds", default=DEFAULT_THRESHOLDS, help="gate thresholds in %%, comma-separated")
    ap.add_argument("--jobs", type=int, default=1, help="files denoised at once (each run single-threaded)")
    ap.add_argument("--cli-args", default="", help="extra options for `percepnet denoise`, one string: "
                    "--cli-args='--f32 ...' (with the =, as it starts with a dash)")
    ap.add_argument("--md", type=Path, help="also write the Markdown report here")
    ap.add_argument("--csv", type=Path, help="write the counts per file and threshold here")
    args = ap.parse_args()

    thresholds = [float(t) / 100 for t in args.thresholds.split(",")]
    cli = [args.bin, "denoise", "--jobs", "1", *shlex.split(args.cli_args)]
    if args.weights:
        cli += ["--weights", args.weights]
    with open(args.manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    base = args.manifest.resolve().parent
    with tempfile.TemporaryDirectory(prefix="percepnet-gate-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        counts = list(pool.map(lambda row: measure_pair(row, base, cli, thresholds, tmp), rows))

    total = sum(counts)
    header = ["# Voice gate: speech-presence accuracy", "",
              f"`{shlex.join(cli)} NOISY OUT --presence-csv P.csv` on {len(rows)} files of `{args.manifest}`; "
              f"{total[0, 0]:.0f} speech and {total[0, 2]:.0f} pause frames of 10 ms (ambiguous frames, "
              f"{SPEECH_BELOW_ACTIVE_DB:g}-{PAUSE_BELOW_ACTIVE_DB:g} dB under the clean speech's active level, "
              f"not counted). Miss: a speech frame under the "
              f"threshold; false alarm: a pause frame at or above it. Speech energy lost: the clean energy "
              f"in the frames a gate at that threshold with the default {GRACE_FRAMES * HOP * 1000 // RATE} ms grace "
              f"closes."]
    text = report(rows, counts, thresholds, header)
    sys.stdout.write(text)
    if args.md:
        args.md.write_text(text)
    if args.csv:
        write_csv(args.csv, rows, counts, thresholds)


if __name__ == "__main__":
    main()
