#!/usr/bin/env python3
"""Export a training checkpoint to `.pnw` weights and a `.pnr` reference (docs/FORMATS.md).

    python training/export.py --run training/runs/small \
        --out weights/percepnet.pnw --ref weights/percepnet.pnr --ref-pnf some_dev_file.pnf

--run picks RUN/swa.pt (else RUN/best.pt, else RUN/last.pt); --ckpt names a checkpoint file instead.
The reference input is the first --ref-frames rows (100) of --ref-pnf, or, without one,
deterministic synthetic features (mean + std x a smooth random walk, seed 0). Its outputs are
the PyTorch network's, in float32 and eval mode, starting from the zero state (row 0 is the
start of a stream).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

import numpy as np

# libgomp's default spin-waiting makes 2 threads ~8x slower than 1 when another process holds a
# core (measured on the 2-core machine); passive waiting costs little when the cores are free.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import SHAPE_KEYS, PercepNet, has_presence  # noqa: E402

PNW_MAGIC = b"PNWEIGHT"
# .pnr version 1 holds gains and strengths per frame; version 2 adds the presence.
PNR_MAGIC = {False: b"PNREF001", True: b"PNREF002"}


def _f32(t) -> bytes:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def write_pnw(model: PercepNet, path) -> int:
    """Write `model` as `.pnw` (version 2 with a presence head, else 1); returns the byte count."""
    c = model.config
    version = 2 if has_presence(c) else 1
    parts = [PNW_MAGIC, struct.pack("<I", version), struct.pack("<11I", *[c[k] for k in SHAPE_KEYS]),
             _f32(model.feat_mean), _f32(model.feat_std)]
    for _name, t in model.export_tensors():
        parts.append(struct.pack("<I", t.dim()))
        parts.append(struct.pack(f"<{t.dim()}I", *t.shape))
        parts.append(_f32(t))
    blob = b"".join(parts)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)
    return len(blob)


@torch.no_grad()
def reference_outputs(model: PercepNet, feats: np.ndarray) -> np.ndarray:
    """feats [F, NF] raw -> [F, 2 NB] (gains then strengths; then the presence, [F, 2 NB + 1],
    with a presence head), float32, eval mode, CPU."""
    model = model.float().cpu().eval()
    x = torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))[None]
    g, r, p = model(x, with_presence=True)
    cols = [g[0], r[0]] + ([p[0][:, None]] if has_presence(model.config) else [])
    return torch.cat(cols, dim=1).numpy().astype(np.float32)


def write_pnr(path, feats: np.ndarray, outputs: np.ndarray) -> None:
    feats = np.ascontiguousarray(feats, dtype="<f4")
    outputs = np.ascontiguousarray(outputs, dtype="<f4")
    frames, nf = feats.shape
    assert outputs.shape[0] == frames
    nb, presence = outputs.shape[1] // 2, outputs.shape[1] % 2 == 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = PNR_MAGIC[presence] + struct.pack("<3I", frames, nf, nb) + feats.tobytes() + outputs.tobytes()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)


def synthetic_features(model: PercepNet, frames: int, seed: int = 0) -> np.ndarray:
    """Deterministic plausible inputs: the training mean plus std times a smooth random walk
    (AR(1), unit variance), so every feature moves over its usual range."""
    rng = np.random.default_rng(seed)
    nf = model.config["nf"]
    z = np.zeros((frames, nf))
    state = rng.standard_normal(nf)
    for j in range(frames):
        state = 0.9 * state + np.sqrt(1 - 0.81) * rng.standard_normal(nf)
        z[j] = state
    mean = model.feat_mean.cpu().numpy().astype(np.float64)
    std = model.feat_std.cpu().numpy().astype(np.float64)
    return (mean + std * z).astype(np.float32)


def pnf_features(path, frames: int, nf_expected: int) -> np.ndarray:
    from train import PnfFile  # noqa: E402  (local import: train.py pulls nothing heavy)
    f = PnfFile(path)
    if f.nf != nf_expected:
        raise SystemExit(f"{path}: NF {f.nf}, the model has {nf_expected}")
    if f.frames < frames:
        raise SystemExit(f"{path}: {f.frames} frames, --ref-frames asks for {frames}")
    return np.array(f.data[:frames, :f.nf], dtype=np.float32)


def load_model(ckpt, swa: bool = False) -> PercepNet:
    """The model of a checkpoint; with `swa`, the running weight mean kept in a last.pt."""
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    model = PercepNet(ck["config"])
    if swa:
        if ck.get("swa_model") is None:
            raise SystemExit(f"{ckpt}: no weight mean in it (train with --swa-start; use last.pt)")
        print(f"weight mean of {ck['swa_n']} snapshots (steps {ck['hyper']['swa_start']}.."
              f"{ck['step']}, every {ck['hyper']['swa_every']})")
        model.load_state_dict(ck["swa_model"])
    else:
        model.load_state_dict(ck["model"])
    return model.eval()


def export(model: PercepNet, out, ref=None, ref_pnf=None, ref_frames: int = 100) -> None:
    n = write_pnw(model, out)
    print(f"wrote {out}: {n} bytes, {model.num_weights()} weights, shape {model.config}")
    if ref is not None:
        feats = (pnf_features(ref_pnf, ref_frames, model.config["nf"]) if ref_pnf
                 else synthetic_features(model, ref_frames))
        outs = reference_outputs(model, feats)
        write_pnr(ref, feats, outs)
        src = ref_pnf if ref_pnf else "synthetic features"
        print(f"wrote {ref}: {ref_frames} frames from {src}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory: uses swa.pt (the best weight mean), else best.pt, else last.pt")
    src.add_argument("--ckpt", help="checkpoint file (last.pt or best.pt)")
    p.add_argument("--swa", action="store_true",
                   help="export the weight mean that --swa-start keeps in the checkpoint (last.pt)")
    p.add_argument("--out", required=True, help="output .pnw")
    p.add_argument("--ref", help="output .pnr (reference inputs and outputs)")
    p.add_argument("--ref-pnf", help=".pnf whose first rows are the reference input")
    p.add_argument("--ref-frames", type=int, default=100)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.run:
        run = Path(args.run)
        ckpt = next((c for c in (run / "swa.pt", run / "best.pt") if c.exists()), run / "last.pt")
    else:
        ckpt = Path(args.ckpt)
    model = load_model(ckpt, args.swa)
    print(f"checkpoint {ckpt}")
    export(model, args.out, args.ref, args.ref_pnf, args.ref_frames)


if __name__ == "__main__":
    main()
