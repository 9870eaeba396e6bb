//! Drives Audacity headless (Xvfb) through its scripting module, mod-script-pipe: imports
//! `examples/noisy.wav`, applies the PercepNet VST3 (`target/bundled/percepnet.vst3`, copied
//! to a private `~/.vst3`), exports a 32-bit float WAV, and compares it with
//! `percepnet denoise`: whether Audacity compensated the plugin's latency (output aligned) or
//! not (1440 samples late), and that the aligned output matches the CLI's.
//!
//! Ignored by default: it needs Audacity 3.2 or later **built with VST3** and Xvfb. Debian 12's
//! Audacity 3.2.4 is built without VST3 ("Disable vst3sdk support (not packaged yet)" in its
//! changelog), so there the test stops with that explanation after listing Audacity's
//! commands. `PERCEPNET_AUDACITY_EFFECT="Amplify: Ratio=1"` runs the same harness with a
//! built-in effect and checks that the export equals the input exactly. Unfinished: on this
//! project's machine (Debian's Audacity, Xvfb) the scripting pipe opens but the first command
//! (`GetInfo`) gets no reply within 40 s, so not even that self-check passes yet.
//! Run: `cargo test --test audacity_vst3 -- --ignored`.
//!
//! What the harness does, and why:
//! - a private HOME with an `audacity.cfg` that enables mod-script-pipe (with the module's
//!   path and date, else Audacity asks in a dialog), turns the splash screen off and exports
//!   WAV as 32-bit float;
//! - a first run with scripting *off* until the plugin registry settles: Audacity scans new
//!   plugins in a child process that loads the modules too, and that child's script pipe
//!   would replace the editor's;
//! - the pipes `/tmp/audacity_script_pipe.{to,from}.UID` (fixed names: one scripted Audacity
//!   per user at a time; the test refuses to start if another one listens);
//! - Audacity 3.2 holds back the last line of each reply ("BatchCommand finished") until the
//!   next command arrives, so every command is followed by `Message: Text=<marker>` and the
//!   reply is read up to the marker.

#![cfg(target_os = "linux")]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime};

/// Linux's `O_NONBLOCK`.
const O_NONBLOCK: i32 = 0o4000;
/// Longest wait for Audacity to start, and for one reply.
const TIMEOUT: Duration = Duration::from_secs(40);
/// Largest accepted difference between Audacity's output and the CLI's, relative to the
/// CLI's RMS, in dB.
const MATCH_DB: f64 = -40.0;

/// Children killed when the test ends, however it ends.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The installed mod-script-pipe module.
fn script_module() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PERCEPNET_AUDACITY_MODULE") {
        return Some(PathBuf::from(path));
    }
    [
        "/usr/lib/audacity/modules",
        "/usr/lib/x86_64-linux-gnu/audacity/modules",
        "/usr/lib/aarch64-linux-gnu/audacity/modules",
        "/usr/local/lib/audacity/modules",
    ]
    .iter()
    .map(|dir| Path::new(dir).join("mod-script-pipe.so"))
    .find(|p| p.is_file())
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `audacity.cfg`: scripting on or off, no splash screen, WAV export as 32-bit float.
fn config(module: &Path, scripting: bool, temp: &Path) -> String {
    // Audacity stores the module's date as local time, `date -r FILE +%FT%T`.
    let output = Command::new("date")
        .arg("-r")
        .arg(module)
        .arg("+%Y-%m-%dT%H:%M:%S")
        .output()
        .expect("run date");
    let date = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    format!(
        "PrefsVersion=1.1.1r1\n[Version]\nMajor=3\nMinor=2\nMicro=4\n[GUI]\nShowSplashScreen=0\n\
         [Update]\nDefaultUpdatesChecking=0\n[Directories]\nTempDir={}\n\
         [Module]\nmod-script-pipe={}\n[ModulePath]\nmod-script-pipe={}\n\
         [ModuleDateTime]\nmod-script-pipe={date}\n\
         [FileFormats]\nExportFormat_SF1=65542\n[FileFormats/ExportFormat_SF1_Type]\nWAV_10000=6\n",
        temp.display(),
        u8::from(scripting),
        module.display()
    )
}

/// Starts Xvfb on a free display; returns the process and `DISPLAY`.
fn start_xvfb() -> (Child, String) {
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x1024x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read Xvfb's display number");
    let display = format!(":{}", line.trim());
    (xvfb, display)
}

fn start_audacity(home: &Path, display: &str, log: &Path) -> Child {
    Command::new("audacity")
        .env("HOME", home)
        .env("DISPLAY", display)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(File::create(log).unwrap())
        .stderr(File::create(log).unwrap())
        .spawn()
        .expect("start audacity")
}

/// Waits until `file` exists and has not changed for five seconds (or `TIMEOUT`).
fn wait_until_settled(file: &Path) {
    let start = Instant::now();
    let (mut last, mut stable) = (None::<SystemTime>, 0);
    while start.elapsed() < TIMEOUT && stable < 5 {
        let now = fs::metadata(file).and_then(|m| m.modified()).ok();
        stable = if now.is_some() && now == last {
            stable + 1
        } else {
            0
        };
        last = now;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Whether process `pid` has child processes (Audacity's plugin scanner).
fn has_children(pid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                // "pid (comm) state ppid ...": the comm may hold spaces, so split after ')'.
                let rest = stat.rsplit_once(')')?.1;
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            })
            == Some(pid)
    })
}

/// Waits until Audacity has been up for a while with no plugin-scanner child for three
/// seconds: a scanner loads mod-script-pipe too and would take the pipes over.
fn wait_for_editor(audacity: &mut Child) {
    let start = Instant::now();
    let mut quiet = 0;
    while start.elapsed() < TIMEOUT && (start.elapsed() < Duration::from_secs(10) || quiet < 3) {
        if let Ok(Some(status)) = audacity.try_wait() {
            panic!("Audacity exited ({status}) while starting");
        }
        quiet = if has_children(audacity.id()) {
            0
        } else {
            quiet + 1
        };
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The script pipes of one running Audacity.
struct Pipe {
    to: File,
    replies: Receiver<String>,
    sent: usize,
}

impl Pipe {
    /// Opens the pipes once Audacity listens (the writer end opens without blocking only then).
    fn connect(to: &Path, from: &Path, audacity: &mut Child) -> Self {
        let start = Instant::now();
        let writer = loop {
            match OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(to)
            {
                Ok(file) => break file,
                Err(_) if start.elapsed() < TIMEOUT => {
                    if let Ok(Some(status)) = audacity.try_wait() {
                        panic!("Audacity exited ({status}) before its script pipe opened");
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!(
                    "Audacity's script pipe {} did not open in {TIMEOUT:?} ({e}): is \
                     mod-script-pipe installed?",
                    to.display()
                ),
            }
        };
        // Open the reply pipe before the first command (Audacity answers only to a reader that
        // is already there), on a thread, so that a silent Audacity cannot block the test.
        let (opened, reader) = mpsc::channel();
        let from = from.to_owned();
        std::thread::spawn(move || {
            let _ = opened.send(File::open(&from));
        });
        let file = reader
            .recv_timeout(TIMEOUT)
            .expect("Audacity's reply pipe did not open")
            .expect("open Audacity's reply pipe");
        let (sender, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            to: writer,
            replies,
            sent: 0,
        }
    }

    /// Runs one command; returns its reply lines, or `Err` with them if it failed.
    fn run(&mut self, command: &str) -> Result<Vec<String>, Vec<String>> {
        self.sent += 1;
        let marker = format!("percepnet-sync-{}", self.sent);
        // One write: mod-script-pipe takes what one read returns as whole lines.
        let text = format!("{command}\nMessage: Text={marker}\n");
        self.to
            .write_all(text.as_bytes())
            .expect("write to Audacity");
        let mut lines = Vec::new();
        loop {
            let line = self
                .replies
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|_| panic!("no reply to `{command}` in {TIMEOUT:?}: {lines:?}"));
            if line.trim() == marker {
                break;
            }
            lines.push(line);
        }
        if lines
            .iter()
            .any(|l| l.starts_with("BatchCommand finished: Failed"))
        {
            Err(lines)
        } else {
            Ok(lines)
        }
    }
}

/// RMS of `a - b` over their common length, relative to `b`'s RMS, in dB; with `a` shifted left
/// by `lag` samples.
fn difference_db(a: &[f32], b: &[f32], lag: usize) -> f64 {
    let n = b.len().min(a.len().saturating_sub(lag));
    let (mut diff, mut energy) = (0.0f64, 0.0f64);
    for i in 0..n {
        diff += (f64::from(a[i + lag]) - f64::from(b[i])).powi(2);
        energy += f64::from(b[i]).powi(2);
    }
    10.0 * (diff.max(1e-30) / energy.max(1e-30)).log10()
}

#[test]
#[ignore = "needs Audacity built with VST3, Xvfb and the built bundle; run with --ignored"]
fn audacity_applies_the_vst3() {
    let effect =
        std::env::var("PERCEPNET_AUDACITY_EFFECT").unwrap_or_else(|_| "PercepNet:".to_owned());
    let self_check = !effect.starts_with("PercepNet");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for tool in ["audacity", "Xvfb", "date"] {
        assert!(
            find_in_path(tool).is_some(),
            "`{tool}` is not on PATH (Debian: apt-get install audacity xvfb)"
        );
    }
    let module = script_module().expect("Audacity's mod-script-pipe.so not found");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    let bundle = target.join("bundled/percepnet.vst3");
    assert!(
        self_check || bundle.is_dir(),
        "{} is missing: build it with `cargo xtask bundle percepnet`",
        bundle.display()
    );

    // The pipes' names are fixed per user: refuse to talk to somebody else's Audacity.
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { getuid() };
    let to = PathBuf::from(format!("/tmp/audacity_script_pipe.to.{uid}"));
    let from = PathBuf::from(format!("/tmp/audacity_script_pipe.from.{uid}"));
    assert!(
        OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&to)
            .is_err(),
        "another Audacity with scripting is running for this user: close it first"
    );

    let work = std::env::temp_dir().join(format!("percepnet-audacity-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    let (home, temp) = (work.join("home"), work.join("tmp"));
    let config_dir = home.join(".config/audacity");
    for dir in [&config_dir, &temp] {
        fs::create_dir_all(dir).unwrap();
    }
    if !self_check {
        copy_dir(&bundle, &home.join(".vst3/percepnet.vst3"));
    }
    let config_file = config_dir.join("audacity.cfg");
    let mut children = Children(Vec::new());
    let (xvfb, display) = start_xvfb();
    children.0.push(xvfb);

    // Run 1, scripting off: let Audacity register the plugins.
    fs::write(&config_file, config(&module, false, &temp)).unwrap();
    let mut warm = start_audacity(&home, &display, &work.join("audacity-scan.txt"));
    wait_until_settled(&config_dir.join("pluginregistry.cfg"));
    wait_for_editor(&mut warm);
    // SIGTERM, so that Audacity can write its registry out.
    let _ = Command::new("kill").arg(warm.id().to_string()).status();
    let start = Instant::now();
    while warm.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = warm.kill();
    let _ = warm.wait();

    // Run 2, scripting on.
    fs::remove_dir_all(&temp).unwrap();
    fs::create_dir_all(&temp).unwrap();
    fs::write(&config_file, config(&module, true, &temp)).unwrap();
    children
        .0
        .push(start_audacity(&home, &display, &work.join("audacity.txt")));
    let mut pipe = Pipe::connect(&to, &from, children.0.last_mut().unwrap());

    let commands = pipe
        .run("GetInfo: Type=Commands Format=Brief")
        .expect("GetInfo");
    let effect_id = effect.split(':').next().unwrap().trim();
    let quoted = format!("\"{effect_id}\"");
    if !commands.iter().any(|l| l.trim_start().starts_with(&quoted)) {
        let registry =
            fs::read_to_string(config_dir.join("pluginregistry.cfg")).unwrap_or_default();
        panic!(
            "Audacity offers no `{effect_id}` command. The plugin registry {} the bundle \
             ({}); an Audacity without VST3 support (Debian 12's 3.2.4 is built without it: \
             \"Disable vst3sdk support (not packaged yet)\") cannot load it. Use an upstream \
             build (AppImage) on PATH, or check the harness with \
             PERCEPNET_AUDACITY_EFFECT=\"Amplify: Ratio=1\".",
            if registry.to_lowercase().contains("percepnet") {
                "lists"
            } else {
                "does not list"
            },
            home.join(".vst3/percepnet.vst3").display()
        );
    }

    let noisy = root.join("examples/noisy.wav");
    let output = work.join("audacity-out.wav");
    for command in [
        format!("Import2: Filename=\"{}\"", noisy.display()),
        "SelectAll:".to_owned(),
        effect.clone(),
        format!("Export2: Filename=\"{}\" NumChannels=1", output.display()),
    ] {
        let reply = pipe.run(&command);
        eprintln!("{command}: {reply:?}");
        assert!(reply.is_ok(), "Audacity failed `{command}`: {reply:?}");
    }
    drop(children);

    let input = common::cli::read_mono_48k(&noisy);
    let out = common::cli::read_mono_48k(&output);
    assert_eq!(
        out.len(),
        input.len(),
        "Audacity's export has another length"
    );
    if self_check {
        let worst = input
            .iter()
            .zip(&out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("self-check with `{effect}`: largest difference {worst}");
        assert!(
            worst < 1e-6,
            "the export differs from the input by up to {worst}"
        );
    } else {
        let reference = work.join("cli.wav");
        let status = Command::new(env!("CARGO_BIN_EXE_percepnet"))
            .arg("denoise")
            .arg(&noisy)
            .arg(&reference)
            .status()
            .unwrap();
        assert!(status.success());
        let cli = common::cli::read_mono_48k(&reference);
        let latency = percepnet::LATENCY;
        let aligned = difference_db(&out, &cli, 0);
        let late = difference_db(&out, &cli, latency);
        eprintln!(
            "Audacity vs CLI: {aligned:.1} dB as exported, {late:.1} dB with the export shifted \
             back by {latency} samples"
        );
        let compensated = aligned < late;
        eprintln!(
            "Audacity {} the plugin's latency",
            if compensated {
                "compensated"
            } else {
                "did NOT compensate"
            }
        );
        assert!(
            aligned.min(late) < MATCH_DB,
            "Audacity's output differs from the CLI's: {aligned:.1} / {late:.1} dB"
        );
    }
    let _ = fs::remove_dir_all(&work);
}

extern "C" {
    fn getuid() -> u32;
}
