//! Sound devices through the operating system's audio API (ALSA on Linux, CoreAudio on macOS,
//! WASAPI on Windows), as nice-plug's standalone wrapper opens them (with the `cpal` crate):
//! checked before start so that an unknown, unsuitable or busy device is a clear error rather
//! than a panic inside the wrapper.

use anyhow::{bail, Context, Result};
use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{
    BufferSize, Device, ErrorKind, Host, HostId, SupportedBufferSize, SupportedStreamConfigRange,
};

/// This platform's audio API and the name nice-plug's `--backend` gives it.
#[cfg(target_os = "linux")]
pub const API: (HostId, &str) = (HostId::Alsa, "alsa");
#[cfg(target_os = "macos")]
pub const API: (HostId, &str) = (HostId::CoreAudio, "core-audio");
#[cfg(target_os = "windows")]
pub const API: (HostId, &str) = (HostId::Wasapi, "wasapi");

/// Devices and settings that passed the checks (devices by the name the wrapper looks for).
pub struct DevicePlan {
    pub input: String,
    pub output: Option<String>,
    pub channels: u32,
}

fn host() -> Result<Host> {
    cpal::host_from_id(API.0).with_context(|| format!("the {} audio API is unavailable", API.1))
}

/// The name the wrapper opens a device by (ALSA: the first line of its description).
fn name(device: &Device) -> Option<String> {
    device.description().ok().map(|d| d.name().to_owned())
}

/// The device's own id where the API has one (ALSA: the PCM name, e.g. `hw:CARD=Mic,DEV=0`).
fn id(device: &Device) -> Option<String> {
    device
        .description()
        .ok()
        .and_then(|d| d.driver().map(str::to_owned))
}

/// Finds a device by id or by name; returns it with the name the wrapper will look for. The
/// wrapper opens the first device of that name, so a device chosen by id must be that one.
fn find(devices: Vec<Device>, wanted: &str, what: &str) -> Result<Option<(Device, String)>> {
    let Some(index) = devices
        .iter()
        .position(|d| id(d).as_deref() == Some(wanted))
        .or_else(|| {
            devices
                .iter()
                .position(|d| name(d).as_deref() == Some(wanted))
        })
    else {
        return Ok(None);
    };
    let name = name(&devices[index]).context("a device without a name")?;
    let first = devices
        .iter()
        .position(|d| self::name(d).as_deref() == Some(name.as_str()));
    if first != Some(index) {
        bail!(
            "{what} device '{wanted}' shares its name '{name}' with '{}', which nice-plug's \
             standalone wrapper (it opens devices by name) would open instead; choose another \
             device, or use JACK",
            first.and_then(|i| id(&devices[i])).unwrap_or_default()
        );
    }
    let device = devices.into_iter().nth(index).context("found above")?;
    Ok(Some((device, name)))
}

/// Whether `range` takes `rate` Hz and periods of `period` samples (the wrapper's test).
fn fits(range: &SupportedStreamConfigRange, rate: u32, period: u32) -> bool {
    (range.min_sample_rate()..=range.max_sample_rate()).contains(&rate)
        && matches!(range.buffer_size(), SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&period))
}

/// One line per device: id, name and what it takes.
fn describe(devices: impl Iterator<Item = Device>, input: bool) -> String {
    let mut out = String::new();
    for device in devices {
        let Some(name) = name(&device) else { continue };
        let label = match id(&device) {
            Some(id) if id != name => format!("{id}  ({name})"),
            _ => name,
        };
        let configs: Vec<SupportedStreamConfigRange> = if input {
            device.supported_input_configs().map(Iterator::collect)
        } else {
            device.supported_output_configs().map(Iterator::collect)
        }
        .unwrap_or_default();
        let channels = configs
            .iter()
            .map(|c| (c.channels(), c.channels()))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let channels = match channels {
            Some((lo, hi)) if lo == hi => lo.to_string(),
            Some((lo, hi)) => format!("{lo}-{hi}"),
            None => "?".to_owned(),
        };
        let rates = configs
            .iter()
            .map(|c| (c.min_sample_rate(), c.max_sample_rate()))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let rates = rates.map_or("?".to_owned(), |(lo, hi)| format!("{lo}-{hi} Hz"));
        out.push_str(&format!("  {label}: {channels} channel(s), {rates}\n"));
    }
    if out.is_empty() {
        out.push_str("  (none)\n");
    }
    out
}

fn input_list(host: &Host) -> String {
    host.input_devices()
        .map(|d| describe(d, true))
        .unwrap_or_else(|e| format!("  (cannot list: {e})\n"))
}

fn output_list(host: &Host) -> String {
    host.output_devices()
        .map(|d| describe(d, false))
        .unwrap_or_else(|e| format!("  (cannot list: {e})\n"))
}

/// Prints the devices (`--list-devices`).
pub fn print_devices() {
    match host() {
        Ok(host) => {
            println!("{} capture devices (--input-device):", API.1);
            print!("{}", input_list(&host));
            println!("{} playback devices (--output-device):", API.1);
            print!("{}", output_list(&host));
        }
        Err(e) => println!("{e:#}"),
    }
}

/// Explains a stream that would not open.
fn open_error(what: &str, name: &str, e: cpal::Error) -> anyhow::Error {
    match e.kind() {
        ErrorKind::DeviceBusy => anyhow::anyhow!(
            "{what} device '{name}' is busy: another program holds it (a JACK server or \
             PipeWire/PulseAudio may own the card: then use --backend jack, or ALSA's 'default' \
             or 'pipewire' device)"
        ),
        _ => anyhow::anyhow!("cannot open {what} device '{name}': {e}"),
    }
}

/// Checks the devices: they exist, take `rate` Hz and `period`-sample periods, the input with
/// `channels` channels (`None`: 2 if it can, else 1), and the input opens (not busy).
pub fn preflight(
    input: Option<&str>,
    output: Option<&str>,
    channels: Option<u32>,
    rate: u32,
    period: u32,
) -> Result<DevicePlan> {
    let host = host()?;
    let Some(input) = input else {
        bail!(
            "choose the microphone with --input-device (inputs are never opened by default, \
             to avoid feedback); {} capture devices:\n{}",
            API.1,
            input_list(&host)
        );
    };
    let inputs = host
        .input_devices()
        .context("cannot list the capture devices")?
        .collect();
    let (device, input_name) = find(inputs, input, "input")?.with_context(|| {
        format!(
            "unknown input device '{input}'; {} capture devices:\n{}",
            API.1,
            input_list(&host)
        )
    })?;
    let configs: Vec<SupportedStreamConfigRange> = device
        .supported_input_configs()
        .map_err(|e| open_error("input", input, e))?
        .filter(|c| fits(c, rate, period))
        .collect();
    let takes = |n: u32| configs.iter().any(|c| u32::from(c.channels()) == n);
    let channels = match channels {
        Some(n) if takes(n) => n,
        None if takes(2) => 2,
        None if takes(1) => 1,
        _ => bail!(
            "input device '{input}' does not take {} channel(s) at {rate} Hz with {period}-sample \
             periods; try --channels, --sample-rate or --period-size ({} capture devices:\n{})",
            channels.map_or("1 or 2".to_owned(), |n| n.to_string()),
            API.1,
            input_list(&host)
        ),
    };
    // The wrapper panics if the stream does not open: open it once here to say why instead.
    let range = configs
        .iter()
        .filter(|c| u32::from(c.channels()) == channels)
        .find(|c| c.sample_format() == cpal::SampleFormat::F32)
        .or_else(|| configs.iter().find(|c| u32::from(c.channels()) == channels))
        .context("checked above")?;
    let config = cpal::StreamConfig {
        channels: range.channels(),
        sample_rate: rate,
        buffer_size: BufferSize::Fixed(period),
    };
    let stream = device
        .build_input_stream_raw(config, range.sample_format(), |_, _| {}, |_| {}, None)
        .map_err(|e| open_error("input", input, e))?;
    drop(stream);

    let mut output_name = None;
    if let Some(output) = output {
        let outputs = host
            .output_devices()
            .context("cannot list the playback devices")?
            .collect();
        let (device, name) = find(outputs, output, "output")?.with_context(|| {
            format!(
                "unknown output device '{output}'; {} playback devices:\n{}",
                API.1,
                output_list(&host)
            )
        })?;
        output_name = Some(name);
        let fits_any = device
            .supported_output_configs()
            .map_err(|e| open_error("output", output, e))?
            .any(|c| fits(&c, rate, period));
        if !fits_any {
            bail!("output device '{output}' does not take {rate} Hz with {period}-sample periods");
        }
    } else {
        let usable = host.default_output_device().is_some_and(|device| {
            device
                .supported_output_configs()
                .is_ok_and(|mut configs| configs.any(|c| fits(&c, rate, period)))
        });
        if !usable {
            bail!(
                "no usable default playback device at {rate} Hz with {period}-sample periods; \
                 choose one with --output-device:\n{}",
                output_list(&host)
            );
        }
    }
    Ok(DevicePlan {
        input: input_name,
        output: output_name,
        channels,
    })
}
