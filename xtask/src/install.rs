//! `cargo xtask install`: copies the built bundles to this user's plugin folders, where hosts
//! look for them:
//!
//! | | CLAP | VST3 |
//! |---|---|---|
//! | Linux | `~/.clap` | `~/.vst3` |
//! | macOS | `~/Library/Audio/Plug-Ins/CLAP` | `~/Library/Audio/Plug-Ins/VST3` |
//! | Windows | `%COMMONPROGRAMFILES%\CLAP` | `%COMMONPROGRAMFILES%\VST3` |
//!
//! (On Windows those folders usually need an administrator prompt.) An installed bundle of the
//! same name is replaced as a whole. The bundles come from `target/bundled` (or
//! `$CARGO_TARGET_DIR/bundled`), as `cargo xtask bundle` leaves them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The bundles' name (`bundler.toml`).
const BUNDLE: &str = "percepnet";

pub const USAGE: &str = "\
Usage:
  cargo xtask install [--clap-dir DIR] [--vst3-dir DIR]
      copies target/bundled/percepnet.clap and percepnet.vst3 to this user's CLAP and VST3
      folders (Linux: ~/.clap, ~/.vst3; macOS: ~/Library/Audio/Plug-Ins/CLAP and VST3;
      Windows: %COMMONPROGRAMFILES%\\CLAP and \\VST3). Build them first with
      `cargo xtask bundle percepnet --release`.
";

/// The two plugin formats: extension and default folder.
struct Format {
    ext: &'static str,
    dir: PathBuf,
}

/// An environment variable holding an absolute path.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// This platform's CLAP and VST3 folders.
fn default_dirs() -> Result<(PathBuf, PathBuf)> {
    if cfg!(windows) {
        let common = env_path("COMMONPROGRAMFILES")
            .context("%COMMONPROGRAMFILES% is not set; use --clap-dir and --vst3-dir")?;
        return Ok((common.join("CLAP"), common.join("VST3")));
    }
    let home = env_path("HOME").context("$HOME is not set; use --clap-dir and --vst3-dir")?;
    if cfg!(target_os = "macos") {
        let plugins = home.join("Library/Audio/Plug-Ins");
        Ok((plugins.join("CLAP"), plugins.join("VST3")))
    } else {
        Ok((home.join(".clap"), home.join(".vst3")))
    }
}

/// Cargo's target folder for this workspace (honours `CARGO_TARGET_DIR` and cargo's config).
fn target_dir() -> Result<PathBuf> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("cannot run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cannot read `cargo metadata`")?;
    json.get("target_directory")
        .and_then(|d| d.as_str())
        .map(PathBuf::from)
        .context("`cargo metadata` names no target directory")
}

/// Copies the file or folder `from` to `to` (which must not exist).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Removes the file or folder at `path`, if any.
fn remove_tree(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    result.with_context(|| format!("cannot remove {}", path.display()))
}

/// Installs `bundle` into `dir`: copied next to its destination first, then swapped in, so a
/// failed copy never leaves half a bundle where the host looks.
fn install(bundle: &Path, dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = bundle.file_name().context("bundle without a name")?;
    let destination = dir.join(name);
    let mut staging = destination.as_os_str().to_owned();
    staging.push(".installing");
    let staging = PathBuf::from(staging);
    remove_tree(&staging)?;
    copy_tree(bundle, &staging)?;
    remove_tree(&destination)?;
    fs::rename(&staging, &destination)
        .with_context(|| format!("cannot move {} into place", destination.display()))?;
    Ok(destination)
}

/// `cargo xtask install ARGS...`
pub fn run(args: impl Iterator<Item = String>) -> Result<()> {
    let (mut clap_dir, mut vst3_dir) = (None, None);
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .map(PathBuf::from)
                .with_context(|| format!("{name} needs a folder\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--clap-dir" => clap_dir = Some(value("--clap-dir")?),
            "--vst3-dir" => vst3_dir = Some(value("--vst3-dir")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option '{other}'\n\n{USAGE}"),
        }
    }
    let (clap_default, vst3_default) = match (&clap_dir, &vst3_dir) {
        (Some(c), Some(v)) => (c.clone(), v.clone()),
        _ => default_dirs()?,
    };
    let formats = [
        Format {
            ext: "clap",
            dir: clap_dir.unwrap_or(clap_default),
        },
        Format {
            ext: "vst3",
            dir: vst3_dir.unwrap_or(vst3_default),
        },
    ];

    nice_plug_xtask::chdir_workspace_root()?;
    let bundled = target_dir()?.join("bundled");
    let bundles: Vec<PathBuf> = formats
        .iter()
        .map(|f| bundled.join(format!("{BUNDLE}.{}", f.ext)))
        .collect();
    let missing: Vec<String> = bundles
        .iter()
        .filter(|b| !b.exists())
        .map(|b| b.display().to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} not built; build the bundles first with\n  cargo xtask bundle {BUNDLE} --release",
            missing.join(" and ")
        );
    }
    for (bundle, format) in bundles.iter().zip(&formats) {
        let destination = install(bundle, &format.dir)?;
        println!(
            "installed {} -> {}",
            bundle.display(),
            destination.display()
        );
    }
    println!("Rescan plugins in your host to pick them up (docs/USE.md).");
    Ok(())
}
