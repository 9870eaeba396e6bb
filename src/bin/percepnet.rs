//! `percepnet`: the command-line front end of the denoiser.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand};

use percepnet::denoiser::DenoiserParams;
use percepnet::dsp::gate::{
    GateSettings, DEPTH_DB_DEFAULT, DEPTH_DB_MIN, GRACE_MS_DEFAULT, GRACE_MS_MAX,
    RETRO_GRACE_MS_DEFAULT, RETRO_GRACE_MS_MAX, THRESHOLD_DEFAULT,
};
use percepnet::dsp::mix::{OutputMode, MIX_DEFAULT};
use percepnet::model::{Network, Precision};
use percepnet::offline::audio::{self, Audio};
use percepnet::offline::batch::{self, Destination, OutputSettings, PlanOptions, Settings};
use percepnet::offline::bench;
use percepnet::targets::dataset;
use percepnet::targets::oracle::{self, OracleOptions};
use percepnet::{HOP, SAMPLE_RATE};

#[derive(Parser)]
#[command(version, about = "PercepNet speech denoiser")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mix clean speech with noise, denoise with ideal (oracle) gains computed from the clean
    /// speech, write the result and print SNR and SI-SDR of the noisy mix and the output.
    Oracle(OracleArgs),
    /// Make training features and targets (.pnf) from speech and noise lists.
    Features(FeaturesArgs),
    /// Denoise WAV and FLAC files (any sample rate and channel count): one file into a named
    /// output, or many files and folders in parallel; outputs keep the input's format and are
    /// time-aligned with it.
    Denoise(DenoiseArgs),
    /// Print the real-time factor (CPU seconds per second of audio) of each stage and of the
    /// whole engine, with the shipped network and the full paper-size network.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Seconds of audio to process per measurement.
    #[arg(long, default_value_t = 60.0)]
    seconds: f32,
    /// Weights to time (default: the embedded ones, if any).
    #[arg(long)]
    weights: Option<PathBuf>,
}

#[derive(clap::Args)]
struct FeaturesArgs {
    /// Speech list: one `path[,bandwidth_hz]` per line (48 kHz WAV files).
    #[arg(long)]
    speech: PathBuf,
    /// Noise list: one path per line (48 kHz WAV files).
    #[arg(long)]
    noise: PathBuf,
    /// Optional impulse-response list (48 kHz WAV files) for reverberation.
    #[arg(long)]
    irs: Option<PathBuf>,
    /// Number of mixed sequences.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Seconds per sequence.
    #[arg(long, default_value_t = 20.0)]
    segment: f32,
    /// Random seed (the output is a pure function of the inputs and the seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Probability of a sequence with speech and no noise (default: the engine's MixConfig).
    #[arg(long, value_parser = probability)]
    p_speech_only: Option<f64>,
    /// Probability of a random low-pass on the mix (default: the engine's MixConfig).
    #[arg(long, value_parser = probability)]
    p_lowpass: Option<f64>,
    /// Probability of a sequence of noise and no speech (default: the engine's MixConfig).
    #[arg(long, value_parser = probability)]
    p_noise_only: Option<f64>,
    /// Probability of mains hum (50/60 Hz and harmonics, 10-40 dB under the speech) added to a
    /// sequence's input, on top of its noise (default: the engine's MixConfig, 0).
    #[arg(long, value_parser = probability)]
    p_hum: Option<f64>,
    /// Keep each speech file's own noise floor in the target (by default it is removed, so the
    /// network learns to silence the pauses).
    #[arg(long)]
    keep_floor: bool,
    /// Output .pnf file.
    out: PathBuf,
}

#[derive(clap::Args)]
#[command(
    override_usage = "percepnet denoise [OPTIONS] IN OUT\n       \
                      percepnet denoise [OPTIONS] --out-dir DIR PATH...\n       \
                      percepnet denoise [OPTIONS] --suffix SUFFIX PATH...",
    after_help = DENOISE_HELP
)]
struct DenoiseArgs {
    /// Inputs: WAV or FLAC files, and folders (searched for .wav and .flac files). Without
    /// --out-dir or --suffix, exactly two: IN and the output file OUT.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Write the outputs into this folder (created if needed), same file names; files found
    /// in a folder keep their path relative to that folder.
    #[arg(short = 'o', long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Add SUFFIX to each output's file name (a.wav -> a<SUFFIX>.wav); without --out-dir the
    /// outputs go next to their inputs. Folder searches skip files already ending in SUFFIX.
    #[arg(short, long, value_name = "SUFFIX", allow_hyphen_values = true)]
    suffix: Option<String>,
    /// Search folders in their sub-folders too.
    #[arg(short, long)]
    recursive: bool,
    /// Replace outputs that already exist (an input is never overwritten).
    #[arg(long)]
    overwrite: bool,
    /// Files denoised at once (worker threads); 0 = one per CPU core.
    #[arg(short, long, value_name = "N", default_value_t = 0)]
    jobs: usize,
    /// Weights file (.pnw); default: the weights built into this binary.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Attenuation limit in dB (0-100; 100 = no limit).
    #[arg(long, default_value_t = 100.0, value_parser = in_range(0.0, 100.0))]
    attenuation_limit: f32,
    /// Envelope post-filter strength (0-1).
    #[arg(long, default_value_t = 1.0, value_parser = in_range(0.0, 1.0))]
    post_filter: f32,
    /// Run the network in f32 (the reference; about 4x slower). Default: int8 weights with
    /// SIMD kernels, which score the same PESQ-WB and DNSMOS on the development set.
    #[arg(long, conflicts_with = "int8")]
    f32: bool,
    /// Int8 weights and SIMD kernels (the default; kept for scripts that ask for it).
    #[arg(long)]
    int8: bool,
    /// Voice gate threshold in % of speech presence (0-100; 0 = gate off): once the grace has
    /// passed, frames with less presence are attenuated by --gate-depth.
    #[arg(long, value_name = "PERCENT", default_value_t = 100.0 * THRESHOLD_DEFAULT,
          value_parser = in_range(0.0, 100.0))]
    gate_threshold: f32,
    /// How long the gate stays open after the last speech frame, in ms (0-1000).
    #[arg(long, value_name = "MS", default_value_t = GRACE_MS_DEFAULT,
          value_parser = in_range(0.0, GRACE_MS_MAX))]
    grace_ms: f32,
    /// How long before detected speech the gate starts opening, in ms (0-10: the lookahead the
    /// real-time pipeline has; adds no latency).
    #[arg(long, value_name = "MS", default_value_t = RETRO_GRACE_MS_DEFAULT,
          value_parser = in_range(0.0, RETRO_GRACE_MS_MAX))]
    retro_grace_ms: f32,
    /// Gain of the closed gate in dB (-100 to 0).
    #[arg(long, value_name = "DB", default_value_t = DEPTH_DB_DEFAULT, allow_negative_numbers = true,
          value_parser = in_range(DEPTH_DB_MIN, 0.0))]
    gate_depth: f32,
    /// Share of the processed signal in the output, in % (0-100); the rest is the input, exactly
    /// aligned (0 gives the input back).
    #[arg(long, value_name = "PERCENT", default_value_t = 100.0 * MIX_DEFAULT,
          value_parser = in_range(0.0, 100.0))]
    mix: f32,
    /// What to write: the denoised signal, or what denoising removes (the input minus the
    /// denoised output).
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = OutputArg::Denoised)]
    output: OutputArg,
    /// Also write the speech presence (0-1) of every 10 ms of the output to this CSV file
    /// (`time_s,presence`, one column per channel), aligned with the output. IN OUT form only.
    #[arg(long, value_name = "FILE")]
    presence_csv: Option<PathBuf>,
}

/// `--output`: what `percepnet denoise` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OutputArg {
    /// The denoised (gated, mixed) signal.
    Denoised,
    /// The input minus the denoised signal: what the processing takes away.
    Removed,
}

impl From<OutputArg> for OutputMode {
    fn from(arg: OutputArg) -> Self {
        match arg {
            OutputArg::Denoised => Self::Denoised,
            OutputArg::Removed => Self::Removed,
        }
    }
}

impl DenoiseArgs {
    /// The gate, mix and output settings (the plugin's parameters, same defaults).
    fn output_settings(&self) -> OutputSettings {
        OutputSettings {
            gate: GateSettings {
                threshold: self.gate_threshold / 100.0,
                grace_ms: self.grace_ms,
                retro_grace_ms: self.retro_grace_ms,
                depth_db: self.gate_depth,
            },
            mix: self.mix / 100.0,
            mode: self.output.into(),
        }
    }
}

/// The end of `percepnet denoise --help`.
const DENOISE_HELP: &str = "\
Outputs keep the input's container and sample format: WAV 8/16/24/32-bit integer or 32-bit
float, FLAC at the input's bit depth (integer samples are rounded and saturated). IN OUT
writes the container OUT's extension names (.wav or .flac) and replaces an existing OUT.
With --out-dir or --suffix an existing output is left alone unless --overwrite is given,
and an input is never overwritten. A file that fails is reported by name and the others
go on; the exit status is non-zero if any failed.

The voice gate, mix and output options are the plugin's Gate Threshold, Grace, Retroactive
Grace, Gate Depth, Mix and Output parameters, with the same defaults (gate off, 100 % wet,
denoised). Denoised + removed (same options otherwise) adds up to the input.

Examples:
  percepnet denoise noisy.wav clean.wav
  percepnet denoise -o denoised/ take1.flac take2.wav recordings/
  percepnet denoise --recursive --suffix=-denoised podcast/
  percepnet denoise --gate-threshold 50 --grace-ms 300 take.wav take-gated.wav
  percepnet denoise --output removed take.wav what-was-removed.wav
  percepnet denoise --presence-csv take.csv take.wav take-denoised.wav";

/// A clap parser for an `f32` in `[lo, hi]`.
fn in_range(lo: f32, hi: f32) -> impl Fn(&str) -> Result<f32, String> + Clone {
    move |s| match s.parse::<f32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is not between {lo} and {hi}")),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(clap::Args)]
struct OracleArgs {
    /// Clean speech (WAV, 48 kHz; channels are averaged).
    #[arg(long)]
    clean: PathBuf,
    /// Noise (WAV, 48 kHz; looped or cut to the speech's length).
    #[arg(long)]
    noise: PathBuf,
    /// Signal-to-noise ratio of the mix in dB.
    #[arg(long, allow_hyphen_values = true)]
    snr: f32,
    /// Output WAV (32-bit float, 48 kHz, aligned with the input).
    out: PathBuf,
    /// Also write the noisy mix here.
    #[arg(long)]
    noisy_out: Option<PathBuf>,
    /// Switch the comb filter off (r_b = 0).
    #[arg(long)]
    no_comb: bool,
    /// Switch the envelope post-filter off.
    #[arg(long)]
    no_postfilter: bool,
    /// Per-bin (481 magnitudes) oracle on the noisy phase instead of the band oracle.
    #[arg(long)]
    noisy_phase_bins: bool,
}

fn read_mono_48k(path: &std::path::Path) -> Result<Vec<f32>> {
    let a: Audio = audio::read_wav(path)?;
    if a.sample_rate != SAMPLE_RATE {
        bail!(
            "{}: sample rate {} Hz; the oracle needs {} Hz input",
            path.display(),
            a.sample_rate,
            SAMPLE_RATE
        );
    }
    Ok(a.to_mono())
}

fn oracle_cmd(args: OracleArgs) -> Result<()> {
    let clean = read_mono_48k(&args.clean)?;
    let noise = read_mono_48k(&args.noise)?;
    let noisy = audio::mix_at_snr(&clean, &noise, args.snr)?;
    let out = if args.noisy_phase_bins {
        oracle::per_bin_oracle(&clean, &noisy)
    } else {
        let params = DenoiserParams {
            attenuation_limit_db: 100.0,
            post_filter: if args.no_postfilter { 0.0 } else { 1.0 },
        };
        oracle::run_band_oracle(
            &clean,
            &noisy,
            OracleOptions {
                comb: !args.no_comb,
            },
            params,
        )
    };
    let spec = audio::float_spec(SAMPLE_RATE);
    audio::write_wav(&args.out, std::slice::from_ref(&out), spec)?;
    if let Some(p) = &args.noisy_out {
        audio::write_wav(p, std::slice::from_ref(&noisy), spec)?;
    }
    println!(
        "noisy:  SNR {:6.2} dB  SI-SDR {:6.2} dB",
        audio::snr_db(&clean, &noisy),
        audio::si_sdr_db(&clean, &noisy)
    );
    println!(
        "output: SNR {:6.2} dB  SI-SDR {:6.2} dB",
        audio::snr_db(&clean, &out),
        audio::si_sdr_db(&clean, &out)
    );
    Ok(())
}

/// Parses a probability in 0..=1.
fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s} is not a probability in 0..=1")),
    }
}

fn features_cmd(a: FeaturesArgs) -> Result<()> {
    let speech = dataset::read_list(&a.speech)?;
    let noise = dataset::read_list(&a.noise)?;
    let irs = match &a.irs {
        Some(p) => dataset::load_irs(p)?,
        None => Vec::new(),
    };
    let defaults = dataset::MixConfig::default();
    let cfg = dataset::MixConfig {
        segment_s: a.segment,
        p_speech_only: a.p_speech_only.unwrap_or(defaults.p_speech_only),
        p_lowpass: a.p_lowpass.unwrap_or(defaults.p_lowpass),
        p_noise_only: a.p_noise_only.unwrap_or(defaults.p_noise_only),
        clean_floor: !a.keep_floor,
        p_hum: a.p_hum.unwrap_or(defaults.p_hum),
        ..defaults
    };
    let frames = dataset::generate(&a.out, &speech, &noise, &irs, &cfg, a.seed, a.count)?;
    println!(
        "{}: {frames} frames ({:.2} h)",
        a.out.display(),
        frames as f64 * HOP as f64 / SAMPLE_RATE as f64 / 3600.0
    );
    Ok(())
}

fn load_network(weights: Option<&std::path::Path>) -> Result<Network> {
    let bytes = match weights {
        Some(p) => {
            std::fs::read(p).with_context(|| format!("cannot read weights {}", p.display()))?
        }
        None => match percepnet::model::embedded_weights() {
            Some(b) => b.to_vec(),
            None => bail!("this build has no embedded weights: pass --weights FILE.pnw"),
        },
    };
    Network::from_bytes(&bytes).map_err(|e| {
        anyhow!(
            "{}: {e}",
            weights.map_or("embedded weights".into(), |p| p.display().to_string())
        )
    })
}

/// `percepnet denoise`: plans the jobs, denoises them in parallel, reports failures.
fn denoise_cmd(a: DenoiseArgs) -> Result<ExitCode> {
    let (inputs, destination) = denoise_destination(&a).unwrap_or_else(|e| e.exit());
    let explicit = matches!(destination, Destination::Explicit(_));
    if a.presence_csv.is_some() && !explicit {
        denoise_usage_error("--presence-csv needs the IN OUT form (one input, one output)").exit();
    }
    let mut plan = batch::plan(
        &inputs,
        &PlanOptions {
            destination,
            recursive: a.recursive,
            overwrite: a.overwrite,
        },
    )?;
    if explicit && !plan.refused.is_empty() {
        // The single-file form fails with its one error, as before.
        return Err(plan.refused.swap_remove(0));
    }
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    if let Some(job) = plan.jobs.first_mut() {
        job.presence_csv.clone_from(&a.presence_csv);
    }
    for e in &plan.refused {
        eprintln!("error: {e:#}");
    }
    let mut net = load_network(a.weights.as_deref())?;
    if !a.f32 {
        net = net.with_precision(Precision::Int8);
    }
    let settings = Settings {
        params: DenoiserParams {
            attenuation_limit_db: a.attenuation_limit,
            post_filter: a.post_filter,
        },
        output: a.output_settings(),
        threads: a.jobs,
        progress: true,
        print_failures: !explicit,
    };
    let results = batch::run(&plan.jobs, &net, &settings)?;
    if explicit {
        return results
            .into_iter()
            .next()
            .unwrap_or(Ok(()))
            .map(|()| ExitCode::SUCCESS);
    }
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let failed = results.len() - ok + plan.refused.len();
    eprintln!("{ok} ok, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The inputs and where their outputs go, from the command line: `IN OUT`, `--out-dir`, or
/// `--suffix`.
fn denoise_destination(a: &DenoiseArgs) -> Result<(Vec<PathBuf>, Destination), clap::Error> {
    match (&a.out_dir, &a.suffix) {
        (Some(dir), suffix) => Ok((
            a.paths.clone(),
            Destination::Folder {
                dir: dir.clone(),
                suffix: suffix.clone().unwrap_or_default(),
            },
        )),
        (None, Some(suffix)) => Ok((
            a.paths.clone(),
            Destination::NextToInput {
                suffix: suffix.clone(),
            },
        )),
        (None, None) => match a.paths.as_slice() {
            [input, output] => Ok((vec![input.clone()], Destination::Explicit(output.clone()))),
            _ => Err(denoise_usage_error(
                "give IN OUT for one file, or --out-dir DIR or --suffix SUFFIX for several \
                 files and folders",
            )),
        },
    }
}

/// A command-line error shown with `percepnet denoise`'s usage (exit status 2).
fn denoise_usage_error(message: &str) -> clap::Error {
    let kind = clap::error::ErrorKind::WrongNumberOfValues;
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand_mut("denoise") {
        Some(denoise) => denoise.error(kind, message),
        None => cli.error(kind, message),
    }
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    let mut nets = Vec::new();
    if a.weights.is_some() || percepnet::model::embedded_weights().is_some() {
        nets.push(("shipped".to_string(), load_network(a.weights.as_deref())?));
    }
    nets.push((
        "full-size, timing weights".to_string(),
        bench::full_size_timing_network(),
    ));
    nets.push((
        format!(
            "full-size, GRUs {:.0} % block-sparse, timing weights",
            100.0 * bench::FULL_SIZE_GRU_DENSITY
        ),
        bench::full_size_sparse_timing_network(),
    ));
    println!("| stage | real-time factor | % of one core |\n|---|---|---|");
    for s in bench::run(a.seconds, &nets) {
        println!("| {} | {:.5} | {:.2} % |", s.name, s.rtf, 100.0 * s.rtf);
    }
    Ok(())
}

fn main() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Oracle(a) => oracle_cmd(a).map(|()| ExitCode::SUCCESS),
        Command::Features(a) => features_cmd(a).map(|()| ExitCode::SUCCESS),
        Command::Denoise(a) => denoise_cmd(a),
        Command::Bench(a) => bench_cmd(a).map(|()| ExitCode::SUCCESS),
    }
}
