//! `percepnet-standalone`: the plugin as a live microphone denoiser, on top of nice-plug's
//! standalone wrapper (`nice_export_standalone_with_args`), which runs the audio (JACK, ALSA or
//! nothing) and the window. This module chooses and checks everything first (devices, JACK
//! ports, display), then starts the wrapper with matching options:
//!
//! 1. parse the command line (`cli.rs`; `--help` lists the plugin's parameters),
//! 2. read the state file and `--set` (`state.rs`, `params.rs`),
//! 3. check the audio backend (`jack.rs`, `devices.rs`) and pick mono or stereo,
//! 4. measure the plugin's latency at the running rate and print it (`latency.rs`),
//! 5. run the wrapper with [`plugin::LivePlugin`] (and, on JACK, a control client that makes
//!    the connections and counts xruns) until Ctrl-C, SIGTERM or the window closes,
//! 6. on a clean exit, save the parameters.

mod cli;
mod devices;
mod editor;
mod jack;
mod latency;
mod params;
mod plugin;
mod signals;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use nice_plug::prelude::{nice_export_standalone_with_args, Plugin};
use percepnet::plugin::PercepNet;

use cli::{Backend, Channels, Cli};
use params::ParamTable;
use plugin::{LivePlugin, Startup};

/// Prefix of everything this program prints.
const ME: &str = "percepnet-standalone";

/// The audio side, checked.
struct Plan {
    /// nice-plug's `--backend` value.
    backend: &'static str,
    channels: u32,
    sample_rate: u32,
    period: u32,
    /// Further wrapper options (devices, buffering).
    extra: Vec<String>,
    /// On JACK, the server as checked.
    jack: Option<jack::JackPlan>,
}

/// Runs the standalone; the process exit code.
pub fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{ME}: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    let probe = PercepNet::default();
    let table = ParamTable::new(probe.params());
    let default_state = state::default_path();
    let shown_path = default_state.as_ref().map_or_else(
        || "none by default (no HOME or config folder); use --state-file".to_owned(),
        |p| p.display().to_string(),
    );
    let cli = Cli::parse_with(&table, &shown_path);
    if cli.list_devices {
        devices::print_devices();
        jack::print_ports();
        return Ok(ExitCode::SUCCESS);
    }

    let state_path = match (&cli.state_file, cli.no_state) {
        (_, true) => None,
        (Some(path), false) => Some(path.clone()),
        (None, false) => default_state,
    };
    let values = start_values(&cli, &table, state_path.as_ref())?;
    for (id, plain) in &values {
        table.set(id, *plain)?;
    }

    let plan = plan(&cli)?;
    if !cli.no_gui {
        check_display()?;
    }
    let latency = latency::measure(plan.sample_rate as f32, plan.channels, plan.period)
        .context("measuring the plugin's latency")?;
    eprintln!(
        "{ME}: {} backend, {} channel(s), {} Hz, period {} samples",
        plan.backend, plan.channels, plan.sample_rate, plan.period
    );
    eprintln!(
        "{ME}: latency: {latency} samples ({:.1} ms) at {} Hz",
        latency as f64 * 1000.0 / plan.sample_rate as f64,
        plan.sample_rate
    );
    if plan.jack.is_none() && plan.backend != "dummy" {
        let total = latency as f64 / plan.sample_rate as f64
            + f64::from(cli.input_latency)
            + plan.period as f64 / plan.sample_rate as f64;
        eprintln!(
            "{ME}: with the {} buffering (--input-latency {} s and one period) the sound leaves \
             about {:.0} ms after it came in",
            plan.backend,
            cli.input_latency,
            total * 1000.0
        );
    }
    eprintln!("{ME}: parameters: {}", table.summary());
    if table.bypassed() {
        eprintln!("{ME}: warning: bypass is on (remembered from the last run): no denoising");
    }
    match &state_path {
        Some(path) => eprintln!("{ME}: state file: {}", path.display()),
        None => eprintln!("{ME}: state file: none (parameters are not saved)"),
    }

    signals::forward_termination();
    plugin::set_startup(Startup {
        values,
        no_gui: cli.no_gui,
    });
    let args = wrapper_args(&plan, &cli);
    let control = match plan.jack {
        Some(server) => Some(server.start(plan.channels, latency)?),
        None => None,
    };
    let ok = nice_export_standalone_with_args::<LivePlugin, _>(args);
    if let Some(control) = control {
        eprintln!("{ME}: JACK xruns while running: {}", control.stop());
    }
    if !ok {
        eprintln!("{ME}: stopped with an error (see above); parameters not saved");
        return Ok(ExitCode::FAILURE);
    }
    if let (Some(path), Some(live)) = (state_path, plugin::live_params()) {
        let live = ParamTable::new(live);
        state::save(&path, &live, &live.values())?;
        eprintln!("{ME}: saved the parameters to {}", path.display());
    }
    eprintln!("{ME}: stopped");
    Ok(ExitCode::SUCCESS)
}

/// The parameter values to start with: the state file (unless `--reset`), then `--set`.
fn start_values(
    cli: &Cli,
    table: &ParamTable,
    path: Option<&PathBuf>,
) -> Result<Vec<params::Value>> {
    let mut values = Vec::new();
    if let (Some(path), false) = (path, cli.reset) {
        match state::load(path, table) {
            Ok(loaded) => values = loaded,
            Err(e) => eprintln!("{ME}: warning: ignoring the state file: {e:#}"),
        }
    }
    for assignment in &cli.set {
        let (id, plain) = table.parse_assignment(assignment).context("--set")?;
        values.retain(|(known, _)| *known != id);
        values.push((id, plain));
    }
    Ok(values)
}

/// Resolves `--backend auto`, checks the backend's devices or ports, picks the channels.
fn plan(cli: &Cli) -> Result<Plan> {
    let wanted = match cli.channels {
        Channels::Auto => None,
        Channels::Mono => Some(1),
        Channels::Stereo => Some(2),
    };
    let backend = match cli.backend {
        Backend::Auto if jack::server_running() => Backend::Jack,
        Backend::Auto => device_backend(),
        other => other,
    };
    let jack_options = cli.jack_inputs.is_some() || cli.jack_outputs.is_some();
    let device_options = cli.input_device.is_some() || cli.output_device.is_some();
    match backend {
        Backend::Jack => {
            if device_options {
                bail!("--input-device and --output-device are for the device backend; with JACK use --jack-inputs and --jack-outputs");
            }
            let sources = Cli::ports(&cli.jack_inputs);
            let targets = cli
                .jack_outputs
                .as_ref()
                .map(|_| Cli::ports(&cli.jack_outputs));
            let server = jack::preflight(sources.clone(), targets)?;
            let channels = wanted.unwrap_or_else(|| server.auto_channels());
            if sources.len() > channels as usize {
                bail!(
                    "--jack-inputs names {} ports for {channels} channel(s)",
                    sources.len()
                );
            }
            let mut extra = Vec::new();
            if sources.is_empty() {
                eprintln!(
                    "{ME}: note: no --jack-inputs: the inputs stay unconnected (silent) until you \
                     connect them (nice-plug's own hint below calls the option \
                     --connect-jack-inputs)"
                );
            } else {
                // The wrapper connects them right after activating its client.
                extra.extend(["--connect-jack-inputs".to_owned(), sources.join(",")]);
            }
            Ok(Plan {
                backend: "jack",
                channels,
                sample_rate: server.sample_rate,
                period: server.period,
                extra,
                jack: Some(server),
            })
        }
        Backend::Dummy => Ok(Plan {
            backend: "dummy",
            channels: wanted.unwrap_or(2),
            sample_rate: cli.sample_rate,
            period: cli.period_size,
            extra: Vec::new(),
            jack: None,
        }),
        _ => {
            if jack_options {
                bail!("--jack-inputs and --jack-outputs are for --backend jack");
            }
            if !(cli.input_latency.is_finite() && cli.input_latency > 0.0) {
                bail!("--input-latency must be a positive number of seconds");
            }
            let found = devices::preflight(
                cli.input_device.as_deref(),
                cli.output_device.as_deref(),
                wanted,
                cli.sample_rate,
                cli.period_size,
            )?;
            let mut extra = vec!["--input-device".to_owned(), found.input];
            if let Some(output) = found.output {
                extra.extend(["--output-device".to_owned(), output]);
            }
            extra.extend([
                "--input-latency".to_owned(),
                cli.input_latency.to_string(),
                "--input-capacity".to_owned(),
                (4.0 * cli.input_latency).max(0.4).to_string(),
            ]);
            Ok(Plan {
                backend: devices::API.1,
                channels: found.channels,
                sample_rate: cli.sample_rate,
                period: cli.period_size,
                extra,
                jack: None,
            })
        }
    }
}

/// This platform's device backend.
fn device_backend() -> Backend {
    #[cfg(target_os = "linux")]
    return Backend::Alsa;
    #[cfg(target_os = "macos")]
    return Backend::CoreAudio;
    #[cfg(target_os = "windows")]
    return Backend::Wasapi;
}

/// The window needs an X display on Linux: say so before the wrapper fails on it.
fn check_display() -> Result<()> {
    if cfg!(target_os = "linux") && std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
        bail!("no X display for the window (DISPLAY is not set); run with --no-gui");
    }
    Ok(())
}

/// nice-plug's standalone options for `plan`.
fn wrapper_args(plan: &Plan, cli: &Cli) -> Vec<String> {
    let layout = PercepNet::AUDIO_IO_LAYOUTS
        .iter()
        .position(|l| l.main_input_channels.map(|n| n.get()) == Some(plan.channels))
        .map_or(1, |i| i + 1);
    let mut args: Vec<String> = [
        ME,
        "--backend",
        plan.backend,
        "--audio-layout",
        &layout.to_string(),
        "--sample-rate",
        &plan.sample_rate.to_string(),
        "--period-size",
        &plan.period.to_string(),
        "--dpi-scale",
        &cli.dpi_scale.to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(plan.extra.iter().cloned());
    args
}
