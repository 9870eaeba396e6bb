//! Build script: link options for the plugin library.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Make the plugin library impossible to unload (`dlclose` becomes a no-op). Rust's standard
    // library registers per-thread destructors inside the library (e.g. for
    // `std::thread::current()`, which nice-plug calls when an instance is created); if a host
    // unloaded the library while such a thread lived on, that thread would crash on exit.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
