//! The state file: the parameter values of the last clean exit, read at start and written when
//! the standalone exits cleanly, in the platform's config folder:
//!
//! - Linux and other Unix: `$XDG_CONFIG_HOME/percepnet/standalone.json`, else
//!   `~/.config/percepnet/standalone.json`
//! - macOS: `~/Library/Application Support/percepnet/standalone.json`
//! - Windows: `%APPDATA%\percepnet\standalone.json`
//!
//! ```json
//! { "format": "percepnet-standalone 1",
//!   "params": { "attenuation_limit": 30.0, "post_filter": 0.5, "bypass": false, ... } }
//! ```
//!
//! A value the plugin no longer has, or no longer accepts, is skipped with a warning; an
//! unreadable file is reported and the defaults are used.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value as Json};

use super::params::{ParamTable, Value};

/// The `format` field this version writes and reads.
const FORMAT: &str = "percepnet-standalone 1";

/// The default state file, or `None` when no home or config folder is known.
pub fn default_path() -> Option<PathBuf> {
    config_dir().map(|dir| dir.join("percepnet").join("standalone.json"))
}

/// The platform's per-user configuration folder.
fn config_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if cfg!(windows) {
        var("APPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|home| home.join("Library").join("Application Support"))
    } else {
        var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|home| home.join(".config")))
    }
}

/// Reads the values stored in `path` (none if the file does not exist). Values that `table`
/// refuses are skipped with a warning on stderr.
pub fn load(path: &Path, table: &ParamTable) -> Result<Vec<Value>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let json: Json = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    if json.get("format").and_then(Json::as_str) != Some(FORMAT) {
        bail!("{} is not a \"{FORMAT}\" file", path.display());
    }
    let params = json
        .get("params")
        .and_then(Json::as_object)
        .with_context(|| format!("{} has no \"params\" object", path.display()))?;
    let mut values = Vec::new();
    for (id, value) in params {
        let plain = match value {
            Json::Bool(on) => Some(if *on { 1.0 } else { 0.0 }),
            Json::Number(n) => n.as_f64().map(|v| v as f32),
            _ => None,
        };
        let checked = plain
            .context("not a number")
            .and_then(|plain| table.check(id, plain));
        match checked {
            Ok(plain) => values.push((id.clone(), plain)),
            Err(e) => eprintln!(
                "percepnet-standalone: warning: {}: skipping '{id}': {e:#}",
                path.display()
            ),
        }
    }
    Ok(values)
}

/// Writes `values` to `path` (through a temporary file, so a crash never leaves half a file).
pub fn save(path: &Path, table: &ParamTable, values: &[Value]) -> Result<()> {
    let mut params = Map::new();
    for (id, plain) in values {
        let value = if table.is_switch_id(id) {
            json!(*plain > 0.5)
        } else {
            // The shortest decimal that reads back as the same f32 (0.35, not 0.3499999940395355).
            json!(plain
                .to_string()
                .parse::<f64>()
                .unwrap_or(f64::from(*plain)))
        };
        params.insert(id.clone(), value);
    }
    let text = serde_json::to_string_pretty(&json!({ "format": FORMAT, "params": params }))?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text + "\n").with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
