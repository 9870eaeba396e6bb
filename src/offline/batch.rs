//! Batch denoising for the command line: which files to read and where to write them
//! ([`plan`]), and denoising them in parallel with progress bars and per-file error reports
//! ([`run`]).
//!
//! Safety rules: no output is ever written over an input (compared after resolving symbolic
//! links, and by inode on Unix so hard links count too), an existing output is only replaced
//! when the caller allows it, two inputs may not claim the same output, and every output is
//! written to a temporary file in its folder and renamed into place, so a failed or
//! interrupted file leaves nothing half-written under the output's name.
//!
//! Each channel runs through the same chain as in the plugin: the engine at 48 kHz with the
//! voice gate on its hops ([`crate::dsp::gate`]), then, at the file's own rate, the wet/dry mix
//! and output mode against the input itself ([`crate::dsp::mix`]), so a 0 % mix gives the input
//! back sample for sample.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::denoiser::{Denoiser, DenoiserParams};
use crate::dsp::gate::{GateSettings, VoiceGate};
use crate::dsp::mix::{self, OutputMode, MIX_DEFAULT};
use crate::model::{Network, NetworkEstimator};
use crate::offline::audio::{self, Audio, Container};
use crate::offline::resample;
use crate::{HOP, LATENCY, SAMPLE_RATE};

/// Where the outputs go.
#[derive(Clone, Debug)]
pub enum Destination {
    /// One input and one explicitly named output; the output's extension (`.wav` or `.flac`)
    /// picks its container.
    Explicit(PathBuf),
    /// Into `dir`: a file named on the command line keeps its name, a file found in a folder
    /// keeps its path relative to that folder; `suffix` (may be empty) is added to each stem.
    Folder { dir: PathBuf, suffix: String },
    /// Next to each input, named `<stem><suffix>.<ext>` (`suffix` is not empty).
    NextToInput { suffix: String },
}

/// How [`plan`] finds inputs and names outputs.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    pub destination: Destination,
    /// Search folders in sub-folders too.
    pub recursive: bool,
    /// Replace outputs that already exist (never an input).
    pub overwrite: bool,
}

/// One file to denoise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Where to write the speech presence per 10 ms frame ([`write_presence_csv`]), if anywhere.
    pub presence_csv: Option<PathBuf>,
}

/// The outcome of planning: the files to denoise, and the inputs refused before any work.
#[derive(Debug, Default)]
pub struct Plan {
    pub jobs: Vec<Job>,
    /// One error per refused input (missing, would overwrite an input, output exists, ...),
    /// each naming the file.
    pub refused: Vec<anyhow::Error>,
    /// Remarks that are not failures (a folder without audio files).
    pub notes: Vec<String>,
}

/// An input found on the command line or in a folder, with the path its output keeps under
/// an output folder (its file name, or its path relative to the folder it was found in).
struct Found {
    input: PathBuf,
    relative: PathBuf,
}

/// Decides which files to denoise and where each output goes, refusing (per file, with the
/// file's name) whatever would break the safety rules in the module documentation. Fails as
/// a whole only when the destination itself is unusable.
pub fn plan(paths: &[PathBuf], opts: &PlanOptions) -> Result<Plan> {
    check_destination(&opts.destination, paths)?;
    let mut plan = Plan::default();
    let mut found = Vec::new();
    for path in paths {
        match expand(path, opts) {
            Ok(files) if files.is_empty() => plan.notes.push(format!(
                "{}: no .wav or .flac files found{}",
                path.display(),
                if opts.recursive {
                    ""
                } else {
                    " (add --recursive to search sub-folders)"
                }
            )),
            Ok(files) => found.extend(files),
            Err(e) => plan.refused.push(e),
        }
    }
    let found = without_duplicates(found);
    let inputs = InputSet::new(found.iter().map(|f| f.input.as_path()));
    let mut claimed: HashMap<PathBuf, PathBuf> = HashMap::new();
    for f in found {
        let output = output_path(&f, &opts.destination);
        match check_output(&f.input, &output, &inputs, &claimed, opts) {
            Ok(resolved) => {
                claimed.insert(resolved, f.input.clone());
                plan.jobs.push(Job {
                    input: f.input,
                    output,
                    presence_csv: None,
                });
            }
            Err(e) => plan.refused.push(e),
        }
    }
    Ok(plan)
}

/// Refuses destinations that cannot work at all: an explicit form with other than one
/// input, an empty suffix next to the inputs, a suffix with a path separator, an output
/// folder that is a file.
fn check_destination(dest: &Destination, paths: &[PathBuf]) -> Result<()> {
    let suffix = match dest {
        Destination::Explicit(out) => {
            if paths.len() != 1 {
                bail!("an explicit output takes exactly one input");
            }
            if out.is_dir() {
                bail!(
                    "{} is a folder: use `--out-dir {}` to write into it",
                    out.display(),
                    out.display()
                );
            }
            return Ok(());
        }
        Destination::Folder { dir, suffix } => {
            if dir.exists() && !dir.is_dir() {
                bail!("the output folder {} is a file", dir.display());
            }
            suffix
        }
        Destination::NextToInput { suffix } => {
            if suffix.is_empty() {
                bail!("--suffix must not be empty (the output would be the input)");
            }
            suffix
        }
    };
    if suffix.contains(['/', '\\']) {
        bail!("--suffix must not contain a path separator: {suffix:?}");
    }
    Ok(())
}

/// The audio files a command-line path stands for: the file itself, or the `.wav` and
/// `.flac` files of a folder (see [`find_audio`]).
fn expand(path: &Path, opts: &PlanOptions) -> Result<Vec<Found>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if !meta.is_dir() {
        let name = path
            .file_name()
            .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
        return Ok(vec![Found {
            input: path.to_path_buf(),
            relative: PathBuf::from(name),
        }]);
    }
    if matches!(opts.destination, Destination::Explicit(_)) {
        bail!(
            "{} is a folder: use --out-dir or --suffix to denoise folders",
            path.display()
        );
    }
    let skip = SkipRules::new(opts);
    let mut files = Vec::new();
    find_audio(path, opts.recursive, &skip, &mut files)?;
    Ok(files
        .into_iter()
        .map(|input| {
            let relative = input.strip_prefix(path).unwrap_or(&input).to_path_buf();
            Found { input, relative }
        })
        .collect())
}

/// What a folder search leaves out.
struct SkipRules {
    /// The output folder (resolved), when it lies inside a searched folder.
    out_dir: Option<PathBuf>,
    /// Files whose stem ends in this (earlier outputs), when not empty.
    suffix: String,
}

impl SkipRules {
    /// The rules for a destination: skip its folder and files carrying its suffix.
    fn new(opts: &PlanOptions) -> Self {
        match &opts.destination {
            Destination::Folder { dir, suffix } => Self {
                out_dir: Some(resolve(dir)),
                suffix: suffix.clone(),
            },
            Destination::NextToInput { suffix } => Self {
                out_dir: None,
                suffix: suffix.clone(),
            },
            Destination::Explicit(_) => Self {
                out_dir: None,
                suffix: String::new(),
            },
        }
    }

    /// Whether a folder entry is left out: hidden names (`.` first, such as macOS `._x.wav`
    /// companions), the output folder, and files that already carry the suffix.
    fn skips(&self, path: &Path, is_dir: bool) -> bool {
        let name = path.file_name().map(|n| n.to_string_lossy());
        if name.as_deref().is_none_or(|n| n.starts_with('.')) {
            return true;
        }
        if is_dir {
            return self.out_dir.as_deref() == Some(resolve(path).as_path());
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy());
        !self.suffix.is_empty() && stem.is_some_and(|s| s.ends_with(self.suffix.as_str()))
    }
}

/// Appends the `.wav` and `.flac` files (any case) in `dir` to `out`, sorted by name, and
/// those of its sub-folders when `recursive` (symbolic links to folders are not followed).
fn find_audio(dir: &Path, recursive: bool, skip: &SkipRules, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the folder {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list the folder {}", dir.display()))?;
    entries.sort();
    for path in entries {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let is_dir = meta.is_dir();
        if skip.skips(&path, is_dir) {
            continue;
        }
        if is_dir {
            if recursive {
                find_audio(&path, recursive, skip, out)?;
            }
        } else if Container::from_extension(&path).is_some() && path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Drops inputs that name a file already listed (a file given both alone and in its folder).
fn without_duplicates(found: Vec<Found>) -> Vec<Found> {
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|f| seen.insert(resolve(&f.input)))
        .collect()
}

/// The output path of an input under a destination.
fn output_path(found: &Found, dest: &Destination) -> PathBuf {
    match dest {
        Destination::Explicit(out) => out.clone(),
        Destination::Folder { dir, suffix } => dir.join(with_suffix(&found.relative, suffix)),
        Destination::NextToInput { suffix } => with_suffix(&found.input, suffix),
    }
}

/// `path` with `suffix` added to the stem: `a/b.wav` + `-x` = `a/b-x.wav`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return path.to_path_buf();
    }
    let mut name = path.file_stem().unwrap_or_default().to_os_string();
    name.push(suffix);
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// Checks that `output` may be written for `input`; returns its resolved path.
fn check_output(
    input: &Path,
    output: &Path,
    inputs: &InputSet,
    claimed: &HashMap<PathBuf, PathBuf>,
    opts: &PlanOptions,
) -> Result<PathBuf> {
    let resolved = resolve(output);
    if inputs.contains(&resolved) {
        bail!(
            "{}: refusing to overwrite the input {}",
            input.display(),
            output.display()
        );
    }
    if let Some(other) = claimed.get(&resolved) {
        bail!(
            "{}: its output {} is already the output of {}",
            input.display(),
            output.display(),
            other.display()
        );
    }
    let explicit = matches!(opts.destination, Destination::Explicit(_));
    if explicit && Container::from_extension(output).is_none() {
        bail!(
            "{}: the output must be a .wav or .flac file",
            output.display()
        );
    }
    // The single-file form names its output and replaces it, as it always has.
    let exists = std::fs::symlink_metadata(output).is_ok();
    if exists && !opts.overwrite && !explicit {
        bail!(
            "{}: the output {} already exists (pass --overwrite to replace it)",
            input.display(),
            output.display()
        );
    }
    Ok(resolved)
}

/// The inputs of a batch, to recognise an output that is one of them.
struct InputSet {
    paths: HashSet<PathBuf>,
    ids: HashSet<(u64, u64)>,
}

impl InputSet {
    /// Indexes `inputs` by resolved path and by file identity.
    fn new<'a>(inputs: impl Iterator<Item = &'a Path>) -> Self {
        let mut set = Self {
            paths: HashSet::new(),
            ids: HashSet::new(),
        };
        for input in inputs {
            set.paths.insert(resolve(input));
            set.ids.extend(file_id(input));
        }
        set
    }

    /// Whether the (resolved) path is one of the inputs, also through a hard link.
    fn contains(&self, path: &Path) -> bool {
        self.paths.contains(path) || file_id(path).is_some_and(|id| self.ids.contains(&id))
    }
}

/// The device and inode of an existing file (Unix), to see through hard links.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// File identity is not checked beyond the resolved path on this platform.
#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// An absolute path with symbolic links resolved, also for paths that do not exist yet (their
/// deepest existing ancestor is resolved and the rest appended).
fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => resolve(parent).join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// What follows the engine: the voice gate, the mix and the output mode (the plugin's Gate
/// Threshold, Grace, Retroactive Grace, Gate Depth, Mix and Output parameters, same defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputSettings {
    pub gate: GateSettings,
    /// Wet share w in [0, 1].
    pub mix: f32,
    pub mode: OutputMode,
}

impl Default for OutputSettings {
    fn default() -> Self {
        Self {
            gate: GateSettings::default(),
            mix: MIX_DEFAULT,
            mode: OutputMode::default(),
        }
    }
}

/// How [`run`] denoises.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub params: DenoiserParams,
    pub output: OutputSettings,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
    /// Show progress bars (only drawn when standard error is a terminal).
    pub progress: bool,
    /// Print each failure to standard error as it happens (above the progress bars).
    pub print_failures: bool,
}

/// Denoises every job in parallel (files, and the channels of each file) on a pool of
/// `settings.threads` threads. Returns one result per job, in order; a failed file does not
/// stop the others. Fails as a whole only if the thread pool cannot start.
pub fn run(jobs: &[Job], net: &Network, settings: &Settings) -> Result<Vec<Result<()>>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.threads)
        .build()
        .context("cannot start the worker threads")?;
    let progress = Progress::new(settings.progress, jobs.len());
    let results = pool.install(|| {
        jobs.par_iter()
            .map(|job| {
                let result = denoise_file(job, net, settings.params, settings.output, &progress);
                if let Err(e) = &result {
                    if settings.print_failures {
                        progress.println(&format!("error: {e:#}"));
                    }
                }
                progress.file_done();
                result
            })
            .collect()
    });
    progress.finish();
    Ok(results)
}

/// Reads, denoises and writes one file (and its presence file, if asked); every error names
/// the input.
pub fn denoise_file(
    job: &Job,
    net: &Network,
    params: DenoiserParams,
    output: OutputSettings,
    progress: &Progress,
) -> Result<()> {
    let input = audio::read_audio(&job.input)?;
    let container = Container::from_extension(&job.output).unwrap_or(input.container);
    if container == Container::Flac {
        audio::flac_bits_for(input.spec).with_context(|| {
            format!(
                "{}: cannot write {}",
                job.input.display(),
                job.output.display()
            )
        })?;
    }
    let bar = progress.file_bar(&job.input, &input);
    let out = denoise_audio(&input, net, params, output, &bar);
    progress.remove(&bar);
    let out = out.with_context(|| format!("{}: cannot denoise", job.input.display()))?;
    write_atomically(&job.output, |tmp| {
        audio::write_audio(tmp, &out.channels, input.spec, container)
    })
    .with_context(|| format!("{}: no output written", job.input.display()))?;
    if let Some(csv) = &job.presence_csv {
        write_atomically(csv, |tmp| write_presence_csv(tmp, &out.presence))
            .with_context(|| format!("{}: no presence file written", job.input.display()))?;
    }
    Ok(())
}

/// A denoised file: the output channels and, per channel, the speech presence of each 10 ms
/// frame of the output ([`denoise_channel`]).
pub struct Denoised {
    pub channels: Vec<Vec<f32>>,
    pub presence: Vec<Vec<f32>>,
}

/// Writes per-frame presences as CSV: a header, then one line per 10 ms frame of the output,
/// `time_s,presence` (mono) or `time_s,presence_1,presence_2,...`, where `time_s` is where the
/// frame starts in the output (and input: they are aligned).
pub fn write_presence_csv(path: &Path, presence: &[Vec<f32>]) -> Result<()> {
    let mut text = String::from("time_s");
    if presence.len() == 1 {
        text.push_str(",presence");
    } else {
        for c in 1..=presence.len() {
            text.push_str(&format!(",presence_{c}"));
        }
    }
    text.push('\n');
    let rows = presence.iter().map(Vec::len).max().unwrap_or(0);
    for row in 0..rows {
        text.push_str(&format!(
            "{:.2}",
            (row * HOP) as f64 / f64::from(SAMPLE_RATE)
        ));
        for channel in presence {
            let p = channel.get(row).copied().unwrap_or(0.0);
            text.push_str(&format!(",{p:.4}"));
        }
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Denoises every channel of `audio` (in parallel), resampling to 48 kHz and back when the
/// file has another rate, then mixes each with its input as `output` says. The result is
/// time-aligned with the input and as long.
pub fn denoise_audio(
    audio: &Audio,
    net: &Network,
    params: DenoiserParams,
    output: OutputSettings,
    bar: &ProgressBar,
) -> Result<Denoised> {
    if audio.frames() == 0 {
        return Ok(Denoised {
            channels: audio.channels.clone(),
            presence: vec![Vec::new(); audio.channels.len()],
        });
    }
    // At 48 kHz the channels go in and come out as they are (no copies of whole signals).
    let same_rate = audio.sample_rate == SAMPLE_RATE;
    let resampled;
    let at_48k: &[Vec<f32>] = if same_rate {
        &audio.channels
    } else {
        resampled = resample::resample(&audio.channels, audio.sample_rate, SAMPLE_RATE)?;
        &resampled
    };
    bar.set_length(at_48k.iter().map(|c| c.len() as u64).sum());
    let (denoised, presence): (Vec<Vec<f32>>, Vec<Vec<f32>>) = at_48k
        .par_iter()
        .map(|ch| {
            let mut engine = Denoiser::new(NetworkEstimator::new(net.clone()));
            engine.set_params(params);
            let mut gate = VoiceGate::new();
            gate.set_settings(output.gate);
            denoise_channel(&mut engine, &mut gate, ch, bar)
        })
        .unzip();
    let mut out = if same_rate {
        denoised
    } else {
        resample::resample(&denoised, SAMPLE_RATE, audio.sample_rate)?
    };
    for (wet, dry) in out.iter_mut().zip(&audio.channels) {
        wet.resize(audio.frames(), 0.0);
        mix::apply_constant(wet, dry, output.mix, output.mode);
    }
    Ok(Denoised {
        channels: out,
        presence,
    })
}

/// Engine hops between the hop whose output is the first 10 ms of the aligned output and the
/// first hop: the aligned output starts `LATENCY` samples into the engine's output, and the
/// re-blocking of `Denoiser::process` plays each hop out one hop after synthesising it.
const FIRST_OUTPUT_HOP: usize = LATENCY / HOP - 1;

/// Denoises and gates one 48 kHz channel, time-aligned (latency removed), advancing `bar`.
/// Also returns the speech presence for each 10 ms of the output: entry i covers output samples
/// `[i N, (i + 1) N)` and is p_t of the frame t whose window starts there (centred on its end),
/// the value the gate acts on for those samples. The network runs 16 frames at a time
/// ([`Denoiser::process_batched_with`]): the real-time output, bit for bit, faster.
pub fn denoise_channel(
    engine: &mut Denoiser<NetworkEstimator>,
    gate: &mut VoiceGate,
    x: &[f32],
    bar: &ProgressBar,
) -> (Vec<f32>, Vec<f32>) {
    // The engine's output stream is the aligned output delayed by LATENCY: feed x and
    // LATENCY samples of flush, one second at a time, and keep the stream from LATENCY on.
    const CHUNK: usize = SAMPLE_RATE as usize;
    let total = x.len() + LATENCY;
    let mut out = vec![0.0; x.len()];
    let mut presence = Vec::with_capacity(total / HOP + 1);
    let (mut input, mut stream) = (vec![0.0; CHUNK], vec![0.0; CHUNK]);
    for start in (0..total).step_by(CHUNK) {
        let end = (start + CHUNK).min(total);
        let (i, o) = (&mut input[..end - start], &mut stream[..end - start]);
        // The part of x in this chunk (none once only flush is left).
        let src = &x[start.min(x.len())..end.min(x.len())];
        i[..src.len()].copy_from_slice(src);
        i[src.len()..].fill(0.0);
        engine.process_batched_with(i, o, |p, hop| {
            gate.process_hop(p, hop);
            presence.push(p);
        });
        if end > LATENCY {
            let keep = LATENCY.max(start);
            out[keep - LATENCY..end - LATENCY].copy_from_slice(&o[keep - start..]);
        }
        bar.inc((end - start) as u64);
    }
    let frames = x.len().div_ceil(HOP);
    let presence = presence
        .into_iter()
        .skip(FIRST_OUTPUT_HOP)
        .take(frames)
        .collect();
    (out, presence)
}

/// Writes `path` through `write` into a hidden temporary file in the same folder (creating
/// the folder if needed), then renames it into place; on failure the temporary file is removed.
fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    }
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".percepnet-{}.part", std::process::id()));
    let tmp = path.with_file_name(name);
    let result = write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, path).with_context(|| format!("cannot create {}", path.display()))
    });
    if result.is_err() {
        // Best effort: the temporary file may not exist.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Files longer than this many seconds get their own progress bar.
const PROGRESS_MIN_SECONDS: u64 = 20;

/// Progress bars of a batch: one bar per long file being denoised and, for several files, an
/// overall bar of files done. Drawn through one [`MultiProgress`] so parallel updates and
/// printed errors never garble each other; hidden when standard error is not a terminal.
pub struct Progress {
    multi: Option<MultiProgress>,
    overall: ProgressBar,
}

impl Progress {
    /// Bars for `files` files; `enabled` = false (or a non-terminal stderr) hides them all.
    pub fn new(enabled: bool, files: usize) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self::hidden();
        }
        let multi = MultiProgress::new();
        let overall = if files > 1 {
            let bar = multi.add(ProgressBar::new(files as u64));
            bar.set_style(style("files [{bar:40}] {pos}/{len} eta {eta}"));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            multi: Some(multi),
            overall,
        }
    }

    /// No bars at all; messages go straight to standard error.
    pub fn hidden() -> Self {
        Self {
            multi: None,
            overall: ProgressBar::hidden(),
        }
    }

    /// A bar for one file (hidden for files shorter than [`PROGRESS_MIN_SECONDS`]); its
    /// length is a first estimate that [`denoise_audio`] corrects.
    fn file_bar(&self, path: &Path, audio: &Audio) -> ProgressBar {
        let seconds = audio.frames() as u64 / u64::from(audio.sample_rate.max(1));
        let Some(multi) = self
            .multi
            .as_ref()
            .filter(|_| seconds > PROGRESS_MIN_SECONDS)
        else {
            return ProgressBar::hidden();
        };
        let len = seconds * u64::from(SAMPLE_RATE) * audio.channels.len() as u64;
        let bar = multi.insert_before(&self.overall, ProgressBar::new(len));
        bar.set_style(style("{msg} [{bar:40}] {percent}% eta {eta}"));
        bar.set_message(path.display().to_string());
        bar
    }

    /// Takes a finished file's bar off the screen.
    fn remove(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        if let Some(multi) = &self.multi {
            multi.remove(bar);
        }
    }

    /// Counts one more file done.
    fn file_done(&self) {
        self.overall.inc(1);
    }

    /// Prints a line to standard error above the bars.
    fn println(&self, line: &str) {
        match &self.multi {
            Some(multi) if multi.println(line).is_ok() => {}
            _ => eprintln!("{line}"),
        }
    }

    /// Clears the bars.
    fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

/// A progress style from a template known to be valid.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    /// The CLI's channel path against the real-time engine fed the same signal and the
    /// latency's flush: the same samples, for lengths whose flush ends in the next one-second
    /// chunk (the last chunk then holds no input at all) and lengths around chunk and hop edges.
    #[test]
    fn denoise_channel_matches_the_real_time_engine_at_every_length() {
        let net = model::embedded_network().expect("embedded weights");
        let chunk = SAMPLE_RATE as usize;
        for len in [
            1,
            HOP - 1,
            chunk - LATENCY,
            chunk - LATENCY + 1,
            chunk - 1,
            chunk,
            chunk + 1,
            2 * chunk - 7,
        ] {
            let x: Vec<f32> = (0..len)
                .map(|n| {
                    0.3 * ((n as f32) * 0.031).sin()
                        + 0.05 * ((n * 7919 % 101) as f32 / 101.0 - 0.5)
                })
                .collect();
            let mut engine = Denoiser::new(NetworkEstimator::new(net.clone()));
            let (out, presence) = denoise_channel(
                &mut engine,
                &mut VoiceGate::new(),
                &x,
                &ProgressBar::hidden(),
            );
            assert_eq!(out.len(), len, "length {len}");
            assert_eq!(
                presence.len(),
                len.div_ceil(HOP),
                "presence entries, length {len}"
            );

            let mut reference = Denoiser::new(NetworkEstimator::new(net.clone()));
            let mut input = x.clone();
            input.resize(len + LATENCY, 0.0);
            let mut stream = vec![0.0; input.len()];
            reference.process(&input, &mut stream);
            let same = out
                .iter()
                .zip(&stream[LATENCY..])
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "length {len}: the CLI path differs from the real-time engine"
            );
        }
    }
}
