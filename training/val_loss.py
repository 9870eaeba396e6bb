#!/usr/bin/env python3
"""Validation loss of checkpoints on .pnf files, as train.py computes it.

    $PY training/val_loss.py training/checkpoints/current/model.pt [more.pt ...] [--swa] \
        --val training/data/features/dev/dev1-balanced.pnf

Same chunks (--val-seq 1000, --val-max-frames 300 000) and masked loss as the validation of
train.py. --swa reads the weight mean kept in a last.pt instead of its model.
"""
from __future__ import annotations

import argparse

import torch

import train
from export import load_model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--val", nargs="+", required=True, help=".pnf files or directories")
    p.add_argument("--swa", action="store_true")
    p.add_argument("--val-seq", type=int, default=train.HYPER_DEFAULTS["val_seq"])
    p.add_argument("--val-max-frames", type=int, default=train.HYPER_DEFAULTS["val_max_frames"])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    chunks = train.validation_chunks(train.open_all(args.val), args.val_seq, args.val_max_frames)
    for ckpt in args.checkpoints:
        print(f"{ckpt}: val {train.evaluate(load_model(ckpt, args.swa), chunks, 'cpu'):.5f}")


if __name__ == "__main__":
    main()
