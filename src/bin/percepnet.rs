//! `percepnet`: the command-line front end of the denoiser.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use percepnet::audio::{self, Audio};
use percepnet::denoiser::DenoiserParams;
use percepnet::oracle::{self, OracleOptions};
use percepnet::SAMPLE_RATE;

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
        bail!("{}: sample rate {} Hz; the oracle needs {} Hz input", path.display(), a.sample_rate, SAMPLE_RATE);
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
        oracle::run_band_oracle(&clean, &noisy, OracleOptions { comb: !args.no_comb }, params)
    };
    let spec = audio::float_spec(SAMPLE_RATE);
    audio::write_wav(&args.out, &[out.clone()], spec)?;
    if let Some(p) = &args.noisy_out {
        audio::write_wav(p, &[noisy.clone()], spec)?;
    }
    println!(
        "noisy:  SNR {:6.2} dB  SI-SDR {:6.2} dB",
        audio::snr_db(&clean, &noisy),
        audio::si_sdr_db(&clean, &noisy)
    );
    println!("output: SNR {:6.2} dB  SI-SDR {:6.2} dB", audio::snr_db(&clean, &out), audio::si_sdr_db(&clean, &out));
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Oracle(a) => oracle_cmd(a),
    }
}
