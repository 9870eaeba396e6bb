//! Build helper.
//!
//! - `cargo xtask bundle percepnet [--release]` builds the plugin library and packages it as
//!   `target/bundled/percepnet.clap` and `target/bundled/percepnet.vst3` (bundle names come from
//!   `bundler.toml`; nice-plug-xtask does this).
//! - `cargo xtask install [--clap-dir DIR] [--vst3-dir DIR]` copies those bundles to this user's
//!   CLAP and VST3 folders (see `install.rs`).

mod install;

fn main() -> nice_plug_xtask::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    match args.peek().map(String::as_str) {
        Some("install") => {
            args.next();
            install::run(args)
        }
        None | Some("-h" | "--help" | "help") => {
            println!("{}", install::USAGE);
            nice_plug_xtask::main()
        }
        _ => nice_plug_xtask::main(),
    }
}
