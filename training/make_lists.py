#!/usr/bin/env python3
"""Turn the corpus manifest into the source lists `percepnet features` reads.

    python3 training/make_lists.py [--corpus training/data/corpus] [--out training/data/lists]

Writes speech_{train,dev}.txt (`path,bandwidth_hz` per line) and noise_{train,dev}.txt
(`path` per line), paths absolute. Standard library only.
"""
import argparse
import csv
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="training/data/corpus")
    ap.add_argument("--out", default="training/data/lists")
    a = ap.parse_args()
    corpus = Path(a.corpus).resolve()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lists = {}
    with open(corpus / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = f"{row['kind']}_{row['split']}"
            path = corpus / row["path"]
            line = f"{path},{row['bandwidth_hz']}" if row["kind"] == "speech" else str(path)
            lists.setdefault(key, []).append(line)
    for key, lines in sorted(lists.items()):
        (out / f"{key}.txt").write_text("\n".join(lines) + "\n")
        print(f"{out / key}.txt: {len(lines)} files")


if __name__ == "__main__":
    main()
