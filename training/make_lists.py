#!/usr/bin/env python3
"""Turn the corpus manifest into the source lists `percepnet features` reads.

    python3 training/make_lists.py [--corpus training/data/corpus] [--out training/data/lists]

Writes speech_{train,dev}.txt (`path,bandwidth_hz` per line), speech_train_weighted.txt and
speech_train_fullband.txt (`speech_mixes` below), and noise_{train,dev}.txt
(`path` per line), paths absolute, and noise_{train,dev}_balanced.txt: the noise with the
lines of each category (music, rain, babble, fan, ... 20 categories) repeated so that every
category gets about the same share of the noise TIME in the mixes. `percepnet features` picks
noise files uniformly by line and fills a segment (20 s by default) with them, so a category's
share of the noise time is about sum over its lines of min(duration, --segment-s). Weighting by
file count instead would shortchange categories of short files (effects of 1-3 s against 30 s
chunks of rain). Each category's lines are repeated round(top / its time) times (at least once),
top being the largest category's time. Standard library only.
"""
import argparse
import csv
from pathlib import Path

FULLBAND_HZ = 20000.0  # speech_train_fullband: files measured at this bandwidth or more


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="training/data/corpus")
    ap.add_argument("--out", default="training/data/lists")
    ap.add_argument("--segment-s", type=float, default=20.0, help="the features' segment length (time weights)")
    a = ap.parse_args()
    corpus = Path(a.corpus).resolve()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lists = {}
    by_category, seconds = {}, {}
    with open(corpus / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = f"{row['kind']}_{row['split']}"
            path = corpus / row["path"]
            line = f"{path},{row['bandwidth_hz']}" if row["kind"] == "speech" else str(path)
            lists.setdefault(key, []).append(line)
            if row["kind"] == "noise":
                by_category.setdefault(key, {}).setdefault(row["category"], []).append(line)
                seconds[line] = min(float(row["duration_s"]), a.segment_s)
    lists.update(speech_mixes(lists.get("speech_train", [])))
    for key, cats in by_category.items():
        lists[f"{key}_balanced"] = balanced(cats, seconds)
        share = {c: sum(seconds[ln] for ln in v) for c, v in cats.items()}
        reps = {c: max(1, round(max(share.values()) / t)) for c, t in share.items()}
        print(f"{key}_balanced: " + ", ".join(f"{c} {share[c] / 3600:.2f} h x{reps[c]}" for c in sorted(cats)))
    for key, lines in sorted(lists.items()):
        (out / f"{key}.txt").write_text("\n".join(lines) + "\n")
        print(f"{out / key}.txt: {len(lines)} files")


def speech_mixes(train: list) -> dict:
    """The two training speech lists the shipped network's features use (training/TRAINING.md,
    sessions 5-11): speech_train_weighted (recorded voices listed twice, TTS once, so recordings
    are about 45 % of the speech time) and speech_train_fullband (files measured at 20 kHz or
    more)."""
    tts = [ln for ln in train if "/tts-" in ln]
    rec = [ln for ln in train if "/tts-" not in ln]
    full = [ln for ln in train if float(ln.rsplit(",", 1)[1]) >= FULLBAND_HZ]
    return {"speech_train_weighted": rec + rec + tts, "speech_train_fullband": full}


def balanced(by_category: dict, seconds: dict | None = None) -> list:
    """Each category's lines repeated round(top / size) times (at least once), categories in name
    order; size = the category's time (sum of seconds[line]) when seconds is given, else its
    number of lines."""
    size = {c: sum(seconds[ln] for ln in v) if seconds else len(v) for c, v in by_category.items()}
    top = max(size.values())
    return [line for cat in sorted(by_category) for line in by_category[cat]
            * max(1, round(top / max(size[cat], 1e-9)))]


if __name__ == "__main__":
    main()
