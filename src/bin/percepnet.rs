//! `percepnet`: the command-line front end of the denoiser.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};

use percepnet::audio::{self, Audio};
use percepnet::denoiser::{Denoiser, DenoiserParams};
use percepnet::model::{Network, NetworkEstimator};
use percepnet::oracle::{self, OracleOptions};
use percepnet::{bench, dataset};
use percepnet::{resample, HOP, LATENCY, SAMPLE_RATE};

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
    /// Denoise a WAV or FLAC file (any sample rate and channel count) into a WAV file of the
    /// input's format, time-aligned with the input.
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
    /// Output .pnf file.
    out: PathBuf,
}

#[derive(clap::Args)]
struct DenoiseArgs {
    /// Input WAV or FLAC.
    input: PathBuf,
    /// Output WAV (same format as the input).
    output: PathBuf,
    /// Weights file (.pnw); default: the weights built into this binary.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Attenuation limit in dB (0-100; 100 = no limit).
    #[arg(long, default_value_t = 100.0)]
    attenuation_limit: f32,
    /// Envelope post-filter strength (0-1).
    #[arg(long, default_value_t = 1.0)]
    post_filter: f32,
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

fn features_cmd(a: FeaturesArgs) -> Result<()> {
    let speech = dataset::read_list(&a.speech)?;
    let noise = dataset::read_list(&a.noise)?;
    let irs = match &a.irs {
        Some(p) => dataset::load_irs(p)?,
        None => Vec::new(),
    };
    let cfg = dataset::MixConfig {
        segment_s: a.segment,
        ..Default::default()
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

/// Files longer than this many seconds get a progress bar.
const PROGRESS_MIN_SECONDS: usize = 20;

fn denoise_cmd(a: DenoiseArgs) -> Result<()> {
    if a.input == a.output
        || a.output
            .canonicalize()
            .ok()
            .is_some_and(|o| a.input.canonicalize().ok() == Some(o))
    {
        bail!("refusing to overwrite the input {}", a.input.display());
    }
    if !a
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
    {
        bail!("{}: the output must be a .wav file", a.output.display());
    }
    let input = audio::read_audio(&a.input)?;
    let net = load_network(a.weights.as_deref())?;
    let params = DenoiserParams {
        attenuation_limit_db: a.attenuation_limit,
        post_filter: a.post_filter,
    };
    let at_48k = resample::resample(&input.channels, input.sample_rate, SAMPLE_RATE)?;
    let total: usize = at_48k.iter().map(Vec::len).sum();
    let bar =
        if total > PROGRESS_MIN_SECONDS * SAMPLE_RATE as usize && std::io::stderr().is_terminal() {
            indicatif::ProgressBar::new(total as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}% eta {eta}")
            .unwrap_or(indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(a.input.display().to_string());
    let denoised: Vec<Vec<f32>> = at_48k
        .iter()
        .map(|ch| {
            let mut engine = Denoiser::new(NetworkEstimator::new(net.clone()));
            engine.set_params(params);
            denoise_channel(&mut engine, ch, &bar)
        })
        .collect();
    bar.finish_and_clear();
    let mut out = resample::resample(&denoised, SAMPLE_RATE, input.sample_rate)?;
    out.iter_mut().for_each(|c| c.resize(input.frames(), 0.0));
    audio::write_wav(&a.output, &out, input.spec)
}

/// Denoises one 48 kHz channel, time-aligned (latency removed), advancing `bar`.
fn denoise_channel(
    engine: &mut Denoiser<NetworkEstimator>,
    x: &[f32],
    bar: &indicatif::ProgressBar,
) -> Vec<f32> {
    let mut padded = x.to_vec();
    padded.resize(x.len() + LATENCY, 0.0);
    let mut out = vec![0.0; padded.len()];
    for (i, o) in padded
        .chunks(SAMPLE_RATE as usize)
        .zip(out.chunks_mut(SAMPLE_RATE as usize))
    {
        engine.process(i, o);
        bar.inc(i.len() as u64);
    }
    out.drain(..LATENCY);
    out.truncate(x.len());
    out
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
    println!("| stage | real-time factor | % of one core |\n|---|---|---|");
    for s in bench::run(a.seconds, &nets) {
        println!("| {} | {:.5} | {:.2} % |", s.name, s.rtf, 100.0 * s.rtf);
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Oracle(a) => oracle_cmd(a),
        Command::Features(a) => features_cmd(a),
        Command::Denoise(a) => denoise_cmd(a),
        Command::Bench(a) => bench_cmd(a),
    }
}
