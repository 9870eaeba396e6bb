//! Stereo link: one set of band gains for both channels, so the stereo image cannot wander.
//!
//! Unlinked, each channel's network sees only its own channel, so a noise that is louder on the
//! left is cut more on the left and a centred voice can drift sideways. Linked, a third engine
//! analyses the mid signal m = (l + r) / 2 and runs the network once; both channel engines skip
//! their own network and apply the mid's g_b and r_b to their own spectra (their pitch, comb
//! filter, post-filter and overlap-add stay per channel). The three engines see the same block
//! sizes, so they complete their hops at the same samples: within one plugin chunk the mid
//! engine produces exactly the estimates that the two channels consume, in order, and a small
//! fixed queue carries them across. Each estimate carries the mid frame's speech presence too,
//! so both channels' voice gates open and close together.

use crate::denoiser::{BandGains, FrameView, GainEstimator, NB_FEATURES};
use crate::dsp::presence;
use crate::model::NetworkEstimator;

/// Most hops one plugin chunk can complete (chunks of at most 256 samples; at 8 kHz a hop is
/// 80 host samples, so at most 4).
pub const QUEUE_CAPACITY: usize = 8;

/// What the mid engine hands to the channels for one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    pub gains: BandGains,
    /// The frame's speech presence, as the mid engine records it.
    pub presence: f32,
}

/// A fixed-capacity FIFO of estimates (no allocation).
#[derive(Clone, Copy, Debug)]
pub struct GainQueue {
    items: [Estimate; QUEUE_CAPACITY],
    head: usize,
    len: usize,
}

impl Default for GainQueue {
    fn default() -> Self {
        Self {
            items: [Estimate::default(); QUEUE_CAPACITY],
            head: 0,
            len: 0,
        }
    }
}

impl GainQueue {
    /// Appends `g`; when full, the oldest entry is dropped (cannot happen with the chunk sizes
    /// above).
    pub fn push(&mut self, g: Estimate) {
        if self.len == QUEUE_CAPACITY {
            self.head = (self.head + 1) % QUEUE_CAPACITY;
            self.len -= 1;
        }
        self.items[(self.head + self.len) % QUEUE_CAPACITY] = g;
        self.len += 1;
    }

    /// Removes and returns the oldest entry.
    pub fn pop(&mut self) -> Option<Estimate> {
        (self.len > 0).then(|| {
            let g = self.items[self.head];
            self.head = (self.head + 1) % QUEUE_CAPACITY;
            self.len -= 1;
            g
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// What a channel's estimator does this chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs its own network on its own channel (unlinked).
    Own,
    /// Applies the mid engine's estimates from its queue (linked channel).
    Follow,
    /// Runs the network on the mid signal and queues every estimate (linked mid engine).
    Lead,
    /// Runs no network (unity gains): the mid engine while unlinked, kept in step only.
    Idle,
}

/// The plugin's gain estimator: the embedded network (`None` only if the weights failed to
/// load: unity gains) plus the stereo-link queue.
pub struct PluginEstimator {
    network: Option<NetworkEstimator>,
    role: Role,
    queue: GainQueue,
    /// [`Role::Follow`]: the presence that came with the last estimate applied.
    followed: Option<f32>,
}

impl PluginEstimator {
    pub fn new(network: Option<NetworkEstimator>) -> Self {
        Self {
            network,
            role: Role::Own,
            queue: GainQueue::default(),
            followed: None,
        }
    }

    /// Sets the role for the following hops; a change of role empties the queue.
    pub fn set_role(&mut self, role: Role) {
        if role != self.role {
            self.queue.clear();
            self.role = role;
        }
    }

    /// The queued estimates (those a [`Role::Lead`] estimator produced, or a
    /// [`Role::Follow`] estimator has yet to apply).
    pub fn queue_mut(&mut self) -> &mut GainQueue {
        &mut self.queue
    }
}

impl GainEstimator for PluginEstimator {
    fn estimate(&mut self, features: &[f32; NB_FEATURES], frame: &FrameView, out: &mut BandGains) {
        match self.role {
            Role::Own => self.network.estimate(features, frame, out),
            Role::Lead => {
                self.network.estimate(features, frame, out);
                // What the mid engine will record: the network's own presence, else the one
                // derived from these gains and the mid frame's energies.
                let presence = match self.network.presence() {
                    Some(p) => presence::sanitize(p),
                    None => presence::from_gains(&out.gain, frame.ex),
                };
                self.queue.push(Estimate {
                    gains: *out,
                    presence,
                });
            }
            // An empty queue cannot happen while the engines are in step; unity is the safe
            // fallback (the channel passes through for that hop, its gate kept open).
            Role::Follow => {
                let estimate = self.queue.pop();
                *out = estimate.map(|e| e.gains).unwrap_or_default();
                self.followed = Some(estimate.map_or(1.0, |e| e.presence));
            }
            Role::Idle => *out = BandGains::default(),
        }
    }

    fn presence(&self) -> Option<f32> {
        match self.role {
            Role::Own | Role::Lead => self.network.presence(),
            Role::Follow => self.followed,
            Role::Idle => None,
        }
    }

    fn reset(&mut self) {
        self.network.reset();
        self.queue.clear();
        self.followed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gains(v: f32) -> Estimate {
        Estimate {
            gains: BandGains {
                gain: [v; crate::NB_BANDS],
                strength: [0.0; crate::NB_BANDS],
            },
            presence: v,
        }
    }

    #[test]
    fn queue_is_first_in_first_out_and_bounded() {
        let mut q = GainQueue::default();
        assert!(q.pop().is_none());
        for i in 0..3 {
            q.push(gains(i as f32));
        }
        assert_eq!(q.pop().unwrap().gains.gain[0], 0.0);
        for i in 3..(3 + QUEUE_CAPACITY) {
            q.push(gains(i as f32));
        }
        // Full: the oldest were dropped, the newest QUEUE_CAPACITY remain in order.
        assert_eq!(q.len(), QUEUE_CAPACITY);
        for i in 3..(3 + QUEUE_CAPACITY) {
            assert_eq!(q.pop().unwrap().gains.gain[0], i as f32);
        }
        assert!(q.is_empty());
    }
}
