//! Counters shown by `info espt`.  Plain relaxed atomics: they are
//! statistics, not synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// Monotonic event counters of one engine.
        #[derive(Default, Debug)]
        pub struct Counters {
            $(pub $name: AtomicU64,)*
        }

        /// A copy of [`Counters`] at one moment.
        #[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Snapshot {
            $(pub $name: u64,)*
        }

        impl Counters {
            pub fn snapshot(&self) -> Snapshot {
                Snapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters!(
    fills,
    revived,
    run_fills,
    fill_refused,
    upgrades,
    flush_all,
    flush_mmuidx,
    flush_context,
    flush_page,
    flush_range,
    large_page_drops,
    write_protects,
    evictions,
    slots_retired,
    slots_reclaimed,
    slot_switches,
    shadow_on,
    shadow_off,
    shared_clears,
    lock_waits,
);

/// Adds one to a counter.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
