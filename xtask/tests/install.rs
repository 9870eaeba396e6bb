//! `cargo xtask install` with a private HOME and a fake target folder: the bundles land in
//! `~/.clap` and `~/.vst3` (Linux), a second install replaces them as a whole, the folders can be
//! chosen, and missing bundles give an error that names the bundle command.

#![cfg(target_os = "linux")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("percepnet-xtask-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes fake bundles shaped like the real ones (a .clap file, a .vst3 folder).
fn fake_bundles(target: &Path, tag: &str) {
    let bundled = target.join("bundled");
    let library = bundled.join("percepnet.vst3/Contents/x86_64-linux");
    fs::create_dir_all(&library).unwrap();
    fs::write(bundled.join("percepnet.clap"), format!("clap {tag}")).unwrap();
    fs::write(library.join("percepnet.so"), format!("vst3 {tag}")).unwrap();
}

fn xtask(home: &Path, target: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("install")
        .args(args)
        .env("HOME", home)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("run xtask")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn installs_into_the_user_folders_and_replaces_old_bundles() {
    let dir = scratch("install");
    let (home, target) = (dir.join("home"), dir.join("target"));
    fake_bundles(&target, "one");
    let out = xtask(&home, &target, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let clap = home.join(".clap/percepnet.clap");
    let so = home.join(".vst3/percepnet.vst3/Contents/x86_64-linux/percepnet.so");
    assert_eq!(fs::read_to_string(&clap).unwrap(), "clap one");
    assert_eq!(fs::read_to_string(&so).unwrap(), "vst3 one");
    assert!(
        text(&out).contains(&clap.display().to_string()),
        "{}",
        text(&out)
    );

    // An old bundle with a stray file is replaced as a whole.
    let stray = home.join(".vst3/percepnet.vst3/Contents/stray.txt");
    fs::write(&stray, "old").unwrap();
    fake_bundles(&target, "two");
    let out = xtask(&home, &target, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fs::read_to_string(&clap).unwrap(), "clap two");
    assert_eq!(fs::read_to_string(&so).unwrap(), "vst3 two");
    assert!(!stray.exists(), "the old bundle was not replaced");
    let leftovers: Vec<_> = fs::read_dir(home.join(".vst3")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "staging copies left behind");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn folders_can_be_chosen() {
    let dir = scratch("dirs");
    let (home, target) = (dir.join("home"), dir.join("target"));
    fake_bundles(&target, "x");
    let (clap_dir, vst3_dir) = (dir.join("c"), dir.join("v"));
    let out = xtask(
        &home,
        &target,
        &[
            "--clap-dir",
            clap_dir.to_str().unwrap(),
            "--vst3-dir",
            vst3_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(clap_dir.join("percepnet.clap").is_file());
    assert!(vst3_dir.join("percepnet.vst3").is_dir());
    assert!(
        !home.exists(),
        "nothing goes to HOME when both folders are given"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn missing_bundles_name_the_bundle_command() {
    let dir = scratch("missing");
    let (home, target) = (dir.join("home"), dir.join("target"));
    fs::create_dir_all(&target).unwrap();
    let out = xtask(&home, &target, &[]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("cargo xtask bundle percepnet --release")
            && message.contains("percepnet.clap")
            && message.contains("percepnet.vst3"),
        "{message}"
    );
    assert!(!home.exists(), "nothing installed");
    let _ = fs::remove_dir_all(&dir);
}
