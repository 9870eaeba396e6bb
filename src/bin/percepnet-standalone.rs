//! PercepNet as a standalone application (JACK, ALSA or a dummy backend), mainly to open the
//! editor without a plugin host. `--help` lists the audio options; `--backend dummy` runs
//! without a sound card.

use nice_plug::prelude::nice_export_standalone;
use percepnet::plugin::PercepNet;

fn main() {
    // The wrapper reports its own errors; exit non-zero so scripts notice.
    if !nice_export_standalone::<PercepNet>() {
        std::process::exit(1);
    }
}
