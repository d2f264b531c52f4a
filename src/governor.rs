//! When to shadow an address space, and when to stop.
//!
//! A shadow pays for itself only over time: every page an address space
//! touches after a flush costs a host fault, a redirect, a soft-TLB lookup
//! and an mmap (about 6.5 us here, as much as 15-20 soft-TLB misses),
//! while each access it then serves saves a few nanoseconds.  Processes
//! that live a few milliseconds (a shell's fork and exec), and phases that
//! keep invalidating what was just mirrored (a JIT or self-modifying code
//! rewriting a page, a guest kernel forking), lose.
//!
//! So each address space of each vCPU starts on the soft TLB (every table
//! entry at the never-mapped soft slot; QEMU then runs translation blocks
//! made without the shadow, plain TCG's) and is shadowed once it has run
//! [`Tuning::promote_after`] on its vCPU, counted from the last time the
//! vCPU's translations were all invalidated (a mirror made just before
//! the next TLBIALL is wasted: see [`Governor::all_flushed`]) and from
//! the last time it translated much ([`Governor::translated`]: code that
//! is still being translated is run-once code, and shadowing it means
//! translating it again).  A shadow whose mirror a TLBIALL throws away
//! sooner than that goes back to the soft TLB.  While
//! shadowed, its churn is charged to it: each mapping call on the slots
//! ([`Tuning::call_cost`]) and each fault that led to a refill
//! ([`Tuning::fault_cost`]); the first
//! fill of a page is not churn but the investment a shadow needs, and the
//! unmaps of guest TLB invalidations are not charged either (its slots
//! stay current on the soft TLB too, so leaving would not save them).  If the
//! charges exceed [`Tuning::max_share`] of a [`Tuning::window`] of its run
//! time, it goes back to the soft TLB for a back-off that doubles on each
//! relapse (up to [`Tuning::backoff_max`]) and resets after a healthy
//! window.  Its slots are kept, and kept current, while it is off: what
//! was mirrored is still there when it comes back.
//!
//! Costs are estimates rather than measurements because the host's precise
//! clock costs ~100 ns a read in a VM, more than the policy may spend per
//! fill; time is the coarse monotonic clock, in nanoseconds, passed in by
//! the caller so that the policy can be tested with a fake clock.

use crate::hash::FastHashSet;
use std::fmt;
use std::str::FromStr;

/// The policy's parameters.  Defaults from the benchmark (`ci/bench`):
/// fork/exec processes live 3-10 ms and a 20 ms delay costs a CPU-bound
/// program nothing measurable; first fills are free, so a large program
/// can fault in its working set without being sent back.  The costs are
/// what a fault and a mapping call take here all told, IPIs and context
/// switches included (a VM: each TLB-shootdown IPI is a VM exit), which is
/// two to three times their time in the kernel: with the kernel-only
/// figures (3 and 4 us) Linux boot and a fork/exec loop stayed shadowed at
/// 0.85-0.9x of plain TCG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// False: every address space is shadowed from its first fill.
    pub enabled: bool,
    /// Run time on the soft TLB before an address space is shadowed.
    pub promote_after: u64,
    /// Run time over which fill and flush costs are judged.
    pub window: u64,
    /// Most of a window that fills and flushes may take, in percent.
    pub max_share: u64,
    /// First and longest back-off (run time) after a bad window.
    pub backoff_min: u64,
    pub backoff_max: u64,
    /// An address space away from its vCPU for longer than this (wall
    /// time) starts over: its ASID has probably been given to a new
    /// process.
    pub forget_after: u64,
    /// Charged for each fault sent to a slow path (signal delivery, the
    /// handler, the return), the slow path's work aside.
    pub fault_cost: u64,
    /// Charged for each mapping call (mmap, mprotect) on the slots.
    pub call_cost: u64,
    /// Most blocks of guest code an address space may translate in a
    /// stretch of [`Tuning::promote_after`] on the soft TLB and still be
    /// shadowed at its end.
    pub quiet_blocks: u64,
    /// Whether mirrors survive whole invalidations, revoked in bulk and
    /// revalidated page by page, rather than being dropped (`keep=0` in
    /// `ESPT_GOVERNOR` drops them, for comparison).  Not a governor
    /// setting as such, but policy all the same.
    pub keep_mirrors: bool,
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

impl Tuning {
    /// No policy: every address space is shadowed from its first fill.
    pub fn always_shadow() -> Self {
        Tuning {
            enabled: false,
            ..Tuning::default()
        }
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            enabled: true,
            promote_after: 20 * MS,
            window: 100 * MS,
            max_share: 20,
            backoff_min: 100 * MS,
            backoff_max: 3_200 * MS,
            forget_after: 500 * MS,
            fault_cost: 5 * US,
            call_cost: 10 * US,
            quiet_blocks: 100,
            keep_mirrors: true,
        }
    }
}

/// A malformed `ESPT_GOVERNOR` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuningError(String);

impl fmt::Display for TuningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid ESPT_GOVERNOR {:?}: expected \"off\", \"on\" and comma-separated \
             key=value with keys promote_ms, window_ms, share_pct, backoff_ms, \
             backoff_max_ms, forget_ms, fault_us, call_us, quiet_blocks, keep",
            self.0
        )
    }
}

impl std::error::Error for TuningError {}

impl FromStr for Tuning {
    type Err = TuningError;

    /// `off`, `on`, or e.g. `promote_ms=50,share_pct=10`, `off,keep=0`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TuningError(s.to_string());
        let mut t = Tuning::default();
        if s.trim().is_empty() {
            return Ok(t);
        }
        for kv in s.split(',') {
            match kv.trim() {
                "off" => {
                    t.enabled = false;
                    continue;
                }
                "on" => {
                    t.enabled = true;
                    continue;
                }
                _ => {}
            }
            let (k, v) = kv.split_once('=').ok_or_else(err)?;
            let v: u64 = v.trim().parse().map_err(|_| err())?;
            match k.trim() {
                "promote_ms" => t.promote_after = v * MS,
                "window_ms" if v > 0 => t.window = v * MS,
                "share_pct" if v <= 100 => t.max_share = v,
                "backoff_ms" => t.backoff_min = v * MS,
                "backoff_max_ms" => t.backoff_max = v * MS,
                "forget_ms" => t.forget_after = v * MS,
                "fault_us" => t.fault_cost = v * US,
                "call_us" => t.call_cost = v * US,
                "quiet_blocks" => t.quiet_blocks = v,
                "keep" if v <= 1 => t.keep_mirrors = v == 1,
                _ => return Err(err()),
            }
        }
        t.backoff_max = t.backoff_max.max(t.backoff_min);
        Ok(t)
    }
}

/// Whole flushes closer together than this count as one (see
/// [`Governor::all_flushed`]): the deliveries of one broadcast reach every
/// vCPU within one of their blocks, or a host time slice when vCPUs
/// outnumber host CPUs.
pub const FLUSH_MERGE: u64 = 2 * MS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Translated code uses the soft TLB (table entries at the soft slot).
    Soft,
    /// Translated code uses the slots.
    Shadow,
}

/// What a fill request should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it to the soft TLB.
    Skip,
    /// Mirror it.
    Fill,
    /// Mirror it: the address space has just been shadowed.
    Promoted,
}

/// The policy state of one address space of one vCPU.
#[derive(Clone, Debug)]
pub struct Governor {
    mode: Mode,
    /// Run time accumulated before `since`.
    run: u64,
    /// When it last became current, while it is.
    since: Option<u64>,
    /// When it last stopped being current.
    left: u64,
    window_start: u64,
    window_cost: u64,
    /// Run time before which it stays on the soft TLB.
    soft_until: u64,
    /// Blocks translated since the current quiet stretch began (on the
    /// soft TLB), and the run time at which it began.
    stretch_blocks: u64,
    stretch_start: u64,
    /// Run time at which it was last shadowed or its vCPU's mirrors were
    /// all invalidated.
    mirror_since: u64,
    backoff: u64,
    /// When (engine time, not run time) a whole flush was last counted.
    flushed_at: Option<u64>,
    /// Pages (numbers) mirrored at least once: filling one of these again
    /// is churn; filling a new one is the investment the shadow is for.
    touched: FastHashSet<u32>,
}

impl Governor {
    /// A new address space, current from `now`.
    pub fn new(t: &Tuning, now: u64) -> Self {
        Governor {
            mode: if t.enabled { Mode::Soft } else { Mode::Shadow },
            run: 0,
            since: Some(now),
            left: now,
            window_start: 0,
            window_cost: 0,
            soft_until: t.promote_after,
            stretch_blocks: 0,
            stretch_start: 0,
            mirror_since: 0,
            backoff: t.backoff_min,
            flushed_at: None,
            touched: FastHashSet::default(),
        }
    }

    /// Records that `page` is being mirrored; true the first time.
    pub fn first_touch(&mut self, page: u32) -> bool {
        self.touched.insert(page)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Run time so far.
    pub fn run_time(&self, now: u64) -> u64 {
        self.run + self.since.map_or(0, |s| now.saturating_sub(s))
    }

    /// It becomes current.  Returns the mode it runs in.
    pub fn enter(&mut self, t: &Tuning, now: u64) -> Mode {
        if t.enabled && now.saturating_sub(self.left) > t.forget_after {
            *self = Governor::new(t, now);
            // Its slots (if any) are still current; only the policy
            // starts over.
        }
        self.since = Some(now);
        self.promote_if_due(t, now);
        self.mode
    }

    /// It stops being current.
    pub fn leave(&mut self, now: u64) {
        self.run = self.run_time(now);
        self.since = None;
        self.left = now;
    }

    /// Everything its vCPU mirrored was invalidated (TLBIALL, or whole
    /// mmu indexes).  A mirror pays only if it lives long enough, and on a
    /// vCPU whose guest invalidates everything every few milliseconds it
    /// never does.  32-bit Linux built with the workaround of ARM erratum
    /// 720789 (Debian's armmp kernels) flushes with TLBIALLIS rather than
    /// TLBIASIDIS, on every fork, exec and exit; a process shadowed in such
    /// a phase pays its faults and refills, and the translation of its
    /// code for the shadow, for a mirror that the next fork anywhere
    /// throws away.  So on the soft TLB its wait starts over, and a shadow
    /// whose mirror lived less than [`Tuning::promote_after`] of its run
    /// time (since it was shadowed or last flushed) goes back to the soft
    /// TLB, which a guest's fork-heavy phase (a shell running a script)
    /// would otherwise make refill until its charges reached the
    /// [`Tuning::max_share`] of a window.  True when it goes back.
    ///
    /// One invalidation of the guest reaches the engine once per vCPU (a
    /// broadcast TLBIALLIS, or a local one that QEMU broadcasts because
    /// mirrors are shared): the deliveries that follow the first within
    /// [`FLUSH_MERGE`] count as that one, or the second would find a
    /// mirror that lived no time and send the address space back.
    pub fn all_flushed(&mut self, t: &Tuning, now: u64) -> bool {
        if !t.enabled {
            return false;
        }
        if self
            .flushed_at
            .is_some_and(|at| now.saturating_sub(at) < FLUSH_MERGE)
        {
            return false;
        }
        self.flushed_at = Some(now);
        let rt = self.run_time(now);
        let lived = rt.saturating_sub(self.mirror_since);
        self.mirror_since = rt;
        match self.mode {
            Mode::Soft => {
                self.soft_until = self.soft_until.max(rt.saturating_add(t.promote_after));
                false
            }
            Mode::Shadow if lived < t.promote_after => {
                self.mode = Mode::Soft;
                self.soft_until = rt.saturating_add(t.promote_after);
                self.stretch_start = rt;
                self.stretch_blocks = 0;
                true
            }
            Mode::Shadow => false,
        }
    }

    /// A block of guest code was translated while it was current.
    ///
    /// Code that is being translated has not run yet, or not since it
    /// was last invalidated: a process starting (the dynamic linker, a
    /// shell's child), a kernel booting.  Such a phase gains little from
    /// the shadow, whose fills pay only for pages used again and again,
    /// and loses much when it is shadowed halfway: every block it has
    /// already translated for the soft TLB is translated again for the
    /// shadow the next time it runs (in a quick Linux boot, a third more
    /// blocks than plain TCG translates).  So an address space is
    /// shadowed only at the end of a stretch of [`Tuning::promote_after`]
    /// run time in which it translated at most [`Tuning::quiet_blocks`]
    /// blocks; a busier stretch starts a new one.  100 blocks are a few
    /// percent of a 20 ms stretch (plain TCG translates a block in about
    /// 7 us here: 72k blocks, 0.5 s of a Linux boot's samples).
    pub fn translated(&mut self, t: &Tuning, now: u64) {
        if !t.enabled || self.mode != Mode::Soft {
            return;
        }
        self.stretch_blocks += 1;
        if self.stretch_blocks > t.quiet_blocks {
            let rt = self.run_time(now);
            self.stretch_start = rt;
            self.stretch_blocks = 0;
        }
    }

    fn promote_if_due(&mut self, t: &Tuning, now: u64) -> bool {
        let rt = self.run_time(now);
        if self.mode == Mode::Soft
            && rt >= self.soft_until
            && rt.saturating_sub(self.stretch_start) >= t.promote_after
        {
            self.mode = Mode::Shadow;
            self.mirror_since = rt;
            self.window_start = rt;
            self.window_cost = 0;
            return true;
        }
        false
    }

    /// A fill was asked for.
    pub fn on_fill_request(&mut self, t: &Tuning, now: u64) -> Verdict {
        match self.mode {
            Mode::Shadow => Verdict::Fill,
            Mode::Soft => {
                if self.promote_if_due(t, now) {
                    Verdict::Promoted
                } else {
                    Verdict::Skip
                }
            }
        }
    }

    /// Charges `cost` ns of shadow upkeep (faults, mapping calls).  True
    /// when the address space must go back to the soft TLB.
    pub fn charge(&mut self, t: &Tuning, now: u64, cost: u64) -> bool {
        if !t.enabled || self.mode != Mode::Shadow {
            return false;
        }
        self.window_cost += cost;
        let rt = self.run_time(now);
        let budget = t.window / 100 * t.max_share;
        if self.window_cost > budget {
            self.mode = Mode::Soft;
            self.soft_until = rt + self.backoff;
            self.backoff = (self.backoff * 2).min(t.backoff_max);
            return true;
        }
        if rt.saturating_sub(self.window_start) >= t.window {
            // A healthy window: relapses start from the shortest back-off.
            self.window_start = rt;
            self.window_cost = 0;
            self.backoff = t.backoff_min;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Tuning {
        Tuning::default()
    }

    #[test]
    fn starts_soft_and_is_shadowed_after_running_long_enough() {
        let t = t();
        let mut g = Governor::new(&t, 0);
        assert_eq!(g.on_fill_request(&t, 5 * MS), Verdict::Skip);
        // Time away does not count.
        g.leave(10 * MS);
        assert_eq!(g.enter(&t, 100 * MS), Mode::Soft);
        assert_eq!(g.on_fill_request(&t, 105 * MS), Verdict::Skip);
        assert_eq!(g.on_fill_request(&t, 111 * MS), Verdict::Promoted);
        assert_eq!(g.on_fill_request(&t, 112 * MS), Verdict::Fill);
    }

    #[test]
    fn disabled_means_always_shadowed() {
        let t: Tuning = "off".parse().unwrap();
        let mut g = Governor::new(&t, 0);
        assert_eq!(g.on_fill_request(&t, 0), Verdict::Fill);
        assert!(!g.charge(&t, 1, 10_000 * MS));
        assert_eq!(g.mode(), Mode::Shadow);
    }

    #[test]
    fn churn_sends_it_back_with_a_growing_backoff() {
        let t = t();
        let mut g = Governor::new(&t, 0);
        assert_eq!(g.on_fill_request(&t, 20 * MS), Verdict::Promoted);
        // 20 ms of fills within the first 10 ms of a window: over 20 %.
        let mut now = 20 * MS;
        let mut demoted = false;
        for _ in 0..10_000 {
            now += US;
            if g.charge(&t, now, 7 * US) {
                demoted = true;
                break;
            }
        }
        assert!(demoted);
        assert_eq!(g.mode(), Mode::Soft);
        assert_eq!(g.on_fill_request(&t, now + 50 * MS), Verdict::Skip);
        assert_eq!(g.on_fill_request(&t, now + 101 * MS), Verdict::Promoted);
        // The next relapse waits twice as long.
        now += 101 * MS;
        while !g.charge(&t, now, 20 * US) {
            now += US;
        }
        assert_eq!(g.on_fill_request(&t, now + 150 * MS), Verdict::Skip);
        assert_eq!(g.on_fill_request(&t, now + 201 * MS), Verdict::Promoted);
    }

    #[test]
    fn a_trickle_of_fills_never_demotes() {
        let t = t();
        let mut g = Governor::new(&t, 0);
        g.on_fill_request(&t, 20 * MS);
        // One 8 us fill per millisecond for ten seconds: under 1 %.
        for ms in 21..10_000 {
            assert!(!g.charge(&t, ms * MS, 8 * US));
        }
        assert_eq!(g.mode(), Mode::Shadow);
    }

    #[test]
    fn a_full_flush_restarts_the_wait_on_the_soft_tlb() {
        let t = t();
        let mut g = Governor::new(&t, 0);
        g.all_flushed(&t, 15 * MS);
        assert_eq!(g.on_fill_request(&t, 25 * MS), Verdict::Skip);
        assert_eq!(g.on_fill_request(&t, 34 * MS), Verdict::Skip);
        assert_eq!(g.on_fill_request(&t, 35 * MS), Verdict::Promoted);
        // Once shadowed, a mirror that lives its promotion delay keeps
        // it shadowed.
        assert!(!g.all_flushed(&t, 55 * MS));
        assert_eq!(g.mode(), Mode::Shadow);
        // Away from the vCPU, its run time stands still.
        let mut h = Governor::new(&t, 0);
        h.leave(10 * MS);
        h.all_flushed(&t, 50 * MS);
        assert_eq!(h.enter(&t, 60 * MS), Mode::Soft);
        assert_eq!(h.on_fill_request(&t, 79 * MS), Verdict::Skip);
        assert_eq!(h.on_fill_request(&t, 80 * MS), Verdict::Promoted);
    }

    #[test]
    fn a_mirror_flushed_young_goes_back_to_the_soft_tlb() {
        let t = t();
        let mut g = Governor::new(&t, 0);
        assert_eq!(g.on_fill_request(&t, 20 * MS), Verdict::Promoted);
        // Flushed 5 ms after it was shadowed: back to the soft TLB, whose
        // wait starts over from the flush.
        assert!(g.all_flushed(&t, 25 * MS));
        assert_eq!(g.mode(), Mode::Soft);
        assert_eq!(g.on_fill_request(&t, 44 * MS), Verdict::Skip);
        assert_eq!(g.on_fill_request(&t, 45 * MS), Verdict::Promoted);
        // Its run time counts, not the wall time it spent away.
        g.leave(50 * MS);
        assert_eq!(g.enter(&t, 200 * MS), Mode::Shadow);
        assert!(g.all_flushed(&t, 210 * MS));
        // Off, the policy never sends it back.
        let off = Tuning::always_shadow();
        let mut h = Governor::new(&off, 0);
        assert!(!h.all_flushed(&off, 1));
        assert_eq!(h.mode(), Mode::Shadow);
    }

    #[test]
    fn translating_much_holds_off_the_shadow() {
        let t = t();
        let mut g = Governor::new(&t, 0);
        // A busy stretch: more than quiet_blocks translations by 10 ms.
        for i in 0..=t.quiet_blocks {
            g.translated(&t, 10 * MS * i / t.quiet_blocks);
        }
        assert_eq!(g.on_fill_request(&t, 29 * MS), Verdict::Skip);
        // A quiet one: the last stretch began at 10 ms.
        for _ in 0..t.quiet_blocks {
            g.translated(&t, 20 * MS);
        }
        assert_eq!(g.on_fill_request(&t, 30 * MS), Verdict::Promoted);
        // Once shadowed, translations do not count.
        for _ in 0..=t.quiet_blocks {
            g.translated(&t, 31 * MS);
        }
        assert_eq!(g.mode(), Mode::Shadow);
    }

    #[test]
    fn a_long_absence_starts_over() {
        let t = t();
        let mut g = Governor::new(&t, 0);
        g.on_fill_request(&t, 30 * MS);
        assert_eq!(g.mode(), Mode::Shadow);
        g.leave(40 * MS);
        assert_eq!(g.enter(&t, 45 * MS), Mode::Shadow);
        g.leave(50 * MS);
        assert_eq!(g.enter(&t, 50 * MS + t.forget_after + 1), Mode::Soft);
    }

    #[test]
    fn tuning_parses_and_refuses() {
        let t: Tuning = "promote_ms=50,share_pct=10".parse().unwrap();
        assert_eq!(t.promote_after, 50 * MS);
        assert_eq!(t.max_share, 10);
        assert!(t.enabled);
        assert!("share_pct=101".parse::<Tuning>().is_err());
        assert_eq!("quiet_blocks=7".parse::<Tuning>().unwrap().quiet_blocks, 7);
        assert!("fast".parse::<Tuning>().is_err());
        assert!("window_ms=0".parse::<Tuning>().is_err());
        let e = "x=1".parse::<Tuning>().unwrap_err().to_string();
        assert!(e.contains("ESPT_GOVERNOR"), "{e}");
        let t: Tuning = "off,keep=0".parse().unwrap();
        assert!(!t.enabled && !t.keep_mirrors);
        assert!(Tuning::default().keep_mirrors);
        assert!("keep=2".parse::<Tuning>().is_err());
        assert!("off,".parse::<Tuning>().is_err());
    }
}
