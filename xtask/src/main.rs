//! Build helper: `cargo xtask bundle percepnet [--release]` builds the plugin library and
//! packages it as `target/bundled/percepnet.clap` and `target/bundled/percepnet.vst3`
//! (bundle names come from `bundler.toml`).

fn main() -> nice_plug_xtask::Result<()> {
    nice_plug_xtask::main()
}
