//! Named crash points for crash-recovery tests. With `IRONLOG_CRASH_AT=<name>` in its
//! environment the process aborts (no destructors, no flushing: what `kill -9` leaves) the
//! first time it reaches [`point`]`("<name>")`; without it every point is a no-op (one
//! environment read per process). Points mark the windows the durability invariants are
//! about, e.g. between a transaction's PrepareCommit and its markers.

use std::sync::OnceLock;

/// The environment variable naming the point to crash at.
pub(crate) const CRASH_AT_ENV: &str = "IRONLOG_CRASH_AT";

/// Aborts the process if `IRONLOG_CRASH_AT` names this point.
pub(crate) fn point(name: &str) {
    static CRASH_AT: OnceLock<Option<String>> = OnceLock::new();
    let armed = CRASH_AT.get_or_init(|| std::env::var(CRASH_AT_ENV).ok().filter(|s| !s.is_empty()));
    if armed.as_deref() == Some(name) {
        eprintln!("ironlog: crash point {name} reached; aborting ({CRASH_AT_ENV})");
        std::process::abort();
    }
}
