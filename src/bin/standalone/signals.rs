//! Signals that end the standalone cleanly (Unix; elsewhere these do nothing).
//!
//! nice-plug's standalone wrapper stops on SIGINT (Ctrl-C) only: [`forward_termination`] makes
//! SIGTERM (systemd, `kill`) and SIGHUP (the terminal closing) raise SIGINT, so a streaming box
//! that stops the service still saves the parameters. [`catch_sigint`] takes SIGINT over for
//! the editor window (see `editor.rs`); [`interrupted`] tells whether it arrived since.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the SIGINT handler [`catch_sigint`] installs.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT arrived since [`catch_sigint`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[cfg(unix)]
mod unix {
    use std::sync::atomic::Ordering;

    use libc::c_int;

    /// Async-signal-safe: one atomic store.
    extern "C" fn on_sigint(_: c_int) {
        super::INTERRUPTED.store(true, Ordering::SeqCst);
    }

    /// Async-signal-safe: `kill` is on POSIX's list.
    extern "C" fn raise_sigint(_: c_int) {
        // SAFETY: plain system calls with valid arguments.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGINT);
        }
    }

    /// Installs `handler` for `signal` (restarting interrupted system calls).
    pub fn install(signal: c_int, handler: extern "C" fn(c_int)) {
        // SAFETY: the action is fully initialised (zeroed, then the fields sigaction reads), and
        // both handlers are async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                eprintln!(
                    "percepnet-standalone: warning: cannot install a handler for signal {signal}"
                );
            }
        }
    }

    pub fn forward_termination() {
        install(libc::SIGTERM, raise_sigint);
        install(libc::SIGHUP, raise_sigint);
    }

    pub fn catch_sigint() {
        install(libc::SIGINT, on_sigint);
    }
}

/// SIGTERM and SIGHUP act as SIGINT from now on.
pub fn forward_termination() {
    #[cfg(unix)]
    unix::forward_termination();
}

/// SIGINT sets [`interrupted`] from now on, instead of whatever handled it before.
pub fn catch_sigint() {
    #[cfg(unix)]
    unix::catch_sigint();
}
