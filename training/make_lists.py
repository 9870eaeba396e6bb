#!/usr/bin/env python3
"""Turn the corpus manifest into the source lists `percepnet features` reads.

    python3 training/make_lists.py [--corpus training/data/corpus] [--out training/data/lists]

Writes speech_{train,dev}.txt (`path,bandwidth_hz` per line) and noise_{train,dev}.txt
(`path` per line), paths absolute, and noise_{train,dev}_balanced.txt: the noise with the
lines of each category (music, effects, babble, fan, ...) repeated so that every category has
about as many lines as the largest one. `percepnet features` picks noise files uniformly by line,
so with the plain list ~11 h of music chunks and ~600 game effects drown the 20-file generated
types (babble, fan, hum, ...); the balanced list gives each category a similar share of mixes.
Standard library only.
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
    by_category = {}
    with open(corpus / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = f"{row['kind']}_{row['split']}"
            path = corpus / row["path"]
            line = f"{path},{row['bandwidth_hz']}" if row["kind"] == "speech" else str(path)
            lists.setdefault(key, []).append(line)
            if row["kind"] == "noise":
                by_category.setdefault(key, {}).setdefault(row["category"], []).append(line)
    for key, cats in by_category.items():
        lists[f"{key}_balanced"] = balanced(cats)
    for key, lines in sorted(lists.items()):
        (out / f"{key}.txt").write_text("\n".join(lines) + "\n")
        print(f"{out / key}.txt: {len(lines)} files")


def balanced(by_category: dict) -> list:
    """Each category's lines repeated round(largest / size) times, categories in name order."""
    top = max(len(v) for v in by_category.values())
    return [line for cat in sorted(by_category) for line in by_category[cat]
            * max(1, round(top / len(by_category[cat])))]


if __name__ == "__main__":
    main()
