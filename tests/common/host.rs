//! A CLAP host for the tests, built from the crates.io `clack-host` crate: it loads the bundled
//! plugin (`target/bundled/percepnet.clap`) as a real host would, and streams audio through it
//! in any block sizes with parameter automation. Shared by the `clap_*` test files, which check
//! what a host relies on, by subject: latency and exact delay (`clap_latency`), sample rates
//! (`clap_rates`), the trained network's effect (`clap_denoising`), hostile input, recovery and
//! the soak (`clap_host`), the stereo link (`clap_stereo`), the parameter state (`clap_state`)
//! and the voice gate, mix and output mode (`clap_gate`).
//!
//! With a 0 dB attenuation limit the engine is an exact delay, so at 48 kHz the output must
//! equal the input delayed by the reported latency, bypassed or not. At the other rates the
//! plugin resamples to 48 kHz and back: the output is then the input delayed by the reported
//! latency (to within the rounding of a fractional delay) up to a small resampling error,
//! measured on band-limited noise.
//!
//! Build the bundle first: `cargo xtask bundle percepnet`; built with
//! `--features assert_process_allocs`, any allocation in `process` aborts these tests.

use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::OnceLock;

use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

/// The plugin's CLAP id.
pub const PLUGIN_ID: &CStr = c"org.percepnet.denoiser";

/// The engine's sample rate, where the plugin runs without resampling.
pub const SAMPLE_RATE: f64 = percepnet::SAMPLE_RATE as f64;

/// The host rates hosts offer, with the latency the plugin must report there (see
/// `src/plugin/rate.rs`): 30 ms at 48 kHz, 33.3 ms at most others (44.1 kHz: 1469.5 rounded
/// up), more where the resamplers need longer blocks (8, 16, 24 kHz: 40 ms, 32 kHz: 35 ms, 22.05 kHz: 46.7 ms,
/// 11.025 kHz: 73.3 ms).
pub const SUPPORTED: [(f64, usize); 15] = [
    (8_000.0, 320),
    (11_025.0, 808),
    (16_000.0, 640),
    (22_050.0, 1_029),
    (24_000.0, 960),
    (32_000.0, 1_120),
    (44_100.0, 1_470),
    (48_000.0, 1_440),
    (88_200.0, 2_940),
    (96_000.0, 3_200),
    (176_400.0, 5_880),
    (192_000.0, 6_400),
    (352_800.0, 11_760),
    (384_000.0, 12_800),
    (768_000.0, 25_600),
];

/// Band of the noise used to measure the resampled paths, in Hz (the top is lowered to
/// [`NOISE_TOP_OF_NYQUIST`] of the host's Nyquist frequency at low rates).
pub const NOISE_BAND: (f64, f64) = (100.0, 15_000.0);

/// Top of the test noise as a share of the host's Nyquist frequency, where that is below
/// [`NOISE_BAND`]'s top: the resamplers' anti-aliasing filters start rolling off above it.
pub const NOISE_TOP_OF_NYQUIST: f64 = 0.7;

/// Smallest accepted ratio of that noise to the error of the delayed output, in dB. Measured:
/// 119.7 (192 kHz) to 133 dB (96 kHz) through the resamplers, 135 dB at 48 kHz (single
/// precision rounding: the resamplers are transparent in that band).
pub const MIN_SNR_DB: f64 = 100.0;

/// Largest block the tests send.
pub const MAX_BLOCK: usize = 8192;

/// Block sizes sent first, before pseudo-random ones: single samples, odd sizes, one hop,
/// and the largest block.
pub const FIXED_BLOCKS: [usize; 8] = [1, 7, 480, 511, 4096, 8192, 1, 3];

/// Seconds of audio per stream.
pub const STREAM_SECONDS: f64 = 3.0;

/// Largest accepted difference between the output and the delayed input.
pub const TOLERANCE: f32 = 1e-5;

/// Display names of the parameters (see `src/plugin/params.rs`).
pub const ATTENUATION_LIMIT: &str = "Attenuation Limit";

pub const POST_FILTER: &str = "Post-Filter";

pub const STEREO_LINK: &str = "Stereo Link";
pub const GATE_THRESHOLD: &str = "Gate Threshold";
pub const GRACE: &str = "Grace";
pub const RETRO_GRACE: &str = "Retroactive Grace";
pub const GATE_DEPTH: &str = "Gate Depth";
pub const MIX: &str = "Mix";
pub const OUTPUT: &str = "Output";

/// Host callbacks: this host never needs to react to the plugin's requests (it queries the
/// latency after every activation anyway).
pub struct TestHost;

pub struct TestHostShared;

pub struct TestHostMainThread;

impl SharedHandler<'_> for TestHostShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

impl MainThreadHandler<'_> for TestHostMainThread {}

impl HostLatencyImpl for TestHostMainThread {
    fn changed(&self) {}
}

impl HostHandlers for TestHost {
    type Shared<'a> = TestHostShared;
    type MainThread<'a> = TestHostMainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostLatency>();
    }
}

/// `target/bundled`, where `cargo xtask bundle` puts the bundles (honours `CARGO_TARGET_DIR`).
pub fn bundled_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| manifest_dir.join("target"), |dir| manifest_dir.join(dir));
    target_dir.join("bundled")
}

/// Path of the bundle produced by `cargo xtask bundle percepnet`.
pub fn bundle_path() -> PathBuf {
    let path = bundled_dir().join("percepnet.clap");
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo xtask bundle percepnet` \
         (add `--features assert_process_allocs` to check that processing never allocates)",
        path.display()
    );
    path
}

/// The bundle's CLAP entry, loaded once and kept for the whole test run, as hosts do.
/// (Unloading the library while threads that used it live on is checked in `vst3_bundle.rs`.)
pub fn shared_entry() -> &'static PluginEntry {
    static ENTRY: OnceLock<PluginEntry> = OnceLock::new();
    ENTRY.get_or_init(|| {
        // SAFETY: the bundle is our own plugin, built from this repository.
        unsafe { PluginEntry::load(bundle_path()) }.expect("load the CLAP entry")
    })
}

/// One plugin instance in the test host.
pub struct TestPlugin {
    pub instance: PluginInstance<TestHost>,
}

impl TestPlugin {
    /// Instantiates the plugin from the shared entry.
    pub fn new() -> Self {
        let host_info = HostInfo::new("percepnet-tests", "percepnet", "", "0.1").unwrap();
        let instance = PluginInstance::<TestHost>::new(
            |_| TestHostShared,
            |_| TestHostMainThread,
            shared_entry(),
            PLUGIN_ID,
            &host_info,
        )
        .expect("instantiate the plugin");
        Self { instance }
    }

    /// A plugin extension the tests rely on.
    pub fn extension<E>(&mut self) -> E
    where
        E: clack_host::extensions::Extension<
            ExtensionSide = clack_host::extensions::PluginExtensionSide,
        >,
    {
        self.instance
            .plugin_handle()
            .get_extension::<E>()
            .unwrap_or_else(|| panic!("missing extension {}", std::any::type_name::<E>()))
    }

    /// Selects the audio ports configuration whose main input has `channels` channels.
    pub fn select_channels(&mut self, channels: u32) {
        let configs: PluginAudioPortsConfig = self.extension();
        let handle = self.instance.plugin_handle();
        let id = (0..configs.count(&handle))
            .find_map(|i| {
                let mut buffer = AudioPortsConfigBuffer::new();
                let config = configs.get(&handle, i, &mut buffer)?;
                let main_input = config.main_input.as_ref()?;
                (main_input.channel_count == channels).then_some(config.id)
            })
            .unwrap_or_else(|| panic!("no audio ports configuration with {channels} channels"));
        configs
            .select(&handle, id)
            .expect("select the audio ports configuration");
    }

    /// Activates at `sample_rate` for blocks of 1 to [`MAX_BLOCK`] samples.
    pub fn activate(
        &mut self,
        sample_rate: f64,
    ) -> Result<StoppedPluginAudioProcessor<TestHost>, PluginInstanceError> {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: MAX_BLOCK as u32,
        };
        self.instance.activate(|_, _| (), config)
    }

    /// The latency the plugin reports, in samples.
    pub fn latency(&mut self) -> usize {
        let latency: PluginLatency = self.extension();
        latency.get(&self.instance.plugin_handle()) as usize
    }

    /// The id of the parameter called `name`, or of the one flagged as bypass.
    pub fn param_id(&mut self, wanted: ParamQuery) -> ClapId {
        let params: PluginParams = self.extension();
        let handle = self.instance.plugin_handle();
        (0..params.count(&handle))
            .find_map(|i| {
                let mut buffer = ParamInfoBuffer::new();
                let info = params.get_info(&handle, i, &mut buffer)?;
                let found = match wanted {
                    ParamQuery::Named(name) => info.name == name.as_bytes(),
                    ParamQuery::Bypass => info.flags.contains(ParamInfoFlags::IS_BYPASS),
                };
                found.then_some(info.id)
            })
            .unwrap_or_else(|| panic!("no parameter matching {wanted:?}"))
    }

    /// A parameter's current value as the host sees it (normalized for continuous ones).
    pub fn param_value(&mut self, id: ClapId) -> f64 {
        let params: PluginParams = self.extension();
        params
            .get_value(&self.instance.plugin_handle(), id)
            .expect("read a parameter")
    }

    /// Sets parameters while the plugin is inactive, through `params.flush`.
    pub fn flush_params(&mut self, values: &[(ClapId, f64)]) {
        let params: PluginParams = self.extension();
        let events = param_events(values, 0);
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .expect("the plugin is inactive");
        params.flush(
            &mut handle,
            &InputEvents::from_buffer(&events),
            &mut OutputEvents::void(),
        );
    }

    /// Serializes the plugin state.
    pub fn save_state(&mut self) -> Vec<u8> {
        let state: PluginState = self.extension();
        let mut bytes = Vec::new();
        state
            .save(&self.instance.plugin_handle(), &mut bytes)
            .expect("save the state");
        bytes
    }

    /// Restores a state produced by [`Self::save_state`].
    pub fn load_state(&mut self, bytes: &[u8]) {
        let state: PluginState = self.extension();
        state
            .load(&self.instance.plugin_handle(), &mut &bytes[..])
            .expect("load the state");
    }
}

/// How a test finds a parameter.
#[derive(Clone, Copy, Debug)]
pub enum ParamQuery {
    Named(&'static str),
    Bypass,
}

/// Parameter value events at sample `time` of a block.
pub fn param_events(values: &[(ClapId, f64)], time: u32) -> Vec<ParamValueEvent> {
    values
        .iter()
        .map(|&(id, value)| ParamValueEvent::new(time, id, Pckn::match_all(), value))
        .collect()
}

/// Parameter changes to send with one block, chosen from the block's index.
pub type Automation<'a> = &'a dyn Fn(usize) -> Vec<(ClapId, f64)>;

/// What came out of [`run_stream`].
pub struct Stream {
    /// One `Vec` per channel, as long as the input.
    pub output: Vec<Vec<f32>>,
    /// The latency the plugin reported for this activation.
    pub latency: usize,
}

/// Activates the plugin at `sample_rate`, streams `input` (one `Vec` per channel) through it in
/// blocks of the given sizes, sending the automation's parameter changes with each block, then
/// deactivates it and returns the output.
pub fn run_stream(
    plugin: &mut TestPlugin,
    sample_rate: f64,
    input: &[Vec<f32>],
    block_sizes: impl Iterator<Item = usize>,
    automation: Automation,
) -> Stream {
    let stopped = plugin
        .activate(sample_rate)
        .unwrap_or_else(|e| panic!("activate at {sample_rate} Hz: {e:?}"));
    let latency = plugin.latency();
    let mut processor = stopped.start_processing().expect("start processing");
    let output = process_blocks(&mut processor, input, block_sizes, automation);
    plugin.instance.deactivate(processor.stop_processing());
    Stream { output, latency }
}

/// Streams `input` (one `Vec` per channel) through a started processor in blocks of the given
/// sizes, sending the automation's parameter changes with each block, and returns the output.
pub fn process_blocks(
    processor: &mut StartedPluginAudioProcessor<TestHost>,
    input: &[Vec<f32>],
    block_sizes: impl Iterator<Item = usize>,
    automation: Automation,
) -> Vec<Vec<f32>> {
    let total = input[0].len();
    let mut output = vec![Vec::with_capacity(total); input.len()];
    let mut ports = BlockPorts::new(input.len());
    let mut start = 0;
    for (block, size) in block_sizes.enumerate() {
        if start == total {
            break;
        }
        let len = size.min(total - start);
        let in_block: Vec<Vec<f32>> = input
            .iter()
            .map(|c| c[start..start + len].to_vec())
            .collect();
        // Changes land mid-block, as host automation does.
        let out_block = ports.process(processor, &in_block, &automation(block), (len / 2) as u32);
        for (out, block_out) in output.iter_mut().zip(&out_block) {
            out.extend_from_slice(block_out);
        }
        start += len;
    }
    assert_eq!(start, total, "the block sizes ran out before the signal");
    output
}

/// A small deterministic generator (64-bit LCG) for noise and block sizes.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.next_u32() as f32 / (1u64 << 30) as f32 - 1.0
    }
}

/// Block sizes: [`FIXED_BLOCKS`], then pseudo-random sizes in 1..=[`MAX_BLOCK`], forever.
pub fn block_sizes(seed: u64) -> impl Iterator<Item = usize> {
    let mut rng = Lcg(seed);
    FIXED_BLOCKS
        .into_iter()
        .chain(std::iter::repeat_with(move || {
            1 + rng.next_u32() as usize % MAX_BLOCK
        }))
}

/// `channels` different test signals at 48 kHz: two sines plus white noise each.
pub fn test_signal(channels: usize) -> Vec<Vec<f32>> {
    test_signal_at(channels, SAMPLE_RATE)
}

/// `channels` different test signals at `sample_rate`: two sines plus white noise each.
pub fn test_signal_at(channels: usize, sample_rate: f64) -> Vec<Vec<f32>> {
    let len = (STREAM_SECONDS * sample_rate) as usize;
    let mut rng = Lcg(0x5EED);
    (0..channels)
        .map(|c| {
            let (f1, f2) = (220.0 * (c + 1) as f64, 3_150.0 + 500.0 * c as f64);
            (0..len)
                .map(|n| {
                    let t = n as f64 / sample_rate;
                    let tones = 0.3 * (std::f64::consts::TAU * f1 * t).sin()
                        + 0.2 * (std::f64::consts::TAU * f2 * t).sin();
                    tones as f32 + 0.1 * rng.next_f32()
                })
                .collect()
        })
        .collect()
}

/// Asserts that every output channel is its input delayed by exactly `latency` samples.
pub fn assert_delayed_copy(input: &[Vec<f32>], output: &[Vec<f32>], latency: usize) {
    for (c, (x, y)) in input.iter().zip(output).enumerate() {
        for (n, &out) in y.iter().enumerate() {
            let expected = if n >= latency { x[n - latency] } else { 0.0 };
            assert!(
                (out - expected).abs() <= TOLERANCE,
                "channel {c}, sample {n}: got {out}, expected {expected} \
                 (input delayed by {latency} samples)"
            );
        }
    }
}

/// Activates once to read the latency, then checks the delay over a whole stream.
pub fn check_exact_delay(channels: usize, automation: Automation, seed: u64) {
    let mut plugin = TestPlugin::new();
    plugin.select_channels(channels as u32);
    let latency = {
        let stopped = plugin.activate(SAMPLE_RATE).expect("activate at 48 kHz");
        let latency = plugin.latency();
        plugin.instance.deactivate(stopped);
        latency
    };
    assert_eq!(latency, percepnet::LATENCY, "reported latency");

    // A 0 dB attenuation limit makes the network's gains and strengths no-ops (g_b floored at
    // 1, r_b scaled to 0), so the whole chain must be an exact delay.
    let limit = plugin.param_id(ParamQuery::Named(ATTENUATION_LIMIT));
    plugin.flush_params(&[(limit, 0.0)]);
    let input = test_signal(channels);
    let stream = run_stream(
        &mut plugin,
        SAMPLE_RATE,
        &input,
        block_sizes(seed),
        automation,
    );
    assert_eq!(stream.latency, latency, "latency of the second activation");
    assert_delayed_copy(&input, &stream.output, latency);
}

/// No parameter changes.
pub fn no_automation(_block: usize) -> Vec<(ClapId, f64)> {
    Vec::new()
}

/// Reads the bundled noisy example (16-bit mono WAV) as f32.
pub fn noisy_example() -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/noisy.wav");
    let mut reader = hound::WavReader::open(path).expect("examples/noisy.wav");
    reader
        .samples::<i16>()
        .map(|s| s.expect("sample") as f32 / 32768.0)
        .collect()
}

/// The latency the plugin must report at `sample_rate` (from [`SUPPORTED`]).
pub fn expected_latency(sample_rate: f64) -> usize {
    SUPPORTED
        .iter()
        .find(|&&(rate, _)| rate == sample_rate)
        .unwrap_or_else(|| panic!("{sample_rate} Hz is not supported"))
        .1
}

/// `channels` different bursts of noise band-limited to [`NOISE_BAND`] at `sample_rate`: one
/// second of noise (RMS 0.1) with 10 ms raised-cosine fades at both ends, then 0.25 s of
/// silence, so the output, delayed by any supported latency, ends within the stream.
pub fn band_limited_noise(channels: usize, sample_rate: f64, seed: u64) -> Vec<Vec<f32>> {
    let noise_len = sample_rate as usize;
    let len = noise_len + (0.25 * sample_rate) as usize;
    let fade = (0.010 * sample_rate) as usize;
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(noise_len);
    let ifft = planner.plan_fft_inverse(noise_len);
    let mut rng = Lcg(seed);
    // At 8 kHz the resamplers' passband is shorter (see `MIN_HOST_BLOCK` in rate.rs).
    let share = if sample_rate < 11_025.0 {
        0.5
    } else {
        NOISE_TOP_OF_NYQUIST
    };
    let top = NOISE_BAND.1.min(share * sample_rate / 2.0);
    (0..channels)
        .map(|_| {
            let mut x: Vec<f64> = (0..noise_len).map(|_| f64::from(rng.next_f32())).collect();
            let mut spectrum = fft.make_output_vec();
            fft.process(&mut x, &mut spectrum).expect("forward FFT");
            for (k, bin) in spectrum.iter_mut().enumerate() {
                let freq = k as f64 * sample_rate / noise_len as f64;
                if freq < NOISE_BAND.0 || freq > top {
                    *bin = Complex::new(0.0, 0.0);
                }
            }
            ifft.process(&mut spectrum, &mut x).expect("inverse FFT");
            let rms = (x.iter().map(|v| v * v).sum::<f64>() / noise_len as f64).sqrt();
            let mut out = vec![0.0f32; len];
            for (n, (y, &v)) in out.iter_mut().zip(&x).enumerate() {
                let edge = n.min(noise_len - 1 - n);
                let gain = if edge < fade {
                    0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / fade as f64).cos()
                } else {
                    1.0
                };
                *y = (0.1 * v / rms * gain) as f32;
            }
            out
        })
        .collect()
}

/// How `y` relates to `x` (same length, both ending in enough silence that circular
/// correlation is linear): the delay in samples where their cross-correlation peaks, found to
/// a fraction of a sample, and the ratio in dB of the energy of `x` delayed by that much to the
/// energy of the difference between it and `y`.
pub fn measure_delay(x: &[f32], y: &[f32]) -> (f64, f64) {
    let len = x.len();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(len);
    let ifft = planner.plan_fft_inverse(len);
    let spectrum = |s: &[f32]| {
        let mut buf: Vec<f64> = s.iter().map(|&v| f64::from(v)).collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut buf, &mut out).expect("forward FFT");
        out
    };
    let (xs, ys) = (spectrum(x), spectrum(y));
    let cross: Vec<Complex<f64>> = ys.iter().zip(&xs).map(|(a, b)| a * b.conj()).collect();

    // The whole-sample peak of the cross-correlation...
    let mut buf = cross.clone();
    let mut corr = ifft.make_output_vec();
    ifft.process(&mut buf, &mut corr).expect("inverse FFT");
    let peak = (0..len / 2)
        .max_by(|&a, &b| corr[a].total_cmp(&corr[b]))
        .expect("a non-empty signal");

    // ... refined between its neighbours (golden-section search on the band-limited
    // correlation, evaluated from the cross spectrum at fractional lags).
    let omega = std::f64::consts::TAU / len as f64;
    let corr_at = |d: f64| -> f64 {
        cross
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let weight = if k == 0 || 2 * k == len { 1.0 } else { 2.0 };
                weight * (c * Complex::from_polar(1.0, omega * k as f64 * d)).re
            })
            .sum()
    };
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (peak as f64 - 1.0, peak as f64 + 1.0);
    for _ in 0..40 {
        let (a, b) = (hi - ratio * (hi - lo), lo + ratio * (hi - lo));
        if corr_at(a) > corr_at(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    let delay = (lo + hi) / 2.0;

    // `x` delayed by exactly that (fractional) delay, and the error of `y` against it.
    let mut shifted: Vec<Complex<f64>> = xs
        .iter()
        .enumerate()
        .map(|(k, c)| c * Complex::from_polar(1.0 / len as f64, -omega * k as f64 * delay))
        .collect();
    shifted[0].im = 0.0;
    if len.is_multiple_of(2) {
        shifted[len / 2] = Complex::new(0.0, 0.0);
    }
    let mut reference = ifft.make_output_vec();
    ifft.process(&mut shifted, &mut reference)
        .expect("inverse FFT");
    let signal: f64 = reference.iter().map(|r| r * r).sum();
    let error: f64 = reference
        .iter()
        .zip(y)
        .map(|(r, &v)| (f64::from(v) - r).powi(2))
        .sum();
    (delay, 10.0 * (signal / error).log10())
}

/// Streams band-limited noise through `plugin` (its attenuation limit set to 0 dB: the engine
/// is an exact delay) at `sample_rate` and checks that the reported latency is the expected one
/// and the delay measured on every channel within one sample of it, and that the output is the
/// delayed input within [`MIN_SNR_DB`].
pub fn check_measured_delay(
    plugin: &mut TestPlugin,
    sample_rate: f64,
    channels: usize,
    automation: Automation,
    seed: u64,
) {
    let input = band_limited_noise(channels, sample_rate, seed);
    let stream = run_stream(plugin, sample_rate, &input, block_sizes(seed), automation);
    assert_eq!(
        stream.latency,
        expected_latency(sample_rate),
        "latency reported at {sample_rate} Hz"
    );
    for (c, (x, y)) in input.iter().zip(&stream.output).enumerate() {
        assert!(y.iter().all(|v| v.is_finite()), "non-finite output");
        let (delay, snr_db) = measure_delay(x, y);
        eprintln!(
            "{sample_rate} Hz, {channels} channel(s), channel {c}: reported {}, measured \
             {delay:.3} samples, SNR {snr_db:.1} dB",
            stream.latency
        );
        assert!(
            (delay - stream.latency as f64).abs() <= 1.0,
            "{sample_rate} Hz, channel {c}: reported {} samples, measured {delay:.3}",
            stream.latency
        );
        assert!(
            snr_db > MIN_SNR_DB,
            "{sample_rate} Hz, channel {c}: SNR {snr_db:.1} dB"
        );
    }
}

/// A fresh plugin with `channels` channels and its attenuation limit at 0 dB.
pub fn unity_plugin(channels: u32) -> TestPlugin {
    let mut plugin = TestPlugin::new();
    plugin.select_channels(channels);
    let limit = plugin.param_id(ParamQuery::Named(ATTENUATION_LIMIT));
    plugin.flush_params(&[(limit, 0.0)]);
    plugin
}

/// Reusable port buffers for processing one block at a time (as a host does, without holding
/// the whole stream in memory).
pub struct BlockPorts {
    input_ports: AudioPorts,
    output_ports: AudioPorts,
    steady_time: u64,
}

impl BlockPorts {
    pub fn new(channels: usize) -> Self {
        Self {
            input_ports: AudioPorts::with_capacity(channels, 1),
            output_ports: AudioPorts::with_capacity(channels, 1),
            steady_time: 0,
        }
    }

    /// Processes one block (one `Vec` per channel) with parameter changes at `event_time`.
    pub fn process(
        &mut self,
        processor: &mut StartedPluginAudioProcessor<TestHost>,
        input: &[Vec<f32>],
        changes: &[(ClapId, f64)],
        event_time: u32,
    ) -> Vec<Vec<f32>> {
        let len = input[0].len();
        let mut in_block = input.to_vec();
        let mut out_block = vec![vec![0.0f32; len]; input.len()];
        let events = param_events(changes, event_time);
        let in_audio = self.input_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                in_block.iter_mut().map(InputChannel::variable),
            ),
        }]);
        let mut out_audio = self.output_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                out_block.iter_mut().map(|c| c.as_mut_slice()),
            ),
        }]);
        processor
            .process(
                &in_audio,
                &mut out_audio,
                &InputEvents::from_buffer(&events),
                &mut OutputEvents::void(),
                Some(self.steady_time),
                None,
            )
            .expect("process a block");
        self.steady_time += len as u64;
        out_block
    }
}

/// Streams `input` (mono) through `processor` in pseudo-random blocks and returns the output.
pub fn stream_mono(
    processor: &mut StartedPluginAudioProcessor<TestHost>,
    ports: &mut BlockPorts,
    input: &[f32],
    seed: u64,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(input.len());
    let mut sizes = block_sizes(seed);
    let mut start = 0;
    while start < input.len() {
        let len = sizes.next().unwrap_or(480).min(input.len() - start);
        let block = ports.process(processor, &[input[start..start + len].to_vec()], &[], 0);
        out.extend_from_slice(&block[0]);
        start += len;
    }
    out
}

/// Level in dB of a slice, floored at -200 dB.
pub fn level_db(x: &[f32]) -> f64 {
    10.0 * (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64)
        .max(1e-20)
        .log10()
}
