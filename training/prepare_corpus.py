#!/usr/bin/env python3
"""Fetch and prepare the PercepNet training corpus (speech + noise), offline, from Debian.

    bash training/setup.sh                                     # venv in ~/.cache/pn-train
    ~/.cache/pn-train/venv/bin/python training/prepare_corpus.py [--out training/data/corpus]

Stages (all by default; `--stages` picks some, each is idempotent):
  fetch     `apt-get download` the .deb files listed below into CACHE/debs and unpack only their
            audio files with `dpkg-deb --fsys-tarfile | tar -x` into CACHE/pkgs/PKG (nothing is
            installed). 0ad-data keeps its audio inside public.zip: only audio/ is unzipped.
  speech    select the speech files allowed for training (select_speech and ../shared/DATA.md;
            everything held back for evaluation is excluded by rule and re-checked by held_back()),
            decode, mix to mono, resample to 48 kHz (soxr HQ), drop
            clipped files, trim leading/trailing silence, measure level and bandwidth,
            write OUT/speech/SOURCE/GROUP/ID.flac (24-bit) and OUT/parts/speech-SOURCE.csv.
  noise     the same for the noise packages (NOISE_PKGS, select_noise), cut into chunks of ~--chunk-s seconds
            (near-silent chunks dropped), OUT/noise/SOURCE/ID_cNNN.flac, OUT/parts/noise-SOURCE.csv.
  generated seeded synthetic noise: white, pink, brown, mains hum with harmonics, fan (filtered
            noise with blade-pass lines), babble (from speech of the same split only),
            OUT/noise/generated/*.flac, OUT/parts/noise-generated.csv.
  tts       (only with --tts) synthetic speech, see --tts.
  manifest  merge the parts into OUT/manifest.csv, assign the train/dev split, write OUT/summary.md.

manifest.csv columns: kind (speech|noise), path (relative to OUT), source (Debian package or
"generated"/"tts-ENGINE"), category (speech | music | ambience | effects | keyboard | desktop |
samples | white | pink | brown | hum | fan | babble), group (speaker/group id; for noise the
original file, so all chunks of a file share a split), language, duration_s, bandwidth_hz, e99_hz,
level_dbfs (active level: RMS of the 20 ms frames within 40 dB of the loudest), voiced_frac
(speech: share of 10 ms hops with a pitch-like autocorrelation peak), orig_sr, orig
(path inside the package, or the generator's parameters), split (train|dev).

Split: deterministic, by group. Within each source, groups are visited in sha1(source|group) order and put
into dev while dev stays <= 15 % of the source's duration, until it reaches --dev-frac (10 %);
groups larger than 15 % of their source never go to dev (so a source with one or two speakers,
gcin-voice, stays all train). Noise groups are original files, so a music track's chunks are never
split between train and dev. Generated noise: every 10th of the first --gen-count files of each type
(by index) is dev, and dev babble is built from dev speakers only; the --babble-extra files are train.

Bandwidth (bandwidth_hz): the long-term power spectrum (Welch, 2048-point Hann, 50 % overlap, over
the 20 ms frames within 40 dB of the loudest) is smoothed with a 250 Hz moving average; the
bandwidth is the highest frequency whose level is within --bw-db (50 dB) of the spectrum's median
level over 300 Hz-4 kHz, capped at the original Nyquist frequency: it finds the cliff of a codec or
resampler lowpass. e99_hz (99 % of the energy below) is kept for reference. training/README.md
says why the 99 %-energy and peak-relative rules were not used.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field, asdict
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

SR = 48000
HERE = Path(__file__).resolve().parent
AUDIO_EXT = (".ogg", ".oga", ".wav", ".flac", ".mp3", ".opus", ".aif", ".aiff")
TAR_PATTERNS = ["*.ogg", "*.oga", "*.wav", "*.flac", "*.mp3", "*.opus", "*.aif", "*.aiff",
                "*.OGG", "*.WAV", "*.FLAC", "*.MP3"]

# ----------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------

TUXPAINT_LANGS = ("ro", "es", "ru", "fr", "bg", "be", "ca")          # DATA.md: allowed for training
HEDGEWARS_HELD_BACK = {"British", "Default_uk", "Pirate", "Singer"}    # DATA.md: evaluation only
# megaglest units whose ack/select sounds are animal/machine noises, not voices
MEGAGLEST_NONVOICE = {"chicken", "sheep", "bull", "cow", "pig", "behemoth", "dragon", "evil_dragon",
                      "thunderbird", "battle_machine", "ornithopter", "golem", "daemon", "horse",
                      "elephant", "camel", "flying_carpet", "airship", "catapult", "ram", "ballista",
                      "rhino", "tiger", "bee", "scorpion", "wolf", "bear", "mammoth", "ent"}

SPEECH_PKGS = ["tuxpaint-stamps-default", "klettres-data", "ktuberling-data", "hedgewars-data",
               "gcin-voice", "megaglest-data", "fillets-ng-data-cs"]
NOISE_PKGS = ["0ad-data", "wesnoth-1.16-music", "wesnoth-1.16-data", "widelands-data",
              "supertux-data", "hedgewars-data", "supertuxkart-data", "freedroidrpg-data",
              "extremetuxracer-data", "redeclipse-data", "lincity-ng-data", "flightgear-data-base",
              "sonic-pi-samples", "bucklespring-data", "sound-theme-freedesktop", "yaru-theme-sound",
              "gnome-audio"]
# Never used for anything here (DATA.md: held back for evaluation). fillets-ng-data is the
# non-Czech package; warzone2100-music is the held-back music.
NEVER_PKGS = {"warzone2100-music", "fillets-ng-data"}

# Noise files whose content is (or may be) a voice: intelligible speech in the noise would teach
# the network to remove speech. Matched against the lower-cased path inside the package.
NOISE_VOCAL = re.compile(
    r"(voice|speech|announcer|comment|scream|laugh|groan|wail|grunt|/ugh|/ugg|human|female|"
    r"/elf-|dwarf|/orc-|troll|goblin|ogre|naga|mermaid|mermen|/lich-|witch|_pa\.|nolok|welldone|"
    r"excellent|checklist|mk-viii|/tcas/|flarm|audio-channel|/player/|robot|choir|vox|/titles/|"
    r"tux_ingame|/yeti_gna|/hurt\.|burp)")


@dataclass
class Item:
    kind: str          # speech | noise
    source: str        # package
    category: str
    group: str
    language: str
    src: Path          # absolute path of the original file
    orig: str          # path inside the package


def held_back(pkg: str, rel: str) -> bool:
    """True for anything DATA.md holds back for evaluation (defence in depth)."""
    r = rel.lower()
    if pkg in NEVER_PKGS:
        return True
    if pkg == "tuxpaint-stamps-default" and r.endswith(".ogg") and "_desc" in r:
        m = re.search(r"_desc(?:_([a-z@]+))?\.ogg$", r)
        return not (m and m.group(1) in TUXPAINT_LANGS)
    if pkg == "hedgewars-data":
        m = re.search(r"/voices/([^/]+)/", rel)
        if m and m.group(1) in HEDGEWARS_HELD_BACK:
            return True
    if pkg == "megaglest-data" and "/tilesets/" in r:
        return True
    return False


def _walk(root: Path):
    for dp, dn, fn in os.walk(root):
        dn.sort()
        for f in sorted(fn):
            if f.lower().endswith(AUDIO_EXT):
                p = Path(dp) / f
                yield p, p.relative_to(root).as_posix()


def select_speech(pkgs: Path) -> list[Item]:
    out: list[Item] = []

    def add(pkg, cat_group, lang, p, rel):
        assert not held_back(pkg, rel), (pkg, rel)
        out.append(Item("speech", pkg, "speech", cat_group, lang, p, rel))

    pkg = "tuxpaint-stamps-default"
    for p, rel in _walk(pkgs / pkg):
        m = re.search(r"_desc_([a-z]+)\.ogg$", rel)
        if m and m.group(1) in TUXPAINT_LANGS:
            add(pkg, f"tuxpaint-{m.group(1)}", m.group(1), p, rel)

    pkg = "klettres-data"
    for p, rel in _walk(pkgs / pkg):
        m = re.match(r"usr/share/klettres/([^/]+)/(alpha|syllab)/", rel)
        if m:
            lang = m.group(1)
            add(pkg, f"klettres-{lang}", lang.split("_")[0], p, rel)

    pkg = "ktuberling-data"
    for p, rel in _walk(pkgs / pkg):
        m = re.match(r"usr/share/ktuberling/sounds/([^/]+)/", rel)
        if m:
            lang = m.group(1).split("@")[0]       # sr, sr@latin, sr@ijekavian...: same recordings
            add(pkg, f"ktuberling-{lang}", lang, p, rel)

    pkg = "hedgewars-data"
    for p, rel in _walk(pkgs / pkg):
        m = re.match(r"usr/share/games/hedgewars/Data/Sounds/voices/([^/]+)/", rel)
        if m and m.group(1) not in HEDGEWARS_HELD_BACK:
            pack = m.group(1)
            lm = re.search(r"_([a-z]{2})$", pack)
            add(pkg, f"hedgewars-{pack}", lm.group(1) if lm else "en", p, rel)

    pkg = "gcin-voice"
    for p, rel in _walk(pkgs / pkg):
        m = re.match(r"usr/share/gcin-voice/ogg/[^/]+/(\d+)\.ogg$", rel)
        if m:
            add(pkg, f"gcin-{m.group(1)}", "zh", p, rel)

    pkg = "megaglest-data"
    for p, rel in _walk(pkgs / pkg):
        if "/tilesets/" in rel:
            continue
        m = re.match(r"usr/share/games/megaglest/techs/megapack/(?:factions/([^/]+)/units/([^/]+)|commondata)/sounds/"
                     r"(?:.*/)?([a-z_]+?)_(ack|select|sel)\d*[a-z]?\.(?:wav|ogg)$", rel)
        if not m:
            continue
        faction, unit, stem = m.group(1), m.group(2), m.group(3)
        if (unit or stem) in MEGAGLEST_NONVOICE or stem in MEGAGLEST_NONVOICE:
            continue
        add(pkg, f"megaglest-{faction or 'common'}", "en", p, rel)

    pkg = "fillets-ng-data-cs"
    for p, rel in _walk(pkgs / pkg):
        m = re.match(r"usr/share/games/fillets-ng/sound/([^/]+(?:/[^/]+)*)/cs/([^/]+)\.ogg$", rel)
        if not m:
            continue
        level, stem = m.group(1).replace("/", "_"), m.group(2)
        parts = stem.split("-")
        spk = parts[1] if len(parts) >= 3 else "x"
        # LEVEL-CODE-word.ogg: m = the small fish, v = the big fish; other letter codes (hs, pap,
        # b1, c, ...) are characters that recur across levels, so they are grouped across levels
        # too. Numeric codes and files without a code (x) are level-local characters.
        local = spk == "x" or spk.isdigit()
        group = f"fillets-{level}-{spk}" if local else f"fillets-{spk}"
        add(pkg, group, "cs", p, rel)
    return out


def select_noise(pkgs: Path) -> list[Item]:
    out: list[Item] = []
    rules: dict[str, list[tuple[str, str]]] = {   # pkg -> [(regex on rel, category)], first match wins
        "0ad-data": [(r"audio/music/", "music"), (r"audio/ambient/", "ambience"),
                     (r"audio/(attack|resource|actor|interface)/", "effects")],
        "wesnoth-1.16-music": [(r"/music/", "music")],
        "wesnoth-1.16-data": [(r"/sounds/ambient/", "ambience"), (r"/sounds/", "effects")],
        "widelands-data": [(r"data/music/", "music"), (r"data/(sound|world)/", "effects")],
        "supertux-data": [(r"supertux2/music/", "music"), (r"supertux2/sounds/", "effects")],
        "hedgewars-data": [(r"Data/Music/", "music"), (r"Data/Sounds/[^/]+$", "effects")],
        "supertuxkart-data": [(r"data/music/", "music"),
                              (r"tracks/[^/]+/(Battle_Theme|Gran_Paradiso|beneath_the_rabbit|intro2)", "music"),
                              (r"data/(sfx|tracks|library|karts)/", "effects")],
        "freedroidrpg-data": [(r"sound/music/", "music"), (r"sound/effects/", "effects")],
        "extremetuxracer-data": [(r"etr/music/", "music"), (r"etr/sounds/", "effects")],
        "redeclipse-data": [(r"sounds/music/", "music"), (r"sounds/(theme|theme_chip|original)\.ogg$", "music"),
                            (r"sounds/ambience/", "ambience"), (r"sounds/(sfx|weapons|interface)/", "effects")],
        "lincity-ng-data": [(r"lincity-ng/sounds/", "ambience")],
        "flightgear-data-base": [(r"Sounds/intro\.mp3$", "music"), (r"(Sounds|Aircraft)/", "effects")],
        "sonic-pi-samples": [(r"sonic-pi/samples/", "samples")],
        "bucklespring-data": [(r"buckle/wav/", "keyboard")],
        "sound-theme-freedesktop": [(r"sounds/", "desktop")],
        "yaru-theme-sound": [(r"sounds/", "desktop")],
        "gnome-audio": [(r"sounds/", "desktop")],
    }
    for pkg in NOISE_PKGS:
        for p, rel in _walk(pkgs / pkg):
            if held_back(pkg, rel) or NOISE_VOCAL.search(rel.lower()):
                continue
            for rx, cat in rules[pkg]:
                if re.search(rx, rel):
                    out.append(Item("noise", pkg, cat, f"{pkg}:{rel}", "", p, rel))
                    break
    return out


# ----------------------------------------------------------------------------------------------
# Fetch
# ----------------------------------------------------------------------------------------------

def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def fetch(cache: Path, pkgs: list[str], keep_debs: bool = True) -> None:
    debs, root = cache / "debs", cache / "pkgs"
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for pkg in pkgs:
        assert pkg not in NEVER_PKGS, pkg
        dest = root / pkg
        if (dest / ".done").exists():
            continue
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            try:
                run(["apt-get", "download", pkg], cwd=debs, stdout=subprocess.DEVNULL)
            except subprocess.CalledProcessError:
                sys.exit(f"prepare_corpus: apt-get download {pkg} failed (run `apt-get update` once)")
            have = sorted(debs.glob(f"{pkg}_*.deb"))
        deb = have[-1]
        dest.mkdir(parents=True, exist_ok=True)
        pats = ["*/public.zip"] if pkg == "0ad-data" else TAR_PATTERNS
        # dpkg-deb | tar with wildcards: only audio files leave the archive (no install, no scripts)
        tar = subprocess.Popen(["tar", "-x", "-C", str(dest), "--wildcards", *pats],
                               stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=tar.stdin)
        tar.stdin.close()
        err = [l for l in tar.stderr.read().splitlines()   # patterns that match nothing are fine
               if "Not found in archive" not in l and "Exiting with failure status" not in l]
        if tar.wait() not in (0, 2) or err:
            sys.exit(f"prepare_corpus: tar failed for {deb}: {err}")
        if pkg == "0ad-data":
            zp = next(dest.rglob("public.zip"))
            with zipfile.ZipFile(zp) as z:
                for n in z.namelist():
                    if n.startswith("audio/") and n.lower().endswith(AUDIO_EXT) and not n.startswith("audio/voice/"):
                        z.extract(n, dest / "public")
            zp.unlink()
        (dest / ".done").write_text(deb.name + "\n")
        if not keep_debs:
            deb.unlink()


# ----------------------------------------------------------------------------------------------
# Signal analysis
# ----------------------------------------------------------------------------------------------

def db(x, floor=1e-20):
    return 10 * np.log10(np.maximum(x, floor))


def load(path: Path) -> tuple[np.ndarray, int]:
    """-> (samples x channels float64, rate)."""
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    return x, sr


def to_mono(x: np.ndarray) -> np.ndarray:
    """Channel mean; the first channel when the mean cancels (out-of-phase channels)."""
    if x.shape[1] == 1:
        return x[:, 0]
    m = x.mean(axis=1)
    if np.mean(m**2) < 0.1 * np.mean(x**2):
        return x[:, 0]
    return m


def to48(y: np.ndarray, sr: int) -> np.ndarray:
    return soxr.resample(y, sr, SR, quality="HQ") if sr != SR else y


def clip_stats(x: np.ndarray) -> tuple[float, float]:
    """(peak, q) on the original channels; q = #samples >= 0.85 peak / #samples >= 0.5 peak.

    A clipped recording piles samples up at its peak: a flat top in PCM, a flat top with
    +-10 % ringing once Vorbis-coded (so counting samples *at* the peak, or runs of them, misses
    Vorbis-coded clipping). Measured on this corpus: q is below 0.2 for 99 % of the files that
    peak under 0.7 (which cannot be digitally clipped), while files peaking at full scale have a
    tail up to 0.6. See is_clipped."""
    a = np.abs(x).max(axis=1)
    pk = float(a.max()) if a.size else 0.0
    if pk <= 0:
        return 0.0, 0.0
    return pk, float(np.count_nonzero(a >= 0.85 * pk) / max(np.count_nonzero(a >= 0.5 * pk), 1))


def is_clipped(pk: float, q: float) -> bool:
    return (pk >= 0.9 and q >= 0.2) or q >= 0.35


def frame_db(y: np.ndarray, n: int) -> np.ndarray:
    m = len(y) // n
    if m == 0:
        return np.array([db(np.mean(y**2))]) if len(y) else np.array([-200.0])
    return db(np.mean(y[: m * n].reshape(m, n) ** 2, axis=1))


def trim(y: np.ndarray, rel_db: float = 45.0, abs_db: float = -65.0, margin_s: float = 0.1):
    """Cut leading/trailing frames (10 ms) quieter than max(loudest - rel_db, abs_db) dBFS."""
    n = SR // 100
    e = frame_db(y, n)
    thr = max(e.max() - rel_db, abs_db)
    act = np.flatnonzero(e > thr)
    if act.size == 0:
        return y[:0]
    m = int(margin_s * SR)
    a = max(0, act[0] * n - m)
    b = min(len(y), (act[-1] + 1) * n + m)
    return y[a:b]


def active_level(y: np.ndarray) -> tuple[float, np.ndarray]:
    """RMS (dBFS) of the 20 ms frames within 40 dB of the loudest; also the active-frame mask."""
    n = SR // 50
    e = frame_db(y, n)
    mask = e > e.max() - 40
    lin = 10 ** (e[mask] / 10)
    return float(db(lin.mean())), mask


def spectrum_db(y: np.ndarray, mask_20ms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Long-term power spectrum (dB) of the active part, Welch 2048 Hann, 50 % overlap."""
    if mask_20ms is not None and mask_20ms.size > 1:
        n = SR // 50
        idx = np.flatnonzero(mask_20ms)
        y = np.concatenate([y[i * n:(i + 1) * n] for i in idx]) if idx.size else y
    nper = 2048 if len(y) >= 2048 else max(256, 1 << int(np.log2(max(len(y), 256))))
    if len(y) < nper:
        y = np.pad(y, (0, nper - len(y)))
    f, p = signal.welch(y, SR, window="hann", nperseg=nper, noverlap=nper // 2, detrend=False)
    return f, db(p)


def smooth_linear(f: np.ndarray, pdb: np.ndarray, width_hz: float = 250.0) -> np.ndarray:
    """Moving average of a power spectrum over width_hz (in power), returned in dB."""
    p = 10 ** (pdb / 10)
    k = max(1, int(round(width_hz / (f[1] - f[0]))))
    return db(np.convolve(p, np.ones(k) / k, mode="same"))


def bandwidth(y: np.ndarray, orig_sr: int, mask=None, drop_db: float = 50.0) -> tuple[float, float]:
    """-> (bandwidth_hz, e99_hz).

    bandwidth_hz: the highest frequency at which the long-term spectrum (250 Hz moving average)
    is within drop_db of its median level over 300 Hz - 4 kHz (the body of the speech spectrum),
    capped at the original Nyquist frequency. A codec or resampler lowpass is a cliff of 60-120 dB,
    natural high-frequency rolloff is not, so this finds the cliff without mistaking weak but
    real highs (fricatives at -70 dB from the spectral peak) for missing ones.
    e99_hz: the frequency under which 99 % of the long-term energy lies (for reference only)."""
    f, pdb = spectrum_db(y, mask)
    s = smooth_linear(f, pdb)
    body = (f >= 300) & (f <= 4000)
    ref = float(np.median(s[body]))
    ok = np.flatnonzero((s >= ref - drop_db) & (f <= orig_sr / 2))
    bw = float(min(f[ok[-1]], orig_sr / 2)) if ok.size else 0.0
    p = 10 ** (pdb / 10)
    c = np.cumsum(p)
    e99 = float(f[int(np.searchsorted(c, 0.99 * c[-1]))])
    return bw, e99


def voiced_fraction(y: np.ndarray) -> float:
    """Share of 10 ms hops (40 ms windows at 16 kHz) with a normalised autocorrelation peak > 0.6
    at a lag of 2.5-16.7 ms (60-400 Hz), among hops within 35 dB of the loudest."""
    z = soxr.resample(y, SR, 16000, quality="HQ") if len(y) else y
    n, hop = 640, 160
    if len(z) < n:
        return 0.0
    fr = np.lib.stride_tricks.sliding_window_view(z, n)[::hop]
    fr = fr - fr.mean(axis=1, keepdims=True)
    e = np.sum(fr**2, axis=1)
    act = e > e.max() * 10 ** (-3.5)
    if not act.any():
        return 0.0
    F = np.fft.rfft(fr[act], 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(F) ** 2, axis=1)[:, :n]
    # unbiased normalisation against the window-overlap taper
    ac = ac / np.maximum(ac[:, :1], 1e-20) / (1 - np.arange(n) / n)
    best = ac[:, 40:267].max(axis=1)
    return float(np.count_nonzero(best > 0.6) / len(e))


# ----------------------------------------------------------------------------------------------
# Per-file processing
# ----------------------------------------------------------------------------------------------

FIELDS = ["kind", "path", "source", "category", "group", "language", "duration_s", "bandwidth_hz",
          "e99_hz", "level_dbfs", "voiced_frac", "orig_sr", "orig", "split"]
DROP_FIELDS = ["kind", "source", "orig", "reason"]


def safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:60] or "x"


def short_hash(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()[:8]


def write_flac(path: Path, y: np.ndarray) -> None:
    """24-bit FLAC (lossless for our purposes; float WAV would be 2.5x larger). Peaks are kept
    below full scale by scaling the whole file down if needed (never clipping)."""
    pk = float(np.max(np.abs(y))) if len(y) else 0.0
    if pk > 0.999:
        y = y * (0.999 / pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.flac")
    sf.write(str(tmp), y.astype(np.float32), SR, subtype="PCM_24", format="FLAC")
    os.replace(tmp, path)


def process_speech(it: Item, out: Path, args) -> tuple[dict | None, str]:
    x, sr = load(it.src)
    if x.shape[0] == 0:
        return None, "empty"
    pk, q = clip_stats(x)
    if is_clipped(pk, q):
        return None, f"clipped (peak {pk:.3f}, q {q:.2f})"
    y = trim(to48(to_mono(x), sr))
    if len(y) < 0.25 * SR:
        return None, "shorter than 0.25 s after trimming"
    lvl, mask = active_level(y)
    if lvl < -60:
        return None, f"silent ({lvl:.0f} dBFS)"
    vf = voiced_fraction(y)
    if vf < args.min_voiced:
        return None, f"unvoiced (voiced fraction {vf:.2f})"
    bw, e99 = bandwidth(y, sr, mask, args.bw_db)
    rel = Path("speech") / it.source / safe_name(it.group) / f"{short_hash(it.orig)}_{safe_name(Path(it.orig).stem)}.flac"
    write_flac(out / rel, y)
    return dict(kind="speech", path=rel.as_posix(), source=it.source, category="speech", group=it.group,
                language=it.language, duration_s=f"{len(y) / SR:.3f}", bandwidth_hz=f"{bw:.0f}",
                e99_hz=f"{e99:.0f}", level_dbfs=f"{lvl:.1f}", voiced_frac=f"{vf:.2f}", orig_sr=sr,
                orig=it.orig, split=""), ""


def process_noise(it: Item, out: Path, args) -> tuple[list[dict], str]:
    x, sr = load(it.src)
    if x.shape[0] == 0:
        return [], "empty"
    y = to48(to_mono(x), sr)
    y = trim(y, rel_db=200.0, abs_db=-80.0, margin_s=0.02)   # digital silence only
    if len(y) < 0.1 * SR:
        return [], "shorter than 0.1 s"
    n = max(1, int(round(len(y) / (args.chunk_s * SR))))
    edges = np.linspace(0, len(y), n + 1).astype(int)
    rows = []
    base = Path("noise") / it.source / f"{short_hash(it.orig)}_{safe_name(Path(it.orig).stem)}"
    for k in range(n):
        c = y[edges[k]:edges[k + 1]]
        e = frame_db(c, SR // 100)
        if db(np.mean(c**2)) < -70 or np.mean(e < -80) > 0.5:
            continue                                # near-silent chunk (fade, pause)
        lvl, mask = active_level(c)
        bw, e99 = bandwidth(c, sr, None, args.bw_db)
        rel = base.with_name(base.name + (f"_c{k:03d}" if n > 1 else "") + ".flac")
        write_flac(out / rel, c)
        rows.append(dict(kind="noise", path=rel.as_posix(), source=it.source, category=it.category,
                         group=it.group, language="", duration_s=f"{len(c) / SR:.3f}",
                         bandwidth_hz=f"{bw:.0f}", e99_hz=f"{e99:.0f}", level_dbfs=f"{lvl:.1f}",
                         voiced_frac="", orig_sr=sr, orig=it.orig, split=""))
    return rows, "" if rows else "silent"


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_stage(kind: str, items: list[Item], out: Path, args) -> None:
    by: dict[str, list[Item]] = {}
    for it in items:
        by.setdefault(it.source, []).append(it)
    for source, its in by.items():
        if args.sources and source not in args.sources:
            continue
        if args.limit:
            its = its[:: max(1, len(its) // args.limit)][: args.limit]
        rows, drops, t0 = [], [], time.time()
        for j, it in enumerate(its):
            try:
                if kind == "speech":
                    r, why = process_speech(it, out, args)
                    r = [r] if r else []
                else:
                    r, why = process_noise(it, out, args)
            except Exception as e:   # a broken file must not stop the corpus build
                r, why = [], f"error: {type(e).__name__}: {e}"
            rows += r
            if why:
                drops.append(dict(kind=kind, source=source, orig=it.orig, reason=why))
            if (j + 1) % 500 == 0:
                print(f"  {source}: {j + 1}/{len(its)} files, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
        write_csv(out / "parts" / f"{kind}-{source}.csv", rows, FIELDS)
        write_csv(out / "parts" / f"dropped-{kind}-{source}.csv", drops, DROP_FIELDS)
        h = sum(float(r["duration_s"]) for r in rows) / 3600
        print(f"[{kind}] {source}: {len(its)} files -> {len(rows)} kept ({h:.2f} h), {len(drops)} dropped, "
              f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Split
# ----------------------------------------------------------------------------------------------

def assign_split(rows: list[dict], dev_frac: float, cap: float = 1.5) -> None:
    """Deterministic group-wise dev split, per source (see the module docstring)."""
    by: dict[str, dict[str, float]] = {}
    for r in rows:
        g = by.setdefault(r["source"], {})
        g[r["group"]] = g.get(r["group"], 0.0) + float(r["duration_s"])
    dev: set[tuple[str, str]] = set()
    for source, groups in by.items():
        total = sum(groups.values())
        acc = 0.0
        for g in sorted(groups, key=lambda g: hashlib.sha1(f"{source}|{g}".encode()).hexdigest()):
            if acc >= dev_frac * total:
                break
            if acc + groups[g] <= cap * dev_frac * total:
                dev.add((source, g))
                acc += groups[g]
    for r in rows:
        if not r.get("split"):
            r["split"] = "dev" if (r["source"], r["group"]) in dev else "train"


# ----------------------------------------------------------------------------------------------
# Generated noise
# ----------------------------------------------------------------------------------------------

def colored(rng, n: int, exponent: float, f_lo: float = 20.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent above f_lo."""
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    g = np.zeros_like(f)
    g[f >= f_lo] = f[f >= f_lo] ** (-exponent / 2)
    return np.fft.irfft(X * g, n)


def slow_wobble(rng, n: int, depth: float, rate_hz: float) -> np.ndarray:
    """Smooth random modulation 1 + depth * lowpass noise (unit std), cut-off rate_hz."""
    k = max(2, int(n * rate_hz / SR) + 2)
    ctrl = rng.standard_normal(k)
    m = np.interp(np.linspace(0, k - 1, n), np.arange(k), ctrl)
    return 1 + depth * m / (np.std(m) + 1e-12)


def gen_hum(rng, n: int) -> tuple[np.ndarray, str]:
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.004, 0.004))
    t = np.arange(n) / SR
    drift = np.cumsum(slow_wobble(rng, n, 0.0005, 0.2) - 1) / SR      # slow frequency drift
    kmax = int(min(8000, rng.uniform(1500, 8000)) // f0)
    alpha = rng.uniform(0.5, 2.0)                                      # harmonic rolloff
    odd = rng.uniform(1.0, 4.0)                                        # odd-harmonic emphasis (buzz)
    y = np.zeros(n)
    for k in range(1, kmax + 1):
        a = k ** -alpha * (odd if k % 2 else 1.0) * rng.lognormal(0, 0.5)
        y += a * np.sin(2 * np.pi * k * f0 * (t + drift) + rng.uniform(0, 2 * np.pi))
    y /= np.std(y) + 1e-12
    floor = colored(rng, n, 1.0)
    y += floor / (np.std(floor) + 1e-12) * 10 ** (rng.uniform(-40, -15) / 20)
    return y, f"hum f0={f0:.2f} harmonics={kmax} alpha={alpha:.2f} odd={odd:.2f}"


def gen_fan(rng, n: int) -> tuple[np.ndarray, str]:
    base = colored(rng, n, rng.uniform(0.0, 1.5))
    fc = rng.uniform(300, 4000)
    b, a = signal.butter(2, fc / (SR / 2), "low")
    y = signal.lfilter(b, a, base)
    # one or two broad resonances (housing/duct)
    for _ in range(int(rng.integers(1, 3))):
        f = rng.uniform(150, 3000)
        b, a = signal.iirpeak(f / (SR / 2), rng.uniform(1.0, 6.0))
        y = y + rng.uniform(0.5, 2.0) * signal.lfilter(b, a, base)
    y = y / (np.std(y) + 1e-12) * slow_wobble(rng, n, 0.05, 0.5)
    # blade-pass tone with harmonics + faint motor whine
    t = np.arange(n) / SR
    fb = rng.uniform(40, 300)
    tones = np.zeros(n)
    for k in range(1, 6):
        tones += k ** -1.0 * np.sin(2 * np.pi * k * fb * t + rng.uniform(0, 2 * np.pi))
    tones *= slow_wobble(rng, n, 0.2, 2.0)
    y += tones / (np.std(tones) + 1e-12) * 10 ** (rng.uniform(-20, -3) / 20)
    fw = rng.uniform(500, 4000)
    y += np.sin(2 * np.pi * fw * t) * 10 ** (rng.uniform(-45, -20) / 20)
    return y, f"fan lowpass={fc:.0f} blade={fb:.1f} whine={fw:.0f}"


def gen_babble(rng, n: int, clips: list[tuple[str, str]], out: Path) -> tuple[np.ndarray, str]:
    """clips: (path, group) of speech of one split. Talkers are distinct groups where possible."""
    talkers = int(rng.integers(4, 11))
    groups = sorted({g for _, g in clips})
    pick = [groups[i] for i in rng.permutation(len(groups))[:talkers]]
    by = {g: [p for p, gg in clips if gg == g] for g in pick}
    y = np.zeros(n)
    for g in pick:
        stream, total = [], 0
        while total < n:
            p = by[g][int(rng.integers(len(by[g])))]
            c, _ = sf.read(str(out / p), dtype="float64")
            lvl, _ = active_level(c)
            c = c * 10 ** ((-26 + rng.uniform(-4, 4) - lvl) / 20)
            gap = np.zeros(int(rng.uniform(0.05, 0.4) * SR))
            stream += [c, gap]
            total += len(c) + len(gap)
        y += np.roll(np.concatenate(stream)[:n], int(rng.integers(n)))
    return y, f"babble talkers={len(pick)}"


def generate(out: Path, args) -> None:
    parts = out / "parts"
    speech = [r for f in sorted(parts.glob("speech-*.csv")) for r in read_csv(f)]
    if not speech:
        sys.exit("prepare_corpus: the generated stage needs the speech stage (babble)")
    assign_split(speech, args.dev_frac)
    pool = {s: [(r["path"], r["group"]) for r in speech if r["split"] == s and float(r["duration_s"]) >= 0.5]
            for s in ("train", "dev")}
    n = int(args.gen_seconds * SR)
    rows = []
    kinds = ["white", "pink", "brown", "hum", "fan", "babble"]
    for kind in kinds:
        # the extra babble files (indices after --gen-count) are all train: babble of 4-10
        # talkers is a common noise that 20 files of 30 s barely cover
        count = args.gen_count + (args.babble_extra if kind == "babble" else 0)
        for i in range(count):
            split = "dev" if i % 10 == 0 and i < args.gen_count else "train"
            rng = np.random.default_rng([args.seed, kinds.index(kind), i])
            if kind == "white":
                y, desc = rng.standard_normal(n), "white"
            elif kind == "pink":
                y, desc = colored(rng, n, 1.0), "pink 1/f"
            elif kind == "brown":
                y, desc = colored(rng, n, 2.0), "brown 1/f^2 above 20 Hz"
            elif kind == "hum":
                y, desc = gen_hum(rng, n)
            elif kind == "fan":
                y, desc = gen_fan(rng, n)
            else:
                y, desc = gen_babble(rng, n, pool[split], out)
            y = y / (np.sqrt(np.mean(y**2)) + 1e-12) * 10 ** (args.gen_level / 20)
            rel = Path("noise") / "generated" / kind / f"{kind}_{i:03d}.flac"
            write_flac(out / rel, y)
            lvl, mask = active_level(y)
            bw, e99 = bandwidth(y, SR, None, args.bw_db)
            rows.append(dict(kind="noise", path=rel.as_posix(), source="generated", category=kind,
                             group=f"generated:{kind}_{i:03d}", language="", duration_s=f"{n / SR:.3f}",
                             bandwidth_hz=f"{bw:.0f}", e99_hz=f"{e99:.0f}", level_dbfs=f"{lvl:.1f}",
                             voiced_frac="", orig_sr=SR, orig=f"{desc} seed=[{args.seed},{kinds.index(kind)},{i}]",
                             split=split))
        print(f"[generated] {kind}: {count} x {args.gen_seconds:.0f} s", file=sys.stderr, flush=True)
    write_csv(parts / "noise-generated.csv", rows, FIELDS)


def tts_mei(out: Path, args) -> None:
    """Synthetic fullband speech (training/tts_mei.py): `--tts-voices` voices, utterances of
    4-10 s, `--tts-hours` in all, processed like recorded speech (trim, level, bandwidth,
    voiced fraction) into speech/tts-mei/<voice>/ and parts/tts-mei.csv."""
    import tts_mei as tm

    rng = np.random.default_rng([args.seed, 7001])
    vs = tm.voices(args.tts_voices, args.seed)
    per_voice = args.tts_hours * 3600 / len(vs)
    rows, t0 = [], time.time()
    for v, (ht, sp) in enumerate(vs):
        group, made, k = f"mei-v{v:02d}", 0.0, 0
        while made < per_voice:
            y, sr = tm.utterance(rng, ht, sp, float(rng.uniform(4.0, 10.0)))
            y = trim(y)
            lvl, mask = active_level(y)
            bw, e99 = bandwidth(y, sr, mask, args.bw_db)
            vf = voiced_fraction(y)
            rel = Path("speech") / "tts-mei" / group / f"{group}_{k:04d}.flac"
            write_flac(out / rel, y * 10 ** ((-26.0 - lvl) / 20))
            rows.append(dict(kind="speech", path=rel.as_posix(), source="tts-mei", category="speech",
                             group=group, language="ja", duration_s=f"{len(y) / SR:.3f}",
                             bandwidth_hz=f"{bw:.0f}", e99_hz=f"{e99:.0f}", level_dbfs="-26.0",
                             voiced_frac=f"{vf:.2f}", orig_sr=sr,
                             orig=f"pyopenjtalk mei half_tone={ht:.2f} speed={sp:.2f} seed={args.seed}",
                             split=""))
            made += len(y) / SR
            k += 1
        print(f"  [tts] {group}: half_tone {ht:+.1f} speed {sp:.2f}: {k} utterances, "
              f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    write_csv(out / "parts" / "tts-mei.csv", rows, FIELDS)
    h = sum(float(r["duration_s"]) for r in rows) / 3600
    print(f"[tts] mei: {len(rows)} utterances ({h:.2f} h), {time.time() - t0:.0f} s", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Manifest + summary
# ----------------------------------------------------------------------------------------------

BW_BINS = [0, 4000, 8000, 12000, 16000, 20000, 1e9]
BW_LABELS = ["<4k", "4-8k", "8-12k", "12-16k", "16-20k", ">=20k"]


def make_manifest(out: Path, args) -> str:
    parts = out / "parts"
    rows = [r for f in sorted(parts.glob("speech-*.csv")) for r in read_csv(f)]
    assign_split(rows, args.dev_frac)
    noise = [r for f in sorted(parts.glob("noise-*.csv")) if f.name != "noise-generated.csv" for r in read_csv(f)]
    assign_split(noise, args.dev_frac)
    gen = read_csv(parts / "noise-generated.csv") if (parts / "noise-generated.csv").exists() else []
    tts = [r for f in sorted(parts.glob("tts-*.csv")) for r in read_csv(f)]
    assign_split(tts, args.dev_frac)
    allrows = sorted(rows + tts, key=lambda r: r["path"]) + sorted(noise + gen, key=lambda r: r["path"])
    for r in allrows:   # held-back material must never appear, whatever the stages did
        assert not held_back(r["source"], r["orig"]), r
    write_csv(out / "manifest.csv", allrows, FIELDS)
    drops = [r for f in sorted(parts.glob("dropped-*.csv")) for r in read_csv(f)]
    md = summary(allrows, drops)
    (out / "summary.md").write_text(md)
    return md


def summary(rows: list[dict], drops: list[dict]) -> str:
    def h(rs):
        return sum(float(r["duration_s"]) for r in rs) / 3600

    L = []
    for kind in ("speech", "noise"):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        L += [f"## {kind}: {h(rs):.2f} h in {len(rs)} files "
              f"(train {h([r for r in rs if r['split'] == 'train']):.2f} h, dev {h([r for r in rs if r['split'] == 'dev']):.2f} h)", ""]
        key = "source" if kind == "speech" else "category"
        L += [f"| {key} | files | hours | train h | dev h | groups (dev) | dropped | median bw kHz | " + " | ".join(BW_LABELS) + " |",
              "|---" * (8 + len(BW_LABELS)) + "|"]
        keys = sorted({r[key] for r in rs}, key=lambda k: -h([r for r in rs if r[key] == k]))
        for k in keys:
            sub = [r for r in rs if r[key] == k]
            bw = np.array([float(r["bandwidth_hz"]) for r in sub])
            d = np.array([float(r["duration_s"]) for r in sub])
            hist = [d[(bw >= lo) & (bw < hi)].sum() / d.sum() * 100 for lo, hi in zip(BW_BINS[:-1], BW_BINS[1:])]
            groups = {r["group"] for r in sub}
            dgroups = {r["group"] for r in sub if r["split"] == "dev"}
            nd = sum(1 for x in drops if x["kind"] == kind and (x["source"] == k if key == "source" else False))
            L.append(f"| {k} | {len(sub)} | {h(sub):.2f} | {h([r for r in sub if r['split'] == 'train']):.2f} | "
                     f"{h([r for r in sub if r['split'] == 'dev']):.2f} | {len(groups)} ({len(dgroups)}) | "
                     f"{nd if key == 'source' else ''} | {np.median(bw) / 1000:.1f} | " + " | ".join(f"{x:.0f}%" for x in hist) + " |")
        L.append("")
        if kind == "noise":
            L += ["| noise source | files | hours | train h | dev h |", "|---|---|---|---|---|"]
            for k in sorted({r["source"] for r in rs}, key=lambda k: -h([r for r in rs if r["source"] == k])):
                sub = [r for r in rs if r["source"] == k]
                L.append(f"| {k} | {len(sub)} | {h(sub):.2f} | {h([r for r in sub if r['split'] == 'train']):.2f} | "
                         f"{h([r for r in sub if r['split'] == 'dev']):.2f} |")
            L.append("")
    if drops:
        L += ["## dropped files", "", "| kind | source | reason | files |", "|---|---|---|---|"]
        c: dict[tuple, int] = {}
        for x in drops:
            k = (x["kind"], x["source"], re.sub(r"\s*\(.*", "", x["reason"]).split(":")[0])
            c[k] = c.get(k, 0) + 1
        L += [f"| {k[0]} | {k[1]} | {k[2]} | {v} |" for k, v in sorted(c.items())]
        L.append("")
    L += ["Bandwidth columns: share of each row's hours whose measured bandwidth falls in the range.", ""]
    return "\n".join(L)


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("PN_TRAIN_CACHE", Path.home() / ".cache/pn-train")),
                    help="debs and unpacked packages (default ~/.cache/pn-train, or $PN_TRAIN_CACHE)")
    ap.add_argument("--out", type=Path, default=HERE / "data" / "corpus", help="corpus dir (default training/data/corpus)")
    ap.add_argument("--stages", default="fetch,speech,noise,generated,manifest",
                    help="comma list of fetch,speech,noise,generated,tts,manifest")
    ap.add_argument("--sources", default="", help="comma list of packages to (re)process in speech/noise (default all)")
    ap.add_argument("--limit", type=int, default=0, help="at most N files per source (quick test)")
    ap.add_argument("--prune-debs", action="store_true", help="delete each .deb once unpacked")
    ap.add_argument("--chunk-s", type=float, default=30.0, help="noise chunk length, seconds")
    ap.add_argument("--dev-frac", type=float, default=0.10, help="dev share of each source's hours")
    ap.add_argument("--bw-db", type=float, default=50.0, help="bandwidth: drop below the speech-body level, dB")
    ap.add_argument("--min-voiced", type=float, default=0.05, help="drop speech files with a smaller voiced fraction")
    ap.add_argument("--gen-count", type=int, default=20, help="generated noise files per type")
    ap.add_argument("--babble-extra", type=int, default=80,
                    help="babble files beyond --gen-count, all from training speakers (train split)")
    ap.add_argument("--gen-seconds", type=float, default=30.0)
    ap.add_argument("--gen-level", type=float, default=-25.0, help="RMS of generated noise, dBFS")
    ap.add_argument("--seed", type=int, default=20251125)
    ap.add_argument("--tts", default="", help="comma list of TTS engines to add synthetic speech "
                    "(implemented: mei); implies the tts stage")
    ap.add_argument("--tts-hours", type=float, default=1.5, help="hours of speech per TTS engine")
    ap.add_argument("--tts-voices", type=int, default=24, help="voices (split groups) per TTS engine")
    args = ap.parse_args(argv)
    args.sources = set(filter(None, args.sources.split(",")))
    stages = set(args.stages.split(","))
    if args.tts:
        stages.add("tts")
    args.out.mkdir(parents=True, exist_ok=True)
    pkgs = args.cache / "pkgs"
    t0 = time.time()
    if "fetch" in stages:
        want = [p for p in dict.fromkeys(SPEECH_PKGS + NOISE_PKGS) if not args.sources or p in args.sources]
        fetch(args.cache, want, keep_debs=not args.prune_debs)
    if "speech" in stages:
        run_stage("speech", select_speech(pkgs), args.out, args)
    if "noise" in stages:
        run_stage("noise", select_noise(pkgs), args.out, args)
    if "generated" in stages:
        generate(args.out, args)
    if "tts" in stages:
        for engine in filter(None, (args.tts or "mei").split(",")):
            if engine != "mei":
                sys.exit(f"prepare_corpus: TTS engine {engine!r} is not implemented (only mei)")
            tts_mei(args.out, args)
    if "manifest" in stages:
        print(make_manifest(args.out, args))
    print(f"prepare_corpus: done in {time.time() - t0:.0f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
