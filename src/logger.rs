//! The engine's messages to the user, handed to QEMU.
//!
//! Most failures are returned to QEMU with a message, which QEMU reports.
//! What no call returns (a failure the reclaimer handles on its own
//! thread, a note on what was set up) goes through the `log` crate to the
//! function QEMU registers with `espt_set_log`: errors and warnings reach
//! the user as QEMU's own do.  Never used from the fault handler, which
//! may not allocate.

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::{EsptLogFn, EsptLogLevel};

/// QEMU's log function, as an address (0: none yet).
static SINK: AtomicUsize = AtomicUsize::new(0);

struct QemuLog;

static LOGGER: QemuLog = QemuLog;

impl log::Log for QemuLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info && SINK.load(Ordering::Acquire) != 0
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => EsptLogLevel::ESPT_LOG_ERROR,
            log::Level::Warn => EsptLogLevel::ESPT_LOG_WARN,
            _ => EsptLogLevel::ESPT_LOG_INFO,
        };
        // A message with a NUL in it loses the rest rather than itself.
        let text = record.args().to_string();
        let text = text.split('\0').next().unwrap_or_default();
        let Ok(msg) = CString::new(text) else {
            return;
        };
        let sink = SINK.load(Ordering::Acquire);
        // SAFETY: SINK holds 0 or the address of the function QEMU
        // registered, which lives as long as QEMU; an `EsptLogFn` is an
        // `Option` of a function pointer, with 0 for `None`.
        if let Some(f) = unsafe { std::mem::transmute::<usize, EsptLogFn>(sink) } {
            // SAFETY: QEMU's function takes a level and a NUL-terminated
            // string that it does not keep.
            unsafe { f(level, msg.as_ptr()) };
        }
    }

    fn flush(&self) {}
}

/// Sends the engine's messages to `sink` from now on.
pub fn set_sink(sink: EsptLogFn) {
    SINK.store(sink.map_or(0, |f| f as usize), Ordering::Release);
    // Another logger may be installed already (a test harness): then
    // that one keeps the messages.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static SEEN: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn record(level: EsptLogLevel, msg: *const std::ffi::c_char) {
        // SAFETY: the logger passes a valid NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(msg) };
        SEEN.lock()
            .unwrap()
            .push((level as u32, text.to_string_lossy().into_owned()));
    }

    #[test]
    fn messages_reach_qemu_with_their_level() {
        set_sink(Some(record));
        log::error!("cannot clear slot {}", 7);
        log::warn!("careful");
        log::debug!("not for the user");
        let seen = SEEN.lock().unwrap().clone();
        assert!(seen.contains(&(
            EsptLogLevel::ESPT_LOG_ERROR as u32,
            "cannot clear slot 7".into()
        )));
        assert!(seen.contains(&(EsptLogLevel::ESPT_LOG_WARN as u32, "careful".into())));
        assert!(!seen.iter().any(|(_, m)| m == "not for the user"));
    }
}
