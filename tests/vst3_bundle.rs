//! Checks the VST3 bundle produced by `cargo xtask bundle percepnet`: its Linux layout, that its
//! library exports a working plugin factory listing the PercepNet class, and that the library
//! stays resident when a host unloads it.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::{Path, PathBuf};

use libloading::os::unix::{Library as UnixLibrary, RTLD_LOCAL, RTLD_NOW};
use libloading::Library;

/// The plugin's VST3 class id (see `src/plugin/mod.rs`).
const CLASS_ID: [u8; 16] = *b"PercepNetDenoisr";
/// VST3's success code.
const K_RESULT_OK: i32 = 0;
/// glibc's `RTLD_NOLOAD`: `dlopen` only succeeds if the library is already loaded.
const RTLD_NOLOAD: c_int = 0x4;

/// `target/bundled`, where `cargo xtask bundle` puts the bundles (honours `CARGO_TARGET_DIR`).
fn bundled_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| manifest_dir.join("target"), |dir| manifest_dir.join(dir));
    target_dir.join("bundled")
}

/// Path of the bundle's Linux x86-64 library.
fn library_path() -> PathBuf {
    let bundle = bundled_dir().join("percepnet.vst3");
    assert!(
        bundle.is_dir(),
        "{} is missing: build it first with `cargo xtask bundle percepnet`",
        bundle.display()
    );
    bundle.join("Contents/x86_64-linux/percepnet.so")
}

/// `PClassInfo` from the VST3 SDK (`pluginterfaces/base/ipluginbase.h`).
#[repr(C)]
struct ClassInfo {
    cid: [u8; 16],
    cardinality: i32,
    category: [c_char; 32],
    name: [c_char; 64],
}

/// The first entries of the `IPluginFactory` vtable (`FUnknown` methods, then the factory's).
#[repr(C)]
struct FactoryVtable {
    query_interface: usize,
    add_ref: usize,
    release: unsafe extern "system" fn(this: *mut c_void) -> u32,
    get_factory_info: usize,
    count_classes: unsafe extern "system" fn(this: *mut c_void) -> i32,
    get_class_info:
        unsafe extern "system" fn(this: *mut c_void, index: i32, info: *mut ClassInfo) -> i32,
}

/// A COM object pointer: its first field points to the vtable.
#[repr(C)]
struct ComObject {
    vtable: *const FactoryVtable,
}

/// Reads a NUL-terminated fixed-size C string field.
fn c_string(field: &[c_char]) -> String {
    // SAFETY: the field holds a NUL within its bounds (asserted first), so the read stays inside.
    assert!(field.contains(&0), "unterminated string");
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn bundle_has_the_linux_layout() {
    let library = library_path();
    assert!(
        library.is_file(),
        "expected the plugin library at {}",
        library.display()
    );
}

/// Calls the module entry points and checks the factory's class list.
///
/// # Safety
///
/// `library` must be this project's plugin library.
unsafe fn check_factory(library: &Library) {
    // SAFETY: the symbol types match the VST3 module entry points on Linux, and the factory
    // pointer is a live `IPluginFactory` until released.
    unsafe {
        let module_entry = library
            .get::<unsafe extern "C" fn(*mut c_void) -> bool>(b"ModuleEntry")
            .expect("ModuleEntry is exported");
        assert!(module_entry(std::ptr::null_mut()), "ModuleEntry failed");

        let get_factory = library
            .get::<unsafe extern "system" fn() -> *mut c_void>(b"GetPluginFactory")
            .expect("GetPluginFactory is exported");
        let factory = get_factory();
        assert!(!factory.is_null(), "GetPluginFactory returned null");

        let vtable = &*(*(factory as *const ComObject)).vtable;
        assert_eq!((vtable.count_classes)(factory), 1, "one plugin class");
        let mut info: ClassInfo = std::mem::zeroed();
        assert_eq!((vtable.get_class_info)(factory, 0, &mut info), K_RESULT_OK);
        assert_eq!(info.cid, CLASS_ID, "class id");
        assert_eq!(c_string(&info.name), "PercepNet");
        assert_eq!(c_string(&info.category), "Audio Module Class");
        (vtable.release)(factory);

        let module_exit = library
            .get::<unsafe extern "C" fn() -> bool>(b"ModuleExit")
            .expect("ModuleExit is exported");
        assert!(module_exit(), "ModuleExit failed");
    }
}

/// Whether the library at `path` is currently loaded in this process.
fn is_loaded(path: &Path) -> bool {
    // SAFETY: with RTLD_NOLOAD nothing is loaded or initialised; we only probe.
    unsafe { UnixLibrary::open(Some(path), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD) }.is_ok()
}

/// The only test that loads the library, so that nothing else keeps it loaded.
#[test]
fn factory_lists_percepnet_and_the_library_survives_unloading() {
    let path = library_path();
    // SAFETY: loading our own plugin library; its initialisers only set up logging.
    let library = unsafe { Library::new(&path) }.expect("dlopen the VST3 library");
    // SAFETY: `library` is the plugin library.
    unsafe { check_factory(&library) };
    drop(library);

    // Rust's standard library keeps thread-local destructors inside the plugin library: if a
    // host unloaded it, threads that had called into it would crash when they exit. The
    // library is linked with `-z nodelete` (build.rs) so `dlclose` leaves it in place.
    assert!(
        is_loaded(&path),
        "the plugin library was unloaded by dlclose: link it with `-z nodelete` (see build.rs)"
    );
}
