//! The standalone's command line. It replaces nice-plug's own standalone options (which it
//! passes on to the wrapper, see `mod.rs`) with the ones a live microphone needs.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use super::params::ParamTable;

/// The audio system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// JACK if a JACK server (or PipeWire's JACK layer) answers, else the sound devices.
    Auto,
    /// A running JACK server (jackd, or PipeWire through pipewire-jack).
    Jack,
    /// ALSA devices directly (the sound card must be free).
    #[cfg(target_os = "linux")]
    Alsa,
    /// CoreAudio devices.
    #[cfg(target_os = "macos")]
    CoreAudio,
    /// WASAPI devices.
    #[cfg(target_os = "windows")]
    Wasapi,
    /// No audio at all: the editor alone (for screenshots and tests).
    Dummy,
}

/// Mono or stereo processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Channels {
    /// JACK: as many as --jack-inputs names (2 without); ALSA: 2 if the input device has 2,
    /// else 1.
    Auto,
    /// One channel (a microphone).
    #[value(name = "1")]
    Mono,
    /// Two channels.
    #[value(name = "2")]
    Stereo,
}

/// PercepNet as a live microphone denoiser: audio in, denoised audio out, 30 ms later.
#[derive(Debug, Parser)]
#[command(name = "percepnet-standalone", version)]
pub struct Cli {
    /// Audio system.
    #[arg(short, long, value_enum, default_value_t = Backend::Auto, help_heading = "Audio")]
    pub backend: Backend,

    /// JACK ports feeding the denoiser, comma separated (e.g. `system:capture_1`). One port feeds
    /// every channel; two feed left and right. Without it the inputs stay unconnected (silence)
    /// until you connect them (qjackctl, qpwgraph, jack_connect).
    #[arg(long, value_name = "PORTS", help_heading = "Audio")]
    pub jack_inputs: Option<String>,

    /// JACK ports the denoised output goes to, comma separated (e.g. OBS's JACK input ports);
    /// `none` leaves the outputs unconnected. Default: system:playback_1 and _2. Ports that do
    /// not exist yet (a program started later) are connected when they appear.
    #[arg(long, value_name = "PORTS", help_heading = "Audio")]
    pub jack_outputs: Option<String>,

    /// ALSA capture device: an id or a name from --list-devices (e.g. `default`,
    /// `hw:CARD=Mic,DEV=0`).
    #[arg(long, value_name = "NAME", help_heading = "Audio")]
    pub input_device: Option<String>,

    /// ALSA playback device: an id or a name from --list-devices (default: the default output
    /// device).
    #[arg(long, value_name = "NAME", help_heading = "Audio")]
    pub output_device: Option<String>,

    /// Mono or stereo processing.
    #[arg(long, value_enum, default_value_t = Channels::Auto, help_heading = "Audio")]
    pub channels: Channels,

    /// ALSA and dummy sample rate in Hz (with JACK the server's rate is used).
    #[arg(
        long,
        default_value_t = 48_000,
        value_name = "HZ",
        help_heading = "Audio"
    )]
    pub sample_rate: u32,

    /// ALSA and dummy period in samples (with JACK the server's period is used).
    #[arg(
        long,
        default_value_t = 256,
        value_name = "SAMPLES",
        help_heading = "Audio"
    )]
    pub period_size: u32,

    /// ALSA only: buffering between the capture and the playback stream, in seconds; raise it
    /// if the sound crackles.
    #[arg(
        long,
        default_value_t = 0.03,
        value_name = "SECONDS",
        help_heading = "Audio"
    )]
    pub input_latency: f32,

    /// List the ALSA devices and, if a JACK server runs, its audio ports, then exit.
    #[arg(long, help_heading = "Audio")]
    pub list_devices: bool,

    /// Set a parameter, e.g. `--set attenuation_limit=20 --set post_filter=50%` (ids and ranges
    /// below). Repeatable; overrides the state file, and is remembered like a change in the
    /// window.
    #[arg(long = "set", value_name = "ID=VALUE", help_heading = "Parameters")]
    pub set: Vec<String>,

    /// File the parameters are read from at start and written to on a clean exit (default: see
    /// below).
    #[arg(long, value_name = "PATH", help_heading = "Parameters")]
    pub state_file: Option<PathBuf>,

    /// Neither read nor write the state file.
    #[arg(long, conflicts_with = "state_file", help_heading = "Parameters")]
    pub no_state: bool,

    /// Start from the default parameters, ignoring the state file (which is still written on
    /// exit).
    #[arg(long, help_heading = "Parameters")]
    pub reset: bool,

    /// Run without a window (a headless streaming box); stop with Ctrl-C or SIGTERM.
    #[arg(long, help_heading = "Window")]
    pub no_gui: bool,

    /// The window's scale factor.
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "FACTOR",
        help_heading = "Window"
    )]
    pub dpi_scale: f64,
}

/// The text after the options: parameters, state file, latency, exit.
fn after_help(table: &ParamTable, state_path: &str) -> String {
    format!(
        "Parameters (--set ID=VALUE; VALUE is the number in the range shown, the text the \
         window shows such as 35%, or on/off):\n{}\n\
         State file: {state_path}\n\
         \n\
         Latency: the denoiser delays its output by 30 ms at 48 kHz (1440 samples; 33.3 ms at \
         44.1 kHz); the exact figure for the running rate is printed at start. JACK adds no \
         period of its own between a capture port and the programs that read the output in the \
         same cycle; ALSA adds --input-latency and one period.\n\
         \n\
         Stop with Ctrl-C (in a terminal, also with the window open), SIGTERM, or by closing \
         the window: the parameters are then saved.\n\
         \n\
         Examples:\n  \
         percepnet-standalone --jack-inputs system:capture_1 --no-gui\n  \
         percepnet-standalone --backend alsa --input-device default --set attenuation_limit=25\n  \
         pw-jack percepnet-standalone --jack-inputs 'alsa_input.usb-Mic:capture_MONO'    (PipeWire)",
        table.help_table()
    )
}

impl Cli {
    /// Parses the command line; `--help` lists the parameters of `table`.
    pub fn parse_with(table: &ParamTable, state_path: &str) -> Self {
        let matches = Self::command()
            .after_help(after_help(table, state_path))
            .get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The JACK ports of a comma-separated list option.
    pub fn ports(list: &Option<String>) -> Vec<String> {
        list.as_deref()
            .map(|l| {
                l.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}
