#!/usr/bin/env python3
"""Train the PercepNet network on `.pnf` feature files (docs/FORMATS.md).

    python training/train.py --train FEATDIR_OR_FILES... --val DEVDIR_OR_FILES... \
        --run training/runs/small --preset small --max-minutes 60

    python training/train.py --run training/runs/small --resume --max-minutes 60

The run directory holds:
  last.pt      model + optimiser + step + RNG states + hyperparameters (written every
               --ckpt-every-min minutes, on --max-minutes / --max-steps, and on SIGINT/SIGTERM)
  best.pt      model only, at the best validation loss so far
  stats.json   feature mean/std over the training files (computed once, then reused)
  train.log    the log lines
`--resume` continues exactly where last.pt stopped: same batches, same optimiser state, same
learning-rate schedule, so an interrupted run ends where an uninterrupted one would (on the
same device and thread count).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

# libgomp's default spin-waiting makes 2 threads ~8x slower than 1 when another process holds a
# core (measured on the 2-core machine); passive waiting costs little when the cores are free.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import (PRESENCE_WEIGHT, PRESETS, SHAPE_KEYS, PercepNet, has_presence,  # noqa: E402
                   make_config, percepnet_loss, presence_loss, HIGH_BAND)

PNF_MAGIC = b"PNFEAT01"
PNF_HEADER = 24
STD_FLOOR = 0.05  # smallest feature scale: a (nearly) constant feature must not be amplified


# ---------------------------------------------------------------------------------------------
# .pnf files

class PnfFile:
    """One `.pnf` file as a read-only memmap of [F, NF + 3 NB (+ 1)] float32 records.

    Version 1 records hold features, gains, strengths and care; version 2 adds the frame's
    speech presence label. `rows` gives both as [n, NF + 3 NB + 1], version 1 with presence
    -1 (unknown: no presence loss)."""

    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            head = f.read(PNF_HEADER)
        if len(head) < PNF_HEADER or head[:8] != PNF_MAGIC:
            raise ValueError(f"{self.path}: not a .pnf file (bad magic)")
        version, nf, nb, frames = np.frombuffer(head, dtype="<u4", count=4, offset=8)
        if version not in (1, 2):
            raise ValueError(f"{self.path}: .pnf version {version}, expected 1 or 2")
        self.version = int(version)
        self.nf, self.nb, self.frames = int(nf), int(nb), int(frames)
        self.file_rec = self.nf + 3 * self.nb + (1 if version == 2 else 0)
        self.rec = self.nf + 3 * self.nb + 1
        size = self.path.stat().st_size
        expected = PNF_HEADER + 4 * self.frames * self.file_rec
        if size != expected:
            raise ValueError(f"{self.path}: {size} bytes, header says {expected}")
        if self.frames > 0:
            self.data = np.memmap(self.path, dtype="<f4", mode="r", offset=PNF_HEADER,
                                  shape=(self.frames, self.file_rec))
        else:
            self.data = np.zeros((0, self.file_rec), dtype="<f4")

    def rows(self, start: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Records start..start+n as [n, rec] float32 (presence -1 for version 1 files)."""
        if out is None:
            out = np.empty((n, self.rec), dtype=np.float32)
        out[:, :self.file_rec] = self.data[start:start + n]
        if self.file_rec < self.rec:
            out[:, self.file_rec:] = -1.0
        return out

    def split(self, rows: np.ndarray):
        """rows [..., rec] -> features, gain, strength, care, presence."""
        nf, nb = self.nf, self.nb
        return (rows[..., :nf], rows[..., nf:nf + nb], rows[..., nf + nb:nf + 2 * nb],
                rows[..., nf + 2 * nb:nf + 3 * nb], rows[..., nf + 3 * nb])


def find_pnf(paths) -> list[Path]:
    """Files as given; directories expand to their *.pnf files (recursively), sorted."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(p.rglob("*.pnf"))
            if not found:
                raise SystemExit(f"no .pnf files under {p}")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise SystemExit(f"{p}: no such file or directory")
    return out


def open_all(paths) -> list[PnfFile]:
    files = [PnfFile(p) for p in find_pnf(paths)]
    shapes = {(f.nf, f.nb) for f in files}
    if len(shapes) > 1:
        raise SystemExit(f"feature files disagree on (NF, NB): {sorted(shapes)}")
    return files


def file_key(files) -> list:
    return [[str(f.path.resolve()), f.frames] for f in files]


def feature_stats(files, cache: Path | None = None, log=print):
    """Mean and std of every feature over all frames of `files` (float64 accumulation).
    Cached in `cache` (JSON) and reused while the file list and lengths are unchanged."""
    key = file_key(files)
    if cache is not None and cache.exists():
        st = json.loads(cache.read_text())
        if st.get("files") == key:
            return np.array(st["mean"], np.float32), np.array(st["std"], np.float32)
        log(f"{cache}: training files changed, recomputing feature statistics")
    nf = files[0].nf
    s = np.zeros(nf)
    ss = np.zeros(nf)
    n = 0
    t0 = time.time()
    for f in files:
        for a in range(0, f.frames, 65536):
            x = np.asarray(f.data[a:a + 65536, :nf], dtype=np.float64)
            s += x.sum(0)
            ss += (x * x).sum(0)
            n += len(x)
    if n == 0:
        raise SystemExit("training files hold no frames")
    mean = s / n
    if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(ss)):
        bad = np.nonzero(~np.isfinite(mean) | ~np.isfinite(ss))[0].tolist()
        raise SystemExit(f"training features {bad} hold NaN or infinite values")
    std = np.sqrt(np.maximum(ss / n - mean * mean, 0.0))
    low = np.nonzero(std < STD_FLOOR)[0]
    if len(low):
        log(f"features {low.tolist()} have std < {STD_FLOOR}: scale floored to {STD_FLOOR}")
    std = np.maximum(std, STD_FLOOR)
    log(f"feature statistics over {n} frames of {len(files)} files in {time.time() - t0:.1f} s")
    if cache is not None:
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"files": key, "frames": n, "mean": mean.tolist(),
                                   "std": std.tolist()}, indent=1))
        os.replace(tmp, cache)
    return mean.astype(np.float32), std.astype(np.float32)


class Sampler:
    """Random crops of `seq_len` frames, uniform over all valid start positions of all files."""

    def __init__(self, files, seq_len: int):
        self.files = [f for f in files if f.frames >= seq_len]
        if not self.files:
            raise SystemExit(f"no training file has {seq_len} frames (--seq-len)")
        starts = np.array([f.frames - seq_len + 1 for f in self.files], dtype=np.int64)
        self.cum = np.cumsum(starts)
        self.seq_len = seq_len
        self.rec = self.files[0].rec

    def batch(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        idx = rng.integers(0, self.cum[-1], size=batch)
        out = np.empty((batch, self.seq_len, self.rec), dtype=np.float32)
        for b, i in enumerate(idx):
            fi = int(np.searchsorted(self.cum, i, side="right"))
            start = int(i - (self.cum[fi - 1] if fi else 0))
            self.files[fi].rows(start, self.seq_len, out[b])
        return out


def to_tensors(rows: np.ndarray, f0: PnfFile, device):
    t = torch.from_numpy(rows).to(device)
    return f0.split(t)


def validation_chunks(files, seq: int, max_frames: int):
    """Deterministic list of (file, start, length): consecutive chunks, evenly thinned to
    at most max_frames frames."""
    chunks = []
    for f in files:
        if f.frames == 0:
            continue
        if f.frames <= seq:
            chunks.append((f, 0, f.frames))
            continue
        for a in range(0, f.frames - seq + 1, seq):
            chunks.append((f, a, seq))
    total = sum(c[2] for c in chunks)
    if max_frames and total > max_frames:
        keep = max(1, int(len(chunks) * max_frames / total))
        sel = np.linspace(0, len(chunks) - 1, keep).round().astype(int)
        chunks = [chunks[i] for i in sorted(set(sel.tolist()))]
    return chunks


@torch.no_grad()
def evaluate(model, chunks, device, batch: int = 32, presence: dict | None = None) -> float:
    """Masked loss over all validation chunks (sum of per-band losses / sum of care). With a
    `presence` dict and a presence head, also fills in its loss and accuracy at 0.5."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    n = torch.zeros((), dtype=torch.float64)
    p_total = p_n = p_right = 0.0
    by_len = {}
    for c in chunks:
        by_len.setdefault(c[2], []).append(c)
    for length, cs in by_len.items():
        for a in range(0, len(cs), batch):
            part = cs[a:a + batch]
            rows = np.stack([f.rows(s, length) for f, s, _ in part])
            feats, g, r, care, p = to_tensors(rows, part[0][0], device)
            gl, rl, pl = model(feats, return_logits=True, with_presence=True)
            t, m = percepnet_loss(gl, rl, g, r, care, reduce=False)
            total += t.double().cpu()
            n += m.double().cpu()
            if presence is not None and has_presence(model.config):
                pt, pn = presence_loss(pl, p, reduce=False)
                p_total += float(pt)
                p_n += float(pn)
                p_right += float((((pl > 0).float() == p) & (p >= 0)).sum())
    model.train(was_training)
    if presence is not None:
        presence.update(loss=p_total / p_n if p_n else float("nan"),
                        accuracy=p_right / p_n if p_n else float("nan"))
    return float(total / n) if n > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# checkpoints

def save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def model_from_checkpoint(path) -> PercepNet:
    ck = load_checkpoint(path)
    model = PercepNet(ck["config"])
    model.load_state_dict(ck["model"])
    return model


# ---------------------------------------------------------------------------------------------

# Hyperparameters that define the run; stored in last.pt and reused by --resume unless given.
HYPER_DEFAULTS = dict(preset="small", dense=None, conv1=None, conv2=None, gru=None,
                      gru_layers=None, head_g=None, head_r=None,
                      batch=32, seq_len=200, lr=1e-3, lr_decay=5e-5, clip=1.0, seed=1,
                      val_every=None, val_seq=1000, val_max_frames=300_000,
                      gru_density=None, prune_start=None, prune_steps=2000, prune_every=20,
                      swa_start=None, swa_every=50, keep_highs=1.0,
                      keep_highs_from=HIGH_BAND, int8_aware=0)

# Block-sparse GRUs: the block shape of the Rust int8 kernels (src/model/quant/sparse.rs).
BLOCK_ROWS, BLOCK_COLS = 8, 4


def gru_matrices(model) -> list[torch.nn.Parameter]:
    """W_ih and W_hh of every GRU (trunk and both heads), the matrices --gru-density prunes."""
    return [p for name, p in model.named_parameters()
            if name.startswith("gru") and ".weight_" in name]


def int8_matrices(model) -> list[torch.nn.Parameter]:
    """The weights the Rust network runs in int8 (src/model/quant): the convolutions, every
    GRU matrix and the two dense heads (not the first dense layer nor the presence output)."""
    return [p for name, p in model.named_parameters()
            if name in ("conv1.weight", "conv2.weight", "dense_g.weight", "dense_r.weight")
            or (name.startswith("gru") and ".weight_" in name)]


def int8_rounded(w: torch.Tensor) -> torch.Tensor:
    """`w` with each output row rounded as the Rust loader does: s round(w / s), s = max |row| /
    127 (a convolution's row: one output channel, all inputs and taps)."""
    rows = w.reshape(w.shape[0], -1)
    s = rows.abs().amax(1, keepdim=True) / 127
    s = torch.where(s == 0, torch.ones_like(s), s)
    return (torch.round(rows / s).clamp(-127, 127) * s).reshape(w.shape)


def density_at(step: int, hp: dict) -> float:
    """Cubic pruning schedule (Zhu & Gupta 2017, as in LPCNet): with u = (step - start) / ramp
    clamped to [0, 1], d(u) = 1 - (1 - D) (1 - (1 - u)^3), from dense to the target density D."""
    if hp.get("gru_density") is None:
        return 1.0
    u = min(max((step - hp["prune_start"]) / max(hp["prune_steps"], 1), 0.0), 1.0)
    return 1.0 - (1.0 - hp["gru_density"]) * (1.0 - (1.0 - u) ** 3)


def block_mask(w: torch.Tensor, density: float) -> torch.Tensor:
    """Keeps the ceil(density * n) of the n BLOCK_ROWS x BLOCK_COLS blocks of w with the
    largest L2 norm (the rule of the Rust `prune_blocks`), as a 0/1 mask of w's shape."""
    rows, cols = w.shape
    pr, pc = -rows % BLOCK_ROWS, -cols % BLOCK_COLS
    wp = torch.nn.functional.pad(w.detach(), (0, pc, 0, pr))
    br, bc = wp.shape[0] // BLOCK_ROWS, wp.shape[1] // BLOCK_COLS
    norms = wp.reshape(br, BLOCK_ROWS, bc, BLOCK_COLS).pow(2).sum(dim=(1, 3)).flatten()
    keep = min(norms.numel(), math.ceil(density * norms.numel()))
    m = torch.zeros_like(norms)
    m[torch.topk(norms, keep, sorted=False).indices] = 1.0
    m = m.reshape(br, 1, bc, 1).expand(br, BLOCK_ROWS, bc, BLOCK_COLS).reshape(wp.shape)
    return m[:rows, :cols].contiguous()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", nargs="+", help=".pnf files or directories of them")
    p.add_argument("--val", nargs="+", help="held-apart dev .pnf files or directories")
    p.add_argument("--run", required=True, help="run directory (checkpoints, stats, log)")
    p.add_argument("--init", help="new run only: start from this checkpoint's weights and feature "
                   "normalisation (heads it lacks, e.g. presence, start fresh); fresh optimiser")
    p.add_argument("--resume", action="store_true",
                   help="continue from RUN/last.pt (starts fresh if there is none)")
    g = p.add_argument_group("model (fixed for a run)")
    g.add_argument("--preset", choices=sorted(PRESETS), default=None, help="default: small")
    for k in ("dense", "conv1", "conv2", "gru", "gru_layers", "head_g", "head_r"):
        g.add_argument("--" + k.replace("_", "-"), type=int, default=None, help="override the preset")
    h = p.add_argument_group("optimisation (stored; --resume reuses them unless given)")
    h.add_argument("--batch", type=int, help="sequences per step (32)")
    h.add_argument("--seq-len", type=int, help="frames per sequence (200)")
    h.add_argument("--lr", type=float, help="Adam learning rate (1e-3)")
    h.add_argument("--lr-decay", type=float,
                   help="inverse-time decay: lr / (1 + lr_decay * step) (5e-5; 0 = constant)")
    h.add_argument("--clip", type=float, help="gradient-norm clip (1.0; 0 = off)")
    h.add_argument("--seed", type=int, help="seed of initialisation and batch sampling (1)")
    h.add_argument("--val-every", type=int, help="validate every N steps (default: one pass "
                   "over the training frames)")
    h.add_argument("--val-seq", type=int, help="frames per validation chunk (1000)")
    h.add_argument("--val-max-frames", type=int,
                   help="validate on at most this many frames, evenly spread (300000; 0 = all)")
    h.add_argument("--gru-density", type=float,
                   help="block-sparse GRUs: keep this fraction of the 8x4 weight blocks of every "
                        "GRU matrix, pruned by magnitude on a cubic schedule (default: dense)")
    h.add_argument("--prune-steps", type=int,
                   help="steps from dense to --gru-density (2000), from the step it was first given")
    h.add_argument("--swa-start", type=int,
                   help="from this step on, keep a running mean of the weights (stochastic "
                        "weight averaging): validated beside the model and saved as swa.pt (off)")
    h.add_argument("--swa-every", type=int, help="steps between two weight snapshots (50)")
    h.add_argument("--keep-highs", type=float,
                   help="weight of taking too much in the bands from 8 kHz up (1 = the paper's "
                        "loss; validation always uses 1)")
    h.add_argument("--keep-highs-from", type=int,
                   help="first band --keep-highs weighs (26: 6.6 kHz; 28: 8.9 kHz, above PESQ-WB)")
    h.add_argument("--int8-aware", type=int, choices=(0, 1),
                   help="1: forward and backward with the int8 matrices' weights rounded as the "
                        "Rust loader rounds them, the update applied to the unrounded weights "
                        "(straight-through); 0: plain float training (0)")
    r = p.add_argument_group("this session")
    r.add_argument("--max-minutes", type=float, default=None, help="stop cleanly after this")
    r.add_argument("--max-steps", type=int, default=None, help="stop at this total step count")
    r.add_argument("--ckpt-every-min", type=float, default=5.0, help="checkpoint interval (5)")
    r.add_argument("--log-every", type=int, default=50, help="log every N steps (50)")
    r.add_argument("--threads", type=int, default=2, help="torch CPU threads (2)")
    r.add_argument("--device", default="cpu", help="cpu or cuda")
    r.add_argument("--bf16", action="store_true",
                   help="forward pass under bfloat16 autocast (the loss and the weights stay "
                        "float32); see TRAINING.md, 'Speed', for when it pays")
    r.add_argument("--compile", action="store_true",
                   help="torch.compile the training forward pass (the first steps compile)")
    r.add_argument("--quiet", action="store_true", help="log to train.log only")
    return p.parse_args(argv)


class Logger:
    def __init__(self, path: Path, quiet: bool):
        self.path, self.quiet = path, quiet

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {msg}"
        if not self.quiet:
            print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


def main(argv=None) -> dict:
    args = parse_args(argv)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    log = Logger(run / "train.log", args.quiet)
    last_path, best_path, swa_path = run / "last.pt", run / "best.pt", run / "swa.pt"
    torch.set_num_threads(max(1, args.threads))
    device = torch.device(args.device)

    ck = None
    if args.resume and last_path.exists():
        ck = load_checkpoint(last_path)
    elif args.resume:
        log(f"--resume: no {last_path} yet, starting a new run")
    elif last_path.exists():
        raise SystemExit(f"{last_path} exists: pass --resume to continue it, or use a new --run")

    given = {k: getattr(args, k) for k in HYPER_DEFAULTS
             if getattr(args, k, None) is not None}
    if ck is not None:
        hp = dict(ck["hyper"])
        changed = {k: v for k, v in given.items() if hp.get(k) != v}
        if any(k in changed for k in ("preset", "dense", "conv1", "conv2", "gru",
                                      "gru_layers", "head_g", "head_r")):
            raise SystemExit(f"cannot change the model shape of a run on --resume: {changed}")
        if changed:
            log(f"overriding stored hyperparameters (not an exact continuation): {changed}")
        hp.update(given)
        train_paths = args.train or ck["train_files"]
        val_paths = args.val if args.val is not None else ck["val_files"]
    else:
        if not args.train:
            raise SystemExit("--train is required for a new run")
        hp = dict(HYPER_DEFAULTS)
        hp.update(given)
        train_paths = args.train
        val_paths = args.val or []

    train_files = open_all(train_paths)
    val_files = open_all(val_paths) if val_paths else []
    f0 = train_files[0]
    if val_files and (val_files[0].nf, val_files[0].nb) != (f0.nf, f0.nb):
        raise SystemExit("validation files have another (NF, NB) than the training files")
    train_frames = sum(f.frames for f in train_files)
    sampler = Sampler(train_files, hp["seq_len"])
    frames_per_step = hp["batch"] * hp["seq_len"]
    val_every = hp["val_every"] or max(1, train_frames // frames_per_step)
    chunks = validation_chunks(val_files, hp["val_seq"], hp["val_max_frames"]) if val_files else []

    if ck is not None:
        config = ck["config"]
        if (config["nf"], config["nb"]) != (f0.nf, f0.nb):
            raise SystemExit("training files do not match the checkpoint's NF/NB")
    else:
        config = make_config(hp["preset"], nf=f0.nf, nb=f0.nb,
                             **{k: hp[k] for k in SHAPE_KEYS if k in hp})
    init = load_checkpoint(args.init) if (args.init and ck is None) else None
    if init is not None:
        mismatch = {k: (init["config"][k], config[k]) for k in SHAPE_KEYS
                    if init["config"][k] != config[k]}
        if mismatch:
            raise SystemExit(f"--init {args.init}: other widths than this run {mismatch}")
    torch.manual_seed(hp["seed"])
    model = PercepNet(config)
    if init is not None:
        missing, unexpected = model.load_state_dict(init["model"], strict=False)
        if unexpected:
            raise SystemExit(f"--init {args.init}: tensors this model lacks: {unexpected}")
        log(f"initialised from {args.init} (its feature normalisation kept); fresh: {missing}")
    elif ck is None:
        mean, std = feature_stats(train_files, run / "stats.json", log)
        model.set_normalisation(mean, std)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
    rng = np.random.default_rng(hp["seed"])
    step, best_val, train_seconds, history = 0, math.inf, 0.0, []
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        rng.bit_generator.state = ck["np_rng"]
        torch.set_rng_state(ck["torch_rng"])
        step, best_val = ck["step"], ck["best_val"]
        train_seconds, history = ck["train_seconds"], ck["history"]
        log(f"resumed {last_path} at step {step} ({train_seconds / 3600:.2f} h trained, "
            f"best val {best_val:.5f})")
    else:
        (run / "config.json").write_text(json.dumps({"config": config, "hyper": hp}, indent=1))
        log(f"new run: {config}, {model.num_weights()} weights; hyper {hp}")
    for k in ("prune_steps", "prune_every", "swa_start", "swa_every", "keep_highs",
              "keep_highs_from"):
        hp.setdefault(k, HYPER_DEFAULTS[k])
    if hp.get("gru_density") is not None and hp.get("prune_start") is None:
        hp["prune_start"] = step
        log(f"pruning GRU blocks to density {hp['gru_density']} over steps {step}.."
            f"{step + hp['prune_steps']}")
    masks: list[torch.Tensor] = []
    mask_density = None
    # Stochastic weight averaging: swa_state is the mean of swa_n snapshots of the weights.
    swa_state = ck.get("swa_model") if ck is not None else None
    swa_n = ck.get("swa_n", 0) if ck is not None else 0
    best_swa = ck.get("best_swa_val", math.inf) if ck is not None else math.inf
    if hp["swa_start"] is None or step < hp["swa_start"]:
        # snapshots only count from swa_start on: a moved start begins a fresh average
        swa_state, swa_n, best_swa = None, 0, math.inf
    swa_model = PercepNet(config).to(device) if hp["swa_start"] is not None else None

    def swa_update() -> None:
        nonlocal swa_state, swa_n
        cur = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if swa_n == 0:
            swa_state, swa_n = cur, 1
            return
        swa_n += 1
        for k, v in cur.items():
            if v.is_floating_point():
                swa_state[k] += (v - swa_state[k]) / swa_n

    def apply_masks() -> None:
        nonlocal masks, mask_density
        d = density_at(step, hp)
        if d >= 1.0:
            return
        if mask_density != d and (step % hp["prune_every"] == 0 or not masks or d == hp["gru_density"]):
            masks = [block_mask(w, d) for w in gru_matrices(model)]
            mask_density = d
        with torch.no_grad():
            for w, m in zip(gru_matrices(model), masks):
                w.mul_(m)

    apply_masks()
    log(f"train: {len(train_files)} files, {train_frames} frames ({train_frames / 360000:.2f} h); "
        f"val: {len(val_files)} files, {sum(c[2] for c in chunks)} frames in {len(chunks)} chunks; "
        f"validate every {val_every} steps; {torch.get_num_threads()} threads on {device}")

    def checkpoint(reason: str) -> None:
        save_atomic(dict(config=config, model=model.state_dict(), optimizer=opt.state_dict(),
                         step=step, np_rng=rng.bit_generator.state, torch_rng=torch.get_rng_state(),
                         best_val=best_val, train_seconds=train_seconds, history=history, hyper=hp,
                         swa_model=swa_state, swa_n=swa_n, best_swa_val=best_swa,
                         train_files=[str(f.path) for f in train_files],
                         val_files=[str(f.path) for f in val_files]), last_path)
        log(f"checkpoint ({reason}) at step {step}: {last_path}")

    def validate_swa() -> None:
        nonlocal best_swa
        if swa_model is None or swa_n == 0:
            return
        swa_model.load_state_dict(swa_state)
        v = evaluate(swa_model, chunks, device)
        saved = v < best_swa
        if saved:
            best_swa = v
            save_atomic(dict(config=config, model=swa_state, step=step, val=v, swa_n=swa_n,
                             swa_start=hp["swa_start"], swa_every=hp["swa_every"]), swa_path)
        log(f"validation at step {step}: swa val {v:.5f} (mean of {swa_n} snapshots"
            f"{', saved ' + str(swa_path) if saved else f'; best {best_swa:.5f}'})")

    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_handlers = {}
    if hasattr(signal, "SIGTERM"):
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                old_handlers[s] = signal.signal(s, on_signal)
        except ValueError:  # not the main thread
            pass

    session_start = time.time()
    last_ckpt = time.time()
    win_loss, win_n, win_t, win_frames = 0.0, 0, 0.0, 0
    win_cpu = 0.0
    last_val = float("nan")
    bad_steps = 0
    reason = "end"
    model.train()
    # The training forward pass: eager or compiled (the compiled module shares the weights, so
    # checkpoints, masks and validation use `model` as before), under bf16 autocast or not.
    forward = torch.compile(model) if args.compile else model
    # --int8-aware: the matrices each step swaps for their int8-rounded values
    rounded = int8_matrices(model) if hp.get("int8_aware") else []
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16)
    if args.bf16 or args.compile:
        log(f"forward pass: {'compiled' if args.compile else 'eager'}, "
            f"{'bf16 autocast' if args.bf16 else 'float32'}")
    try:
        while True:
            if args.max_steps is not None and step >= args.max_steps:
                reason = "max steps"
                break
            if args.max_minutes is not None and time.time() - session_start >= 60 * args.max_minutes:
                reason = "max minutes"
                break
            if stop["signal"] is not None:
                reason = f"signal {stop['signal']}"
                break
            t0, c0 = time.time(), time.process_time()
            lr = hp["lr"] / (1.0 + hp["lr_decay"] * step)
            for group in opt.param_groups:
                group["lr"] = lr
            feats, g, r, care, p = to_tensors(sampler.batch(rng, hp["batch"]), f0, device)
            masters = [w.data for w in rounded]
            for w in rounded:
                w.data = int8_rounded(w.data)
            with autocast:
                gl, rl, pl = forward(feats, return_logits=True, with_presence=True)
            gl, rl, pl = gl.float(), rl.float(), pl.float()
            loss = percepnet_loss(gl, rl, g, r, care, keep_highs=hp["keep_highs"],
                                  keep_highs_from=hp["keep_highs_from"])
            if has_presence(config):
                loss = loss + PRESENCE_WEIGHT * presence_loss(pl, p)
            opt.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                # a corrupt batch must not poison the weights: skip it (the step still counts)
                bad_steps += 1
                log(f"step {step}: non-finite loss, batch skipped ({bad_steps} so far)")
                if bad_steps > 100:
                    raise SystemExit("too many non-finite losses: check the features")
            else:
                loss.backward()
            # straight-through: the gradient at the rounded weights updates the unrounded ones
            for w, m in zip(rounded, masters):
                w.data = m
            if torch.isfinite(loss):
                if hp["clip"]:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), hp["clip"])
                opt.step()
            step += 1
            apply_masks()
            if swa_model is not None and step >= hp["swa_start"] and step % hp["swa_every"] == 0:
                swa_update()
            dt = time.time() - t0
            train_seconds += dt
            win_loss += loss.item() if torch.isfinite(loss) else 0.0
            win_n += 1
            win_t += dt
            win_cpu += time.process_time() - c0
            win_frames += frames_per_step

            do_val = bool(chunks) and step % val_every == 0
            if do_val:
                tv = time.time()
                pres = {}
                last_val = evaluate(model, chunks, device, presence=pres)
                history.append((step, last_val))
                improved = last_val < best_val
                if improved:
                    best_val = last_val
                    save_atomic(dict(config=config, model=model.state_dict(), step=step,
                                     val=last_val), best_path)
                log(f"validation at step {step}: val {last_val:.5f}"
                    f"{' (best)' if improved else f' (best {best_val:.5f})'} in {time.time() - tv:.1f} s"
                    + (f"; presence loss {pres['loss']:.4f}, accuracy {pres['accuracy']:.4f}"
                       if has_presence(config) else ""))
                validate_swa()
            if step % args.log_every == 0 or do_val:
                log(f"step {step} epoch {step * frames_per_step / train_frames:.2f} "
                    f"train {win_loss / max(win_n, 1):.5f} val {'-' if math.isnan(last_val) else f'{last_val:.5f}'} "
                    f"lr {lr:.2e} "
                    f"frames/s {win_frames / max(win_t, 1e-9):.0f} "
                    f"cpu {100 * win_cpu / max(win_t, 1e-9):.0f}% "
                    f"trained {train_seconds / 3600:.2f} h")
                win_loss, win_n, win_t, win_frames, win_cpu = 0.0, 0, 0.0, 0, 0.0
            if time.time() - last_ckpt >= 60 * args.ckpt_every_min:
                checkpoint("periodic")
                last_ckpt = time.time()
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
    if chunks and (not history or history[-1][0] != step):
        last_val = evaluate(model, chunks, device)
        history.append((step, last_val))
        if last_val < best_val:
            best_val = last_val
            save_atomic(dict(config=config, model=model.state_dict(), step=step, val=last_val), best_path)
        log(f"validation at step {step}: val {last_val:.5f} (best {best_val:.5f})")
        validate_swa()
    checkpoint(reason)
    return dict(step=step, best_val=best_val, last_val=last_val, history=history, model=model)


if __name__ == "__main__":
    main()
