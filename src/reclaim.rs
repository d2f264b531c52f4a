//! Retired slots waiting to be cleaned.
//!
//! Flushing a slot by unmapping what it holds costs the kernel time in
//! proportion to what was mapped (about 2.7 us a page here; 54 ms for 20k
//! pages).  A vCPU that flushes instead swaps in a clean slot, which costs
//! a table write, and queues the old one here; a helper thread empties it
//! with a single mmap over the whole slot and returns it to the pool.  A
//! vCPU that needs a slot or mapping budget before the helper got there
//! cleans a queued slot itself (see `Engine`).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use crate::slot::SlotMap;
use crate::types::SlotId;

/// A slot no vCPU can reach any more, with what it still maps.
#[derive(Debug)]
pub struct RetiredSlot {
    pub slot: SlotId,
    pub map: SlotMap,
}

#[derive(Default)]
pub struct ReclaimQueue {
    inner: Mutex<QueueState>,
    wake: Condvar,
}

#[derive(Default)]
struct QueueState {
    queue: VecDeque<RetiredSlot>,
    stopping: bool,
}

impl ReclaimQueue {
    pub fn push(&self, r: RetiredSlot) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.queue.push_back(r);
        self.wake.notify_one();
    }

    /// The oldest retired slot, without waiting.
    pub fn try_pop(&self) -> Option<RetiredSlot> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .queue
            .pop_front()
    }

    /// Waits for a retired slot; `None` once [`Self::stop`] was called.
    pub fn pop_wait(&self) -> Option<RetiredSlot> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if s.stopping {
                return None;
            }
            if let Some(r) = s.queue.pop_front() {
                return Some(r);
            }
            s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn stop(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopping = true;
        self.wake.notify_all();
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .queue
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn queue_hands_over_and_stops() {
        let q = Arc::new(ReclaimQueue::default());
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            let mut got = vec![];
            while let Some(r) = q2.pop_wait() {
                got.push(r.slot);
                if got.len() == 2 {
                    break;
                }
            }
            got
        });
        q.push(RetiredSlot {
            slot: SlotId::new(3),
            map: SlotMap::default(),
        });
        q.push(RetiredSlot {
            slot: SlotId::new(4),
            map: SlotMap::default(),
        });
        assert_eq!(t.join().unwrap(), vec![SlotId::new(3), SlotId::new(4)]);
        q.stop();
        assert!(q.pop_wait().is_none());
        assert!(q.is_empty());
    }
}
