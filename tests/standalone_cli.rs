//! `percepnet-standalone` without sound hardware: its help, its state file (through the dummy
//! backend, stopped with SIGINT and SIGTERM), and its errors for bad parameters, an absent JACK
//! server, unknown devices and a missing display: each a clear message and exit status 2, never
//! a panic. Needs `--features standalone`; the live audio path is `tests/live_jack.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nice_plug::prelude::Plugin;
use percepnet::plugin::PercepNet;

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_percepnet-standalone"));
    // No user state, no user JACK server, no display unless a test sets them.
    command
        .env_remove("DISPLAY")
        .env(
            "JACK_DEFAULT_SERVER",
            format!("percepnet-none-{}", std::process::id()),
        )
        .env("XDG_CONFIG_HOME", scratch("config"));
    command
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "percepnet-standalone-{name}-{}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs the standalone expecting a usage or set-up error.
fn fails_with(args: &[&str], needle: &str) {
    let output = bin().args(args).output().unwrap();
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
    assert!(
        message.contains(needle),
        "{args:?}: no '{needle}' in:\n{message}"
    );
    assert!(!message.contains("panicked"), "{args:?}: {message}");
}

/// Starts the standalone on the dummy backend, waits until it runs, sends `signal`, and returns
/// its exit status and output.
fn run_and_signal(args: &[&str], log: &Path, signal: libc::c_int) -> (bool, String) {
    let mut child: Child = bin()
        .args(["--backend", "dummy", "--no-gui"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(log).unwrap())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // The wrapper prints this once its Ctrl-C handler is in place.
    while !fs::read_to_string(log)
        .unwrap_or_default()
        .contains("blocking indefinitely")
    {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "exited early ({status}): {}",
                fs::read_to_string(log).unwrap()
            );
        }
        assert!(start.elapsed() < Duration::from_secs(60), "did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: a plain system call on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("did not stop: {}", fs::read_to_string(log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.success(), fs::read_to_string(log).unwrap())
}

#[test]
fn help_documents_devices_ports_no_gui_and_every_parameter() {
    let output = bin().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = text(&output);
    for option in [
        "--backend",
        "--input-device",
        "--output-device",
        "--jack-inputs",
        "--jack-outputs",
        "--list-devices",
        "--no-gui",
        "--set",
        "--state-file",
        "Latency",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
    for (id, _, _) in PercepNet::default().params().param_map() {
        assert!(help.contains(&id), "--help lacks parameter {id}");
    }
}

#[test]
fn parameters_are_saved_on_sigint_and_sigterm_and_read_back() {
    let dir = scratch("state");
    let state = dir.join("sub/standalone.json");
    let state_arg = state.to_str().unwrap();
    let (ok, log) = run_and_signal(
        &[
            "--state-file",
            state_arg,
            "--set",
            "attenuation_limit=20",
            "--set",
            "post_filter=35%",
        ],
        &dir.join("1.txt"),
        libc::SIGINT,
    );
    assert!(ok, "{log}");
    assert!(log.contains("latency: 1440 samples"), "{log}");
    let saved = fs::read_to_string(&state).expect("state file written");
    assert!(
        saved.contains("\"attenuation_limit\": 20.0") && saved.contains("\"post_filter\": 0.35"),
        "{saved}"
    );

    // Read back at the next start; SIGTERM (a service stop) saves too.
    let (ok, log) = run_and_signal(
        &["--state-file", state_arg, "--set", "stereo_link=on"],
        &dir.join("2.txt"),
        libc::SIGTERM,
    );
    assert!(ok, "{log}");
    assert!(
        log.contains("Attenuation Limit 20.0 dB, Post-Filter 35%"),
        "{log}"
    );
    let saved = fs::read_to_string(&state).unwrap();
    assert!(saved.contains("\"stereo_link\": true"), "{saved}");

    // --reset starts from the defaults; a damaged file is reported and replaced on exit.
    fs::write(&state, "{ not json").unwrap();
    let (ok, log) = run_and_signal(
        &["--state-file", state_arg],
        &dir.join("3.txt"),
        libc::SIGINT,
    );
    assert!(ok, "{log}");
    assert!(log.contains("ignoring the state file"), "{log}");
    assert!(log.contains("Attenuation Limit 100.0 dB"), "{log}");
    assert!(fs::read_to_string(&state)
        .unwrap()
        .contains("percepnet-standalone 1"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn bad_parameters_are_clear_errors() {
    fails_with(
        &["--backend", "dummy", "--set", "loudness=3"],
        "no parameter 'loudness'",
    );
    fails_with(&["--backend", "dummy", "--set", "post_filter=2"], "outside");
    fails_with(&["--backend", "dummy", "--set", "bypass=maybe"], "on/off");
    fails_with(&["--backend", "dummy", "--set", "post_filter"], "ID=VALUE");
}

#[test]
fn an_absent_jack_server_is_a_clear_error() {
    // No server of that name runs (or libjack is missing: also a clear message).
    let output = bin()
        .args(["--backend", "jack", "--no-gui"])
        .output()
        .unwrap();
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains("no JACK server answers") || message.contains("JACK library"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[cfg(target_os = "linux")]
#[test]
fn unknown_devices_and_a_missing_display_are_clear_errors() {
    fails_with(
        &[
            "--backend",
            "alsa",
            "--no-gui",
            "--input-device",
            "no-such-mic",
        ],
        "unknown input device 'no-such-mic'",
    );
    fails_with(&["--backend", "alsa", "--no-gui"], "--input-device");
    fails_with(
        &["--backend", "jack", "--no-gui", "--input-device", "x"],
        "--jack-inputs",
    );
    fails_with(&["--backend", "dummy"], "--no-gui");
}
