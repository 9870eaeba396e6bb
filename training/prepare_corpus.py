#!/usr/bin/env python3
"""Fetch and prepare the PercepNet training corpus (speech + noise), offline, from Debian.

    bash training/setup.sh                                     # venv in ~/.cache/pn-train
    ~/.cache/pn-train/venv/bin/python training/prepare_corpus.py [--out training/data/corpus]

Stages (`--stages`, each idempotent; training/README.md has the details and the measurements):
  fetch     `apt-get download` the packages below into CACHE/debs, unpack only their audio files
            (`dpkg-deb --fsys-tarfile | tar -x`, nothing installed); 0ad-data: audio/ of public.zip.
  speech    select the speech allowed for training (everything held back for evaluation is excluded
            by rule and re-checked by held_back()), decode, mono, 48 kHz (soxr HQ), drop clipped
            files, trim silence, measure level/bandwidth/voicing -> OUT/speech/SOURCE/GROUP/*.flac.
  noise     the same for NOISE_PKGS, cut into ~--chunk-s chunks -> OUT/noise/SOURCE/*.flac.
  generated white, pink, brown, hum, fan, babble (noisegen.py's older generators + babble).
  synth     procedural noise of 15 generators (noisegen.py, SYNTH_HOURS) -> OUT/noise/synth/CAT/.
  tts       synthetic speech (--tts mei,piper,festival,espeak[,kokoro]; tts_corpus.py).
  manifest  merge OUT/parts/*.csv, re-categorise recorded noise by path (RECAT), cap music
            (--music-frac), assign the split, write OUT/manifest.csv and OUT/summary.md.

manifest.csv columns: kind (speech|noise), path (relative to OUT), source (package, "generated",
"synth" or "tts-ENGINE"), category (speech, or the noise category: music ambience effects rain
wind water birds insects fire traffic babble office kitchen fan hum clicks roomtone white pink
brown), group (speaker/voice; for noise the original file), language, duration_s, bandwidth_hz,
e99_hz, level_dbfs (RMS of the 20 ms frames within 40 dB of the loudest), voiced_frac, orig_sr,
orig (path inside the package, or the generator's parameters), split (train|dev).

Split: by group. Within each source, groups in sha1(source|group) order go to dev while dev stays
<= 15 % of the source's duration, until it reaches --dev-frac (10 %). Noise groups are original
files (a track's chunks never straddle). Generated/synth files carry their split (disjoint seeds;
dev babble from dev speakers only).

Bandwidth (bandwidth_hz): the highest frequency whose smoothed long-term level (Welch 2048, 250 Hz
moving average, active frames) is within --bw-db (50 dB) of the median level over 300 Hz-4 kHz,
capped at the original Nyquist: it finds a codec/resampler cliff. e99_hz is kept for reference.
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

from noisegen import colored, gen_fan, gen_hum   # noqa: F401  (the `generated` stage's generators)

SR = 48000
HERE = Path(__file__).resolve().parent
AUDIO_EXT = (".ogg", ".oga", ".wav", ".flac", ".mp3", ".opus", ".aif", ".aiff")
TAR_PATTERNS = ["*.ogg", "*.oga", "*.wav", "*.flac", "*.mp3", "*.opus", "*.aif", "*.aiff",
                "*.OGG", "*.WAV", "*.FLAC", "*.MP3"]

# ---- Sources ---------------------------------------------------------------------------------

TUXPAINT_LANGS = ("ro", "es", "ru", "fr", "bg", "be", "ca")          # docs/DATA.md: allowed for training
HEDGEWARS_HELD_BACK = {"British", "Default_uk", "Pirate", "Singer"}    # docs/DATA.md: evaluation only
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
# Never used for anything here (docs/DATA.md: held back for evaluation). fillets-ng-data is the
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
    """True for anything docs/DATA.md holds back for evaluation (defence in depth)."""
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


# ---- Fetch -----------------------------------------------------------------------------------

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


# ---- Signal analysis -------------------------------------------------------------------------

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
    """(peak, q) on the original channels; q = #samples >= 0.85 peak / #samples >= 0.5 peak:
    clipping piles samples up near the peak, also once Vorbis rings around a flat top
    (training/README.md, "Clipping")."""
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
    """-> (bandwidth_hz, e99_hz). bandwidth_hz: the highest frequency at which the long-term
    spectrum (250 Hz moving average) is within drop_db of its median level over 300 Hz-4 kHz,
    capped at the original Nyquist: a codec/resampler lowpass is a cliff of 60-120 dB, natural
    rolloff is not (training/README.md, "Bandwidth"). e99_hz: 99 % of the energy lies below."""
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


# ---- Per-file processing ---------------------------------------------------------------------

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


# ---- Split -----------------------------------------------------------------------------------

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


# ---- Generated noise -------------------------------------------------------------------------

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


# Procedural noise of the non-music categories (stage `synth`, training/noisegen.py): hours per
# category, train + dev. white/pink/brown: noisegen.stationary over a slope range (dB/oct).
SYNTH_HOURS = {"rain": 2.0, "wind": 2.0, "water": 2.0, "birds": 2.0, "insects": 1.5, "fire": 1.5,
               "traffic": 2.5, "babble": 1.5, "office": 1.5, "kitchen": 1.5, "fan": 1.5, "hum": 1.2,
               "clicks": 1.5, "roomtone": 1.5, "white": 0.4, "pink": 0.4, "brown": 0.4}
SLOPES = {"white": (-1.5, 1.0), "pink": (-4.5, -1.5), "brown": (-7.0, -4.5)}


def talker_fn(clips: list[tuple[str, str]], out: Path):
    """-> talker(rng, n): one speaker (a group of `clips`) talking: its utterances at
    -26 +-4 dBFS active level with 0.1-1.5 s pauses, n samples (crowd generator)."""
    by: dict[str, list[str]] = {}
    for p, g in clips:
        by.setdefault(g, []).append(p)
    groups = sorted(by)

    def talker(rng, n):
        g = groups[int(rng.integers(len(groups)))]
        stream, total = [], 0
        while total < n:
            c, _ = sf.read(str(out / by[g][int(rng.integers(len(by[g])))]), dtype="float64")
            lvl, _ = active_level(c)
            stream += [c * 10 ** ((-26 + rng.uniform(-4, 4) - lvl) / 20), np.zeros(int(rng.uniform(0.1, 1.5) * SR))]
            total += len(stream[-1]) + len(stream[-2])
        return np.roll(np.concatenate(stream)[:n], int(rng.integers(n)))
    return talker


def synth_noise(out: Path, args) -> None:
    """Stage `synth`: SYNTH_HOURS x --synth-scale of --gen-seconds files per category, 10 % (at
    least 3 files) dev. Seeds (--seed, crc32(category), 0 train | 1 dev, index): disjoint between
    the splits; dev files also use the generators' held-apart parameter slice (noisegen.draw).
    Crowd talkers: recorded speech of the same split only. One part file per category
    (parts/noise-synth-CAT.csv, skipped when present: delete it to regenerate)."""
    import zlib

    import noisegen

    parts = out / "parts"
    speech = [r for f in sorted(parts.glob("speech-*.csv")) for r in read_csv(f)]
    assign_split(speech, args.dev_frac)
    pools = {s: [(r["path"], r["group"]) for r in speech if r["split"] == s and float(r["duration_s"]) >= 0.5]
             for s in ("train", "dev")}
    n = int(args.gen_seconds * SR)
    for gen, hours in SYNTH_HOURS.items():
        if args.sources and gen not in args.sources:
            continue
        part = parts / f"noise-synth-{gen}.csv"
        if part.exists():
            continue
        total = max(4, int(round(hours * args.synth_scale * 3600 / args.gen_seconds)))
        ndev = max(3, int(round(total * args.dev_frac)))
        rows, t0 = [], time.time()
        for split, count in (("train", total - ndev), ("dev", ndev)):
            kw = {"talker": talker_fn(pools[split], out)} if gen == "babble" else \
                {"slope": SLOPES[gen]} if gen in SLOPES else {}
            for i in range(count):
                seed = [args.seed, zlib.crc32(gen.encode()), int(split == "dev"), i]
                y, desc = noisegen.make("stationary" if gen in SLOPES else gen, np.random.default_rng(seed), n,
                                        args.gen_level, dev=split == "dev", **kw)
                cat = gen
                rel = Path("noise") / "synth" / cat / f"{gen}_{split}_{i:04d}.flac"
                write_flac(out / rel, y)
                lvl, _ = active_level(y)
                bw, e99 = bandwidth(y, SR, None, args.bw_db)
                rows.append(dict(kind="noise", path=rel.as_posix(), source="synth", category=cat,
                                 group=f"synth:{gen}_{split}_{i:04d}", language="", duration_s=f"{n / SR:.3f}",
                                 bandwidth_hz=f"{bw:.0f}", e99_hz=f"{e99:.0f}", level_dbfs=f"{lvl:.1f}",
                                 voiced_frac="", orig_sr=SR, orig=f"{desc} seed={seed}".replace(",", ";"),
                                 split=split))
        write_csv(part, rows, FIELDS)
        dt = time.time() - t0
        print(f"[synth] {gen}: {len(rows)} x {args.gen_seconds:.0f} s ({ndev} dev) in {dt:.0f} s, "
              f"{len(rows) * args.gen_seconds / max(dt, 1e-3):.0f}x real time", file=sys.stderr, flush=True)


# Recorded noise re-categorised by what its path says (first match wins; music stays music).
# Matched against "source:path" lower-cased; training/README.md lists what lands where.
RECAT = [
    (r"samples/(drum|bd|bass|sn|tabla|guit|perc|loop|elec)_", "effects"),
    (r"bucklespring|/keys?[._-]|typewriter|keyboard", "office"),
    (r"vinyl|crackl|static|/(double-)?click|/tick", "clicks"),
    (r"wind(?!ow|mill)|snowstorm|gust", "wind"),
    (r"(^|[/_-])rain|thunder(?!stick)|storm", "rain"),
    (r"river|waterfall|wave|water(?!-blast)|stream|splash|splosh|bubbl|lake|harbo|drip|fountain|swim|/sea", "water"),
    (r"bird|dayscape|/forest|/crow[._-]|misc_crow|seagull|/owl|jungle", "birds"),
    (r"insect|cricket|cicada|wasp|/bees?[._-]|mosquito", "insects"),
    (r"/fire(?!station|work)[^/]*$|lava|/burn|torch|flame|campfire", "fire"),
    (r"traffic|trafic|engine|car_|motor|/train|locomotive|railtrain|plane|/jet|truck|/bus[._-]|helicopter|"
     r"dirttrack|revup|skid|nitro", "traffic"),
    (r"crowd|croud|market|restaurant|cheer|applause|audience|tavern|residential|school|university|commune|"
     r"shanty", "babble"),
    (r"bzzt|buzz|/hum[._-]|electric|transformer|substation|powerline", "hum"),
    (r"machine|/fan[._-]|hvac|/vent|compressor|industry|mill|factory|whine|generator|powercoal|powersolar", "fan"),
    (r"clang|metal|glass|pottery|blacksmith|cutlery|dish|kitchen|hammer|anvil|clatter|drop_|_drop|chest", "kitchen"),
]
FOLD = {"keyboard": "office", "desktop": "effects", "samples": "effects"}


def recategorize(source: str, orig: str, category: str) -> str:
    if category == "music":
        return category
    key = f"{source}:{orig}".lower()
    for rx, cat in RECAT:
        if re.search(rx, key):
            return cat
    return FOLD.get(category, category)


def cap_music(rows: list[dict], other_s: float, frac: float) -> tuple[list[dict], list[dict]]:
    """Keep music chunks up to frac of all noise time (music + other_s seconds): every track's
    chunks are ranked in a seeded order and taken rank by rank (first the 1st chunk of every
    track, then the 2nd...), so the cap keeps the variety of tracks. -> (kept, dropped)."""
    music = [r for r in rows if r["category"] == "music"]
    cap = frac / (1 - frac) * other_s
    if sum(float(r["duration_s"]) for r in music) <= cap:
        return rows, []
    rank, by = {}, {}
    for r in music:
        by.setdefault(r["group"], []).append(r)
    for g, rs in by.items():
        rs.sort(key=lambda r: hashlib.sha1(r["path"].encode()).hexdigest())
        rank.update({r["path"]: k for k, r in enumerate(rs)})
    keep, acc = set(), 0.0
    for r in sorted(music, key=lambda r: (rank[r["path"]], hashlib.sha1(r["group"].encode()).hexdigest())):
        if acc + float(r["duration_s"]) > cap:
            break
        keep.add(r["path"])
        acc += float(r["duration_s"])
    kept = [r for r in rows if r["category"] != "music" or r["path"] in keep]
    return kept, [r for r in music if r["path"] not in keep]


# ---- Manifest + summary ----------------------------------------------------------------------

BW_BINS = [0, 4000, 8000, 12000, 16000, 20000, 1e9]
BW_LABELS = ["<4k", "4-8k", "8-12k", "12-16k", "16-20k", ">=20k"]


def make_manifest(out: Path, args) -> str:
    parts = out / "parts"
    rows = [r for f in sorted(parts.glob("speech-*.csv")) for r in read_csv(f)]
    assign_split(rows, args.dev_frac)
    allnoise = [r for f in sorted(parts.glob("noise-*.csv")) for r in read_csv(f)]
    gen = [r for r in allnoise if r["split"]]                      # generated/synth: split preset
    noise = [r for r in allnoise if not r["split"]]
    for r in noise:
        r["category"] = recategorize(r["source"], r["orig"], r["category"])
    assign_split(noise, args.dev_frac)          # before the cap: the recorded split stays as it was
    other = sum(float(r["duration_s"]) for r in allnoise if r["category"] != "music")
    noise, capped = cap_music(noise, other, args.music_frac)
    tts = [r for f in sorted(parts.glob("tts-*.csv")) for r in read_csv(f)]
    assign_split(tts, args.dev_frac)
    allrows = sorted(rows + tts, key=lambda r: r["path"]) + sorted(noise + gen, key=lambda r: r["path"])
    for r in allrows:   # held-back material must never appear, whatever the stages did
        assert not held_back(r["source"], r["orig"]), r
    write_csv(out / "manifest.csv", allrows, FIELDS)
    drops = [r for f in sorted(parts.glob("dropped-*.csv")) for r in read_csv(f)]
    drops += [dict(kind="noise", source=r["source"], orig=r["orig"], reason=f"music cap ({args.music_frac:.0%} of the noise)")
              for r in capped]
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
        L += [f"| {key} | files | hours | share | train h | dev h | groups (dev) | dropped | median bw kHz | " + " | ".join(BW_LABELS) + " |",
              "|---" * (9 + len(BW_LABELS)) + "|"]
        keys = sorted({r[key] for r in rs}, key=lambda k: -h([r for r in rs if r[key] == k]))
        for k in keys:
            sub = [r for r in rs if r[key] == k]
            bw = np.array([float(r["bandwidth_hz"]) for r in sub])
            d = np.array([float(r["duration_s"]) for r in sub])
            hist = [d[(bw >= lo) & (bw < hi)].sum() / d.sum() * 100 for lo, hi in zip(BW_BINS[:-1], BW_BINS[1:])]
            groups = {r["group"] for r in sub}
            dgroups = {r["group"] for r in sub if r["split"] == "dev"}
            nd = sum(1 for x in drops if x["kind"] == kind and x["source"] == k) if key == "source" else ""
            L.append(f"| {k} | {len(sub)} | {h(sub):.2f} | {h(sub) / h(rs):.1%} | {h([r for r in sub if r['split'] == 'train']):.2f} | "
                     f"{h([r for r in sub if r['split'] == 'dev']):.2f} | {len(groups)} ({len(dgroups)}) | "
                     f"{nd} | {np.median(bw) / 1000:.1f} | " + " | ".join(f"{x:.0f}%" for x in hist) + " |")
        L.append("")
        if kind == "noise":
            L += ["| noise source | files | hours | share | train h | dev h |", "|---|---|---|---|---|---|"]
            for k in sorted({r["source"] for r in rs}, key=lambda k: -h([r for r in rs if r["source"] == k])):
                sub = [r for r in rs if r["source"] == k]
                L.append(f"| {k} | {len(sub)} | {h(sub):.2f} | {h(sub) / h(rs):.1%} | {h([r for r in sub if r['split'] == 'train']):.2f} | "
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


# ---- main ------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("PN_TRAIN_CACHE", Path.home() / ".cache/pn-train")),
                    help="debs and unpacked packages (default ~/.cache/pn-train, or $PN_TRAIN_CACHE)")
    ap.add_argument("--out", type=Path, default=HERE / "data" / "corpus", help="corpus dir (default training/data/corpus)")
    ap.add_argument("--stages", default="fetch,speech,noise,generated,synth,manifest",
                    help="comma list of fetch,speech,noise,generated,synth,tts,manifest")
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
    ap.add_argument("--synth-scale", type=float, default=1.0, help="stage synth: SYNTH_HOURS times this")
    ap.add_argument("--music-frac", type=float, default=0.18,
                    help="manifest: music chunks kept up to this share of the noise time (whole tracks first)")
    ap.add_argument("--tts", default="", help="comma list of TTS engines (mei, piper, festival, espeak; "
                    "tts_corpus.py); implies the tts stage (which alone runs all four)")
    ap.add_argument("--tts-hours", type=float, default=0, help="hours per TTS engine (default tts_corpus.HOURS)")
    ap.add_argument("--tts-voices", type=int, default=0, help="voices (split groups) per engine (default tts_corpus.VOICES)")
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
    if "synth" in stages:
        synth_noise(args.out, args)
    if "tts" in stages:
        import tts_corpus
        for engine in filter(None, (args.tts or "mei,piper,festival,espeak").split(",")):
            tts_corpus.run(engine, args.out, args)
    if "manifest" in stages:
        print(make_manifest(args.out, args))
    print(f"prepare_corpus: done in {time.time() - t0:.0f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
