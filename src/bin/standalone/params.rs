//! The plugin's parameters as the standalone sees them: listed from the plugin itself (so a new
//! parameter shows up in `--help`, `--set` and the state file without changes here), set from
//! `--set ID=VALUE`, and read back when the standalone exits.
//!
//! Values are *plain* values, the numbers the plugin works with (dB for the attenuation limit,
//! 0 to 1 for the post-filter strength, 0/1 for switches), keyed by the parameter's string id,
//! which the plugin promises never to change.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nice_plug::prelude::{ParamFlags, ParamPtr, Params};

/// One parameter of the plugin.
struct Entry {
    id: String,
    ptr: ParamPtr,
}

/// The parameters of one plugin instance. Holds the `Params` object, so the pointers stay valid.
pub struct ParamTable {
    _params: Arc<dyn Params>,
    entries: Vec<Entry>,
}

/// A parameter id with a plain value.
pub type Value = (String, f32);

impl ParamTable {
    /// The parameters of `params`, in the plugin's order.
    pub fn new(params: Arc<dyn Params>) -> Self {
        let entries = params
            .param_map()
            .into_iter()
            .map(|(id, ptr, _group)| Entry { id, ptr })
            .collect();
        Self {
            _params: params,
            entries,
        }
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The ids of all parameters, comma separated (for error messages).
    fn ids(&self) -> String {
        let ids: Vec<&str> = self.entries.iter().map(|e| e.id.as_str()).collect();
        ids.join(", ")
    }

    /// Whether the parameter is an on/off switch.
    fn is_switch(entry: &Entry) -> bool {
        // SAFETY (all `unsafe` blocks in this file): `ptr` points into `self._params`, which this
        // table keeps alive.
        unsafe { entry.ptr.step_count() == Some(1) }
    }

    /// The plain value range of a parameter.
    fn range(entry: &Entry) -> (f32, f32) {
        unsafe { (entry.ptr.preview_plain(0.0), entry.ptr.preview_plain(1.0)) }
    }

    /// A plain value as the plugin displays it ("12.0 dB", "35%", "On").
    fn display(entry: &Entry, plain: f32) -> String {
        unsafe {
            let normalized = entry.ptr.preview_normalized(plain);
            entry.ptr.normalized_value_to_string(normalized, true)
        }
    }

    /// Checks a plain value for parameter `id`; returns it (switches rounded to 0 or 1).
    pub fn check(&self, id: &str, plain: f32) -> Result<f32> {
        let entry = self
            .entry(id)
            .with_context(|| format!("no parameter '{id}' (parameters: {})", self.ids()))?;
        let (min, max) = Self::range(entry);
        let tolerance = 1e-4 * (max - min).abs().max(1.0);
        if !plain.is_finite() || plain < min - tolerance || plain > max + tolerance {
            bail!(
                "{id}: {plain} is outside {} to {}",
                Self::display(entry, min),
                Self::display(entry, max)
            );
        }
        Ok(if Self::is_switch(entry) {
            plain.round()
        } else {
            plain.clamp(min, max)
        })
    }

    /// Parses `ID=VALUE` (`--set`): VALUE is the plain value (`attenuation_limit=12`,
    /// `post_filter=0.35`), the text the plugin displays (`post_filter=35%`), or for switches
    /// on/off, true/false, yes/no, 1/0.
    pub fn parse_assignment(&self, text: &str) -> Result<Value> {
        let (id, value) = text
            .split_once('=')
            .with_context(|| format!("'{text}' is not ID=VALUE (parameters: {})", self.ids()))?;
        let (id, value) = (id.trim(), value.trim());
        let entry = self
            .entry(id)
            .with_context(|| format!("no parameter '{id}' (parameters: {})", self.ids()))?;
        let lower = value.to_ascii_lowercase();
        let plain = if Self::is_switch(entry) {
            match lower.as_str() {
                "on" | "true" | "yes" | "1" => 1.0,
                "off" | "false" | "no" | "0" => 0.0,
                _ => bail!("{id}: '{value}' is not on/off"),
            }
        } else if let Ok(plain) = value.parse::<f32>() {
            plain
        } else {
            let normalized = unsafe { entry.ptr.string_to_normalized_value(value) }
                .with_context(|| format!("{id}: cannot read '{value}' as a value"))?;
            unsafe { entry.ptr.preview_plain(normalized) }
        };
        Ok((id.to_owned(), self.check(id, plain)?))
    }

    /// Sets parameter `id` to a plain value. Only before the plugin is activated (the standalone
    /// wrapper resets every smoother to the current value just before activation).
    pub fn set(&self, id: &str, plain: f32) -> Result<()> {
        let plain = self.check(id, plain)?;
        let entry = self.entry(id).context("checked above")?;
        unsafe {
            let normalized = entry.ptr.preview_normalized(plain);
            entry.ptr._internal_set_normalized_value(normalized);
        }
        Ok(())
    }

    /// Switches the host bypass parameter on or off; false if the plugin has none.
    pub fn set_bypass(&self, on: bool) -> bool {
        let bypass = self
            .entries
            .iter()
            .find(|e| unsafe { e.ptr.flags() }.contains(ParamFlags::BYPASS));
        match bypass {
            Some(entry) => self.set(&entry.id, if on { 1.0 } else { 0.0 }).is_ok(),
            None => false,
        }
    }

    /// Resets every parameter's smoother to its current value at `sample_rate`.
    pub fn settle_smoothers(&self, sample_rate: f32) {
        for entry in &self.entries {
            unsafe { entry.ptr._internal_update_smoother(sample_rate, true) };
        }
    }

    /// The current plain value of every parameter.
    pub fn values(&self) -> Vec<Value> {
        self.entries
            .iter()
            .map(|e| (e.id.clone(), unsafe { e.ptr.unmodulated_plain_value() }))
            .collect()
    }

    /// Whether parameter `id` is a switch (false for unknown ids).
    pub fn is_switch_id(&self, id: &str) -> bool {
        self.entry(id).is_some_and(Self::is_switch)
    }

    /// "Name value" pairs of the current values, for the start-up message.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                let name = unsafe { e.ptr.name() };
                let plain = unsafe { e.ptr.unmodulated_plain_value() };
                format!("{name} {}", Self::display(e, plain))
            })
            .collect();
        parts.join(", ")
    }

    /// Whether the host bypass parameter is on.
    pub fn bypassed(&self) -> bool {
        self.entries.iter().any(|e| unsafe {
            e.ptr.flags().contains(ParamFlags::BYPASS) && e.ptr.unmodulated_plain_value() > 0.5
        })
    }

    /// The table of parameters for `--help`: id, name, range and default.
    pub fn help_table(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let (name, default) = unsafe { (e.ptr.name(), e.ptr.default_plain_value()) };
            let values = if Self::is_switch(e) {
                "on/off".to_owned()
            } else {
                let (min, max) = Self::range(e);
                format!("{min} to {max}")
            };
            out.push_str(&format!(
                "  {:<20} {:<20} {:<14} default {}\n",
                e.id,
                name,
                values,
                Self::display(e, default)
            ));
        }
        out
    }
}
