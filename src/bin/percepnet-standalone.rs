//! PercepNet as a standalone application: a live microphone denoiser on JACK (also PipeWire's
//! JACK layer) or ALSA, with the plugin's window or headless (`--no-gui`). `--help` lists the
//! options and the parameters; `src/bin/standalone/` holds the parts.

mod standalone;

fn main() -> std::process::ExitCode {
    standalone::main()
}
