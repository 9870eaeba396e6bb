//! Loads the built VST3 bundle (`target/bundled/percepnet.vst3`) in a real VST3 host, Ardour 7
//! running headless through its Lua interpreter `ardour7-lua` with the "None (Dummy)" audio
//! backend, and checks what `tests/ardour/vst3_check.lua` measures there: the plugin is found
//! and instantiated on a mono and a stereo bus, reports [`percepnet::LATENCY`], produces finite,
//! non-silent output, is an exact delay of that many samples with a 0 dB attenuation limit, and
//! keeps its parameters through a session save and reload.
//!
//! Ignored by default because it needs Ardour (Debian 12: `apt-get install -y
//! --no-install-recommends ardour`) and a built bundle (`cargo xtask bundle percepnet`). Run it
//! on purpose with `cargo test --test ardour_vst3 -- --ignored --nocapture`; it then fails,
//! never silently passes, if Ardour is missing. `scripts/ardour_vst3_check.sh` runs the same
//! check for humans.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The Lua interpreter shipped with Ardour 7 (a wrapper around `/usr/lib/ardour7/luasession`).
const ARDOUR_LUA: &str = "ardour7-lua";
/// Ardour's VST3 scanner: headless Ardour only loads plugins it has a fresh cache entry for.
const VST3_SCANNER: &str = "/usr/lib/ardour7/ardour-vst3-scanner";
/// Ardour's own libraries, which the scanner needs on the library path.
const ARDOUR_LIB_DIR: &str = "/usr/lib/ardour7";
/// Wall-clock limit for the whole Ardour run (it takes about 20 s on an idle machine; the
/// Dummy backend slows down rather than dropping audio when the machine is busy).
const TIMEOUT: Duration = Duration::from_secs(300);
/// Largest deviation from an exact delay accepted with a 0 dB attenuation limit.
const EXACT_DELAY_TOLERANCE: f64 = 1e-3;
/// Post-filter strength the script sets before saving the session.
const POST_FILTER: f64 = 0.35;
/// Channels of the buses the script creates.
const LAYOUTS: [(&str, usize); 2] = [("mono", 1), ("stereo", 2)];

/// `CARGO_TARGET_DIR` (relative to the package) or `target`, as `cargo xtask bundle` uses it.
fn target_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| manifest_dir.join("target"), |dir| manifest_dir.join(dir))
}

/// The first executable called `name` on `PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A scratch folder removed when dropped (kept if `PERCEPNET_KEEP_ARDOUR_DIR` is set).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("percepnet-ardour-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("create the scratch folder");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::env::var_os("PERCEPNET_KEEP_ARDOUR_DIR").is_some() {
            eprintln!("keeping {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Copies the folder `from` to `to` recursively (following no links).
fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// One `RESULT` line of the script: its kind (the first word) and its `key=value` fields.
#[derive(Debug)]
struct Record {
    kind: String,
    fields: HashMap<String, String>,
}

/// Parses the `RESULT kind key=value ...` lines of the script's output. A line whose first
/// word is itself a pair (`RESULT done=1`) has that key as its kind.
fn parse_results(output: &str) -> Vec<Record> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("RESULT "))
        .map(|rest| {
            let mut words = rest.split_whitespace().peekable();
            let kind = match words.peek() {
                Some(first) if !first.contains('=') => words.next().unwrap_or_default(),
                Some(first) => first.split('=').next().unwrap_or_default(),
                None => "",
            }
            .to_owned();
            let fields = words
                .filter_map(|word| word.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Record { kind, fields }
        })
        .collect()
}

/// The script's results with the whole output at hand for failure messages.
struct Results<'a> {
    records: Vec<Record>,
    output: &'a str,
}

impl Results<'_> {
    /// The record of `kind` whose fields include all of `with`; fails the test if none.
    fn get(&self, kind: &str, with: &[(&str, &str)]) -> &HashMap<String, String> {
        self.records
            .iter()
            .find(|r| {
                r.kind == kind
                    && with
                        .iter()
                        .all(|(k, v)| r.fields.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|r| &r.fields)
            .unwrap_or_else(|| {
                panic!(
                    "no `RESULT {kind}` line with {with:?} in Ardour's output:\n{}",
                    self.output
                )
            })
    }

    /// Field `key` of `record` as a number; fails the test if absent or not a number.
    fn num(&self, record: &HashMap<String, String>, key: &str) -> f64 {
        record
            .get(key)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("field `{key}` missing or not a number in {record:?}"))
    }

    /// Field `key` of `record` as text.
    fn text<'r>(&self, record: &'r HashMap<String, String>, key: &str) -> &'r str {
        record
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("field `{key}` missing in {record:?}"))
    }
}

/// Runs `command` with its output going to files in `dir`, killing it after [`TIMEOUT`].
/// Returns its exit status (`None` on timeout) and its stdout and stderr together.
fn run_with_timeout(mut command: Command, dir: &Path) -> (Option<ExitStatus>, String) {
    let out_path = dir.join("ardour-output.txt");
    let out = fs::File::create(&out_path).expect("create the output file");
    let err = out.try_clone().expect("clone the output file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {command:?}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ardour7-lua") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = fs::read_to_string(&out_path).unwrap_or_default();
    (status, output)
}

/// Describes how a process ended, naming the usual signals.
fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(6)) => "SIGABRT (a panic inside the plugin aborts the host)".to_owned(),
        (None, Some(11)) => "SIGSEGV".to_owned(),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "an unknown status".to_owned(),
    }
}

/// Asserts one `impulse`/`impulse_reload` record: the plugin is an exact delay of the
/// reported latency.
fn assert_exact_delay(results: &Results, kind: &str, layout: &str, channel: usize) {
    let ch = channel.to_string();
    let r = results.get(kind, &[("layout", layout), ("ch", &ch)]);
    let what = format!("{kind}, {layout} bus, channel {channel}");
    let latency = percepnet::LATENCY as f64;
    assert_eq!(results.num(r, "finite"), 1.0, "{what}: non-finite output");
    assert_eq!(
        results.num(r, "latency"),
        latency,
        "{what}: reported latency"
    );
    assert!(
        results.num(r, "count") >= 3.0,
        "{what}: expected at least 3 impulses at the output, found {}",
        results.num(r, "count")
    );
    for key in ["delay_min", "delay_max"] {
        let delay = results.num(r, key);
        assert!(
            (delay - latency).abs() <= 1.0,
            "{what}: measured impulse delay ({key}) {delay} samples, reported latency {latency}"
        );
    }
    let amplitude = results.num(r, "amplitude");
    let peak = results.num(r, "peak");
    assert!(
        (peak - amplitude).abs() <= EXACT_DELAY_TOLERANCE,
        "{what}: impulse peak {peak}, sent {amplitude}"
    );
    let residual = results.num(r, "residual");
    assert!(
        results.num(r, "compared") > 0.0 && residual <= EXACT_DELAY_TOLERANCE,
        "{what}: output differs from the input delayed by {latency} samples by up to {residual}"
    );
}

#[test]
#[ignore = "needs Ardour 7 (apt-get install ardour) and the built bundle; run with --ignored"]
fn vst3_bundle_works_in_ardour() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ardour_lua = find_in_path(ARDOUR_LUA).unwrap_or_else(|| {
        panic!(
            "`{ARDOUR_LUA}` is not on PATH: install Ardour 7 (Debian 12: `apt-get install -y \
             --no-install-recommends ardour`) to run this test"
        )
    });
    assert!(
        Path::new(VST3_SCANNER).is_file(),
        "{VST3_SCANNER} is missing: the Ardour 7 installation is incomplete"
    );
    let bundle = target_dir().join("bundled/percepnet.vst3");
    let library_rel = Path::new("Contents/x86_64-linux/percepnet.so");
    assert!(
        bundle.join(library_rel).is_file(),
        "{} is missing: build it first with `cargo xtask bundle percepnet`",
        bundle.join(library_rel).display()
    );

    // A private HOME, XDG config and cache: the user's Ardour setup and ~/.vst3 play no part.
    let scratch = ScratchDir::new();
    let work = &scratch.0;
    let home = work.join("home");
    let config = work.join("config");
    let cache = work.join("cache");
    let scripts = config.join("ardour7/scripts");
    let vst3_dir = work.join("vst3");
    for dir in [&home, &scripts, &cache, &vst3_dir] {
        fs::create_dir_all(dir).expect("create the scratch folders");
    }

    // A private copy of the bundle, so that a rebuild of target/bundled during the run cannot
    // swap the library under Ardour, dated back because Ardour only trusts its plugin cache
    // when the cache file is newer than the library in whole seconds.
    let bundle_copy = vst3_dir.join("percepnet.vst3");
    copy_dir(&bundle, &bundle_copy).expect("copy the bundle");
    let past = SystemTime::now() - Duration::from_secs(10);
    fs::File::options()
        .write(true)
        .open(bundle_copy.join(library_rel))
        .and_then(|f| f.set_modified(past))
        .expect("date the library copy back");

    // The test signal source and capture processors the script inserts around the plugin.
    let dsp_dir = manifest_dir.join("tests/ardour/dsp");
    for entry in fs::read_dir(&dsp_dir).expect("list tests/ardour/dsp") {
        let path = entry.expect("read tests/ardour/dsp").path();
        if path.extension().is_some_and(|e| e == "lua") {
            fs::copy(&path, scripts.join(path.file_name().unwrap())).expect("install DSP script");
        }
    }

    let environment = [
        ("HOME", home.as_os_str()),
        ("XDG_CONFIG_HOME", config.as_os_str()),
        ("XDG_CACHE_HOME", cache.as_os_str()),
        ("VST3_PATH", vst3_dir.as_os_str()),
    ];

    // Headless Ardour never scans: its scanner writes the cache entry the session will use.
    // It exits with 0 even when it fails, so read what it says.
    let scan = Command::new(VST3_SCANNER)
        .arg("-v")
        .arg("-f")
        .arg(&bundle_copy)
        .envs(environment)
        .env("LD_LIBRARY_PATH", ARDOUR_LIB_DIR)
        .output()
        .expect("run ardour-vst3-scanner");
    let scan_log = format!(
        "{}{}",
        String::from_utf8_lossy(&scan.stdout),
        String::from_utf8_lossy(&scan.stderr)
    );
    eprintln!(
        "--- {VST3_SCANNER} -v -f {}\n{scan_log}",
        bundle_copy.display()
    );
    assert!(
        scan_log.contains("Found Plugin: PercepNet"),
        "Ardour's VST3 scanner did not find PercepNet in the bundle:\n{scan_log}"
    );

    // Line-buffered output (through coreutils' stdbuf when present) keeps everything printed
    // before a crash.
    let script = manifest_dir.join("tests/ardour/vst3_check.lua");
    let mut command = match find_in_path("stdbuf") {
        Some(stdbuf) => {
            let mut c = Command::new(stdbuf);
            c.args(["-oL", "-eL"]).arg(&ardour_lua);
            c
        }
        None => Command::new(&ardour_lua),
    };
    command.arg(&script).arg(work).envs(environment);
    let started = Instant::now();
    let (status, output) = run_with_timeout(command, work);
    let elapsed = started.elapsed();
    eprintln!(
        "--- {ARDOUR_LUA} {} (took {:.1} s)\n{output}",
        script.display(),
        elapsed.as_secs_f64()
    );
    let status = status.unwrap_or_else(|| {
        panic!("{ARDOUR_LUA} did not finish within {TIMEOUT:?}; its output:\n{output}")
    });
    assert!(
        status.success(),
        "{ARDOUR_LUA} ended with {}; its output:\n{output}",
        describe_status(&status)
    );

    let results = Results {
        records: parse_results(&output),
        output: &output,
    };
    assert_eq!(results.num(results.get("done", &[]), "done"), 1.0);

    // The plugin Ardour found is our copy of the bundle, and a session runs at 48 kHz.
    let session = results.get("session", &[]);
    assert_eq!(results.num(session, "created"), 1.0);
    assert_eq!(results.num(session, "rate"), 48_000.0);
    let plugin = results.get("plugin", &[]);
    assert_eq!(results.num(plugin, "found"), 1.0, "PercepNet not found");
    let expected_path = bundle_copy.join(library_rel);
    assert_eq!(
        results.text(plugin, "path"),
        expected_path.to_str().unwrap(),
        "Ardour loaded another PercepNet than the bundle under test"
    );

    let latency = percepnet::LATENCY as f64;
    for (layout, channels) in LAYOUTS {
        let n = channels as f64;
        // Instantiated, wired with as many channels as the bus, reporting its latency.
        let insert = results.get("insert", &[("layout", layout)]);
        assert_eq!(results.num(insert, "instantiated"), 1.0, "{layout}");
        assert_eq!(
            results.num(insert, "active"),
            1.0,
            "{layout}: plugin inactive"
        );
        assert_eq!(results.num(insert, "in"), n, "{layout}: plugin inputs");
        assert_eq!(results.num(insert, "out"), n, "{layout}: plugin outputs");
        assert_eq!(
            results.num(insert, "latency"),
            latency,
            "{layout}: latency the plugin reports to Ardour"
        );
        assert_eq!(
            results.text(insert, "path"),
            expected_path.to_str().unwrap(),
            "{layout}: Ardour instantiated another PercepNet than the bundle under test"
        );
        let chain = results.get("chain", &[("layout", layout)]);
        assert_eq!(
            results.text(chain, "order"),
            "PercepNet_Test_Source,PercepNet_Test_Capture,PercepNet,PercepNet_Test_Capture",
            "{layout}: processor order"
        );
        // Ardour sees the plugin's parameters with their ranges.
        let limit = results.get(
            "param",
            &[("layout", layout), ("name", "Attenuation_Limit")],
        );
        assert_eq!(results.num(limit, "min"), 0.0);
        assert_eq!(results.num(limit, "max"), 100.0);
        results.get("param", &[("layout", layout), ("name", "Post-Filter")]);
        for name in ["Attenuation_Limit", "Post-Filter"] {
            let set = results.get("set", &[("layout", layout), ("name", name)]);
            assert_eq!(results.num(set, "ok"), 1.0, "{layout}: setting {name}");
        }

        for channel in 1..=channels {
            let ch = channel.to_string();
            // Default parameters on a voiced signal with noise: finite and not silent.
            let signal = results.get("signal", &[("layout", layout), ("ch", &ch)]);
            assert_eq!(
                results.num(signal, "finite"),
                1.0,
                "{layout} ch {ch}: NaN/Inf"
            );
            let rms = results.num(signal, "rms");
            let peak = results.num(signal, "peak");
            assert!(rms > 1e-3, "{layout} ch {ch}: output is silent (RMS {rms})");
            assert!(
                peak < 1.0,
                "{layout} ch {ch}: output peak {peak} (the input peaks near 0.15)"
            );

            // Control: at the default parameters the plugin is not a plain delay, so the exact
            // delay measured next shows the parameter change reaching the plugin in Ardour.
            let default = results.get("impulse_default", &[("layout", layout), ("ch", &ch)]);
            assert_eq!(
                results.num(default, "finite"),
                1.0,
                "{layout} ch {ch}: NaN/Inf"
            );
            assert!(
                results.num(default, "residual") > 10.0 * EXACT_DELAY_TOLERANCE,
                "{layout} ch {ch}: already an exact delay at the default parameters, so the \
                 0 dB check below would not show the parameter reaching the plugin"
            );

            // Attenuation limit 0 dB: exact delay of the reported latency, before and after
            // the session is saved and reloaded.
            assert_exact_delay(&results, "impulse", layout, channel);
            assert_exact_delay(&results, "impulse_reload", layout, channel);
        }

        // State round trip: the plugin's own saved state, and the values after reloading.
        let chunk = results.get("chunk", &[("layout", layout)]);
        assert_eq!(
            results.num(chunk, "found"),
            1.0,
            "{layout}: no plugin state saved"
        );
        assert_eq!(
            results.num(chunk, "attenuation_limit"),
            0.0,
            "{layout}: saved limit"
        );
        assert!(
            (results.num(chunk, "post_filter") - POST_FILTER).abs() < 1e-4,
            "{layout}: saved post-filter {chunk:?}"
        );
        let reload = results.get("reload", &[("layout", layout)]);
        assert_eq!(
            results.num(reload, "instantiated"),
            1.0,
            "{layout} after reload"
        );
        assert_eq!(
            results.num(reload, "in"),
            n,
            "{layout}: plugin inputs after reload"
        );
        assert_eq!(
            results.text(reload, "path"),
            expected_path.to_str().unwrap(),
            "{layout}: plugin library after reload"
        );
        assert_eq!(
            results.num(reload, "latency"),
            latency,
            "{layout}: latency after reload"
        );
        let state = results.get("reload_state", &[("layout", layout)]);
        assert_eq!(
            results.num(state, "attenuation_limit"),
            0.0,
            "{layout}: limit after reload"
        );
        assert!(
            (results.num(state, "post_filter") - POST_FILTER).abs() < 1e-4,
            "{layout}: post-filter after reload {state:?}"
        );
    }
    assert_eq!(results.num(results.get("saved", &[]), "ok"), 1.0);
    eprintln!("Ardour check passed in {:.1} s", elapsed.as_secs_f64());
}
