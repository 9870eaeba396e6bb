//! JACK around the wrapper's own JACK client (named `percepnet`, ports `input_N`/`output_N`):
//!
//! - before start, a check that a server answers, at which rate and period, that no other
//!   `percepnet` client is on it, and that the ports named on the command line exist;
//! - while running, a small control client (`percepnet-control`) routes the outputs (the wrapper
//!   sends output N to `system:playback_N`; it connects the inputs itself, with
//!   `--connect-jack-inputs`), connects output targets that appear later (OBS started after the
//!   denoiser), and reports xruns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use jack::{Client, ClientOptions, ClientStatus, LatencyType, PortFlags};

/// The wrapper's client name: the plugin name, lower case.
pub const CLIENT: &str = "percepnet";
/// Our control client.
const CONTROL: &str = "percepnet-control";
/// JACK's audio port type.
const AUDIO: &str = "32 bit float mono audio";
/// How often the control client looks at the graph.
const POLL: Duration = Duration::from_millis(100);
/// How long after start connections may fail (the wrapper's client is not active yet) before
/// a failure is reported.
const SETTLE: Duration = Duration::from_secs(5);

/// The JACK server as found before start.
pub struct JackPlan {
    client: Client,
    pub sample_rate: u32,
    pub period: u32,
    /// Ports that feed the inputs.
    sources: Vec<String>,
    /// Ports the outputs go to.
    targets: Vec<String>,
}

/// Opens a client without starting a server; explains the usual failures.
fn open(name: &str) -> Result<(Client, ClientStatus)> {
    match Client::new(name, ClientOptions::NO_START_SERVER) {
        Ok(opened) => Ok(opened),
        Err(jack::Error::LibraryError(msg)) => bail!(
            "cannot load the JACK library ({msg}); install JACK (Debian: jackd2) or PipeWire's \
             JACK layer (pipewire-jack), or use --backend alsa"
        ),
        Err(e) => bail!(
            "no JACK server answers ({e}); start one (jackd, qjackctl, or with PipeWire run this \
             program under pw-jack), or use --backend alsa"
        ),
    }
}

/// Whether a JACK server answers (for `--backend auto`).
pub fn server_running() -> bool {
    // libjack prints its own "cannot connect" lines when no server runs: this is a probe.
    Client::new(CONTROL, ClientOptions::NO_START_SERVER).is_ok()
}

/// The audio ports with `flags`, for error messages.
fn list(client: &Client, flags: PortFlags) -> String {
    let ports = client.ports(None, Some(AUDIO), flags);
    if ports.is_empty() {
        "(none)".to_owned()
    } else {
        ports.join(", ")
    }
}

/// Prints the server's audio ports (`--list-devices`).
pub fn print_ports() {
    match Client::new(CONTROL, ClientOptions::NO_START_SERVER) {
        Ok((client, _)) => {
            println!(
                "JACK server: {} Hz, period {} samples",
                client.sample_rate(),
                client.buffer_size()
            );
            println!(
                "  ports to read from (--jack-inputs): {}",
                list(&client, PortFlags::IS_OUTPUT)
            );
            println!(
                "  ports to write to (--jack-outputs): {}",
                list(&client, PortFlags::IS_INPUT)
            );
        }
        Err(_) => println!("JACK: no server answers"),
    }
}

/// Checks the server and the named ports. `targets` `None` means the default outputs.
pub fn preflight(sources: Vec<String>, targets: Option<Vec<String>>) -> Result<JackPlan> {
    let (client, _status) = open(CONTROL)?;
    let taken = client.ports(Some(&format!("^{CLIENT}:")), None, PortFlags::empty());
    if !taken.is_empty() {
        bail!(
            "a JACK client named '{CLIENT}' is already running (another percepnet-standalone?); \
             stop it first"
        );
    }
    if sources.len() > 2 {
        bail!(
            "--jack-inputs names {} ports; give one or two",
            sources.len()
        );
    }
    for source in &sources {
        let ok = client
            .port_by_name(source)
            .is_some_and(|p| p.flags().contains(PortFlags::IS_OUTPUT));
        if !ok {
            bail!(
                "no JACK port '{source}' to read from; the server has: {}",
                list(&client, PortFlags::IS_OUTPUT)
            );
        }
    }
    let targets = match targets {
        Some(t) if t.len() == 1 && t[0] == "none" => Vec::new(),
        Some(t) => t,
        None => client.ports(
            Some("^system:playback_[12]$"),
            Some(AUDIO),
            PortFlags::IS_INPUT,
        ),
    };
    for target in &targets {
        match client.port_by_name(target) {
            Some(p) if !p.flags().contains(PortFlags::IS_INPUT) => {
                bail!("JACK port '{target}' is not an input port")
            }
            Some(_) => {}
            None => eprintln!(
                "percepnet-standalone: JACK port '{target}' does not exist yet; it will be \
                 connected when it appears (input ports now: {})",
                list(&client, PortFlags::IS_INPUT)
            ),
        }
    }
    Ok(JackPlan {
        sample_rate: client.sample_rate(),
        period: client.buffer_size(),
        client,
        sources,
        targets,
    })
}

impl JackPlan {
    /// How many channels to run: as many as the sources, 2 without.
    pub fn auto_channels(&self) -> u32 {
        if self.sources.len() == 1 {
            1
        } else {
            2
        }
    }

    /// Starts the control client for a wrapper running `channels` channels with `latency`
    /// samples of delay.
    pub fn start(self, channels: u32, latency: u32) -> Result<Control> {
        let xruns = Arc::new(AtomicU64::new(0));
        let active = self
            .client
            .activate_async(XrunCounter(xruns.clone()), ())
            .map_err(|e| anyhow::anyhow!("cannot activate the JACK control client: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut wiring = Wiring::new(channels, &self.targets);
        let thread = {
            let stop = stop.clone();
            let xruns = xruns.clone();
            std::thread::spawn(move || {
                let mut reported = 0;
                while !stop.load(Ordering::SeqCst) {
                    wiring.step(active.as_client(), latency);
                    let now = xruns.load(Ordering::SeqCst);
                    if now > reported {
                        eprintln!("percepnet-standalone: JACK xrun ({now} so far)");
                        reported = now;
                    }
                    std::thread::sleep(POLL);
                }
                let _ = active.deactivate();
            })
        };
        Ok(Control {
            stop,
            thread: Some(thread),
            xruns,
        })
    }
}

/// Counts the server's xruns (real-time safe: one atomic add).
struct XrunCounter(Arc<AtomicU64>);

impl jack::NotificationHandler for XrunCounter {
    fn xrun(&mut self, _: &Client) -> jack::Control {
        self.0.fetch_add(1, Ordering::SeqCst);
        jack::Control::Continue
    }
}

/// The running control client.
pub struct Control {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    xruns: Arc<AtomicU64>,
}

impl Control {
    /// Stops the control client; returns the xruns seen.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.xruns.load(Ordering::SeqCst)
    }
}

/// The connections the standalone wants, and how far they got.
struct Wiring {
    /// (our output, destination) pairs and whether each is made (made pairs are not remade if the
    /// user removes them, unless a port went away and came back).
    wanted: Vec<(String, String, bool)>,
    /// The wrapper's automatic connections to undo: (our output, system:playback_N).
    unwanted: Vec<(String, String)>,
    /// When our ports first appeared.
    appeared: Option<Instant>,
    reported: HashMap<String, ()>,
    announced: bool,
}

impl Wiring {
    fn new(channels: u32, targets: &[String]) -> Self {
        let outputs: Vec<String> = (1..=channels)
            .map(|i| format!("{CLIENT}:output_{i}"))
            .collect();
        let mut wanted = Vec::new();
        // Mono: the output goes to every target; stereo: output N to target N (one target
        // takes both).
        for (i, target) in targets.iter().enumerate() {
            let output = &outputs[i.min(outputs.len() - 1)];
            wanted.push((output.clone(), target.clone(), false));
        }
        let unwanted = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.clone(), format!("system:playback_{}", i + 1)))
            .filter(|(o, p)| !wanted.iter().any(|(s, d, _)| s == o && d == p))
            .collect();
        Self {
            wanted,
            unwanted,
            appeared: None,
            reported: HashMap::new(),
            announced: false,
        }
    }

    /// One look at the graph: makes what is missing, undoes the wrapper's defaults.
    fn step(&mut self, client: &Client, latency: u32) {
        let ours = format!("{CLIENT}:output_1");
        let Some(first_output) = client.port_by_name(&ours) else {
            return;
        };
        let appeared = *self.appeared.get_or_insert_with(Instant::now);
        let settling = appeared.elapsed() < SETTLE;
        if settling {
            for (output, playback) in &self.unwanted {
                if client
                    .port_by_name(output)
                    .is_some_and(|p| p.is_connected_to(playback).unwrap_or(false))
                {
                    let _ = client.disconnect_ports_by_name(output, playback);
                }
            }
        }
        for (source, destination, made) in &mut self.wanted {
            let both =
                client.port_by_name(source).is_some() && client.port_by_name(destination).is_some();
            if !both {
                *made = false;
                continue;
            }
            if *made {
                continue;
            }
            match client.connect_ports_by_name(source, destination) {
                Ok(()) | Err(jack::Error::PortAlreadyConnected(..)) => {
                    *made = true;
                    eprintln!("percepnet-standalone: JACK: connected {source} -> {destination}");
                }
                Err(e) if !settling && !self.reported.contains_key(destination) => {
                    eprintln!(
                        "percepnet-standalone: warning: cannot connect {source} -> \
                         {destination}: {e}"
                    );
                    self.reported.insert(destination.clone(), ());
                }
                Err(_) => {}
            }
        }
        if !self.announced && self.wanted.iter().all(|w| w.2) {
            self.announced = true;
            let (_, max) = first_output.get_latency_range(LatencyType::Capture);
            eprintln!(
                "percepnet-standalone: running on JACK at {} Hz, period {} samples; the \
                 denoiser adds {latency} samples ({:.1} ms); JACK reports a capture latency of \
                 {max} samples at its output, without those (nice-plug does not declare them)",
                client.sample_rate(),
                client.buffer_size(),
                latency as f64 * 1000.0 / client.sample_rate() as f64,
            );
        }
    }
}
