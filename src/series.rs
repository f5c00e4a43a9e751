//! A series: its slot run (or a gauge's value) and its label text, in one
//! reference-counted allocation.
//!
//! A family holds as many series as it has label sets, so the series is
//! laid out for size: one allocation holding a reference count, one value
//! word, the text's length and the text itself, with no weak count (nothing
//! needs one) and no pointer to a separate text buffer. A histogram series
//! also holds, just before its header, a counted pointer to its bucket
//! bounds (released by its last drop), which its handles copy without
//! counting. A labelled counter series costs that allocation plus its map
//! slot and list entry (see `docs/BENCHMARKS.md`).
//!
//! The count follows `std::sync::Arc`: a clone is a relaxed increment
//! (whoever clones already holds a reference, so the allocation is alive);
//! a drop is a release decrement, and the thread that takes the count to
//! zero issues an acquire fence before it frees, so every use of the
//! series by any other reference happens-before the free. The last drop of
//! a sharded series frees its slot run (zeroed in every shard, then
//! reusable), which is what the loom model of removal and slot reuse checks.
// The label-text map and the spare-reference calls are not built under
// loom (a mutex-guarded `HashMap` and plain counting stand in).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};
// Bucket bounds take part in no protocol (immutable once built): a std
// `Arc`, as `Buckets` holds.
use crate::sync::StdArc;

use crate::exemplar::Exemplars;
use crate::shard::{pool, SlotLoc};
use crate::sync::exemplar::{AtomicPtr, Ordering as ExOrdering};
use crate::sync::{fence, AtomicU32, AtomicU64, Ordering};

/// The start of a series' allocation; `len` bytes of label text follow it.
#[derive(Debug)]
#[doc(hidden)]
pub struct Header {
    /// The reference count: 32 bits, so that it and `len_kind` share a
    /// word and a series' header stays 24 bytes with its exemplar pointer.
    refs: AtomicU32,
    /// The text's length (bits 0-28), whether a creation time follows the
    /// text (bit 29), whether a pointer to a histogram's bucket bounds
    /// precedes the header (bit 30) and whether this is a gauge (bit 31).
    len_kind: u32,
    /// A gauge's value (gauges are not sharded: one atomic per series). A
    /// sharded series keeps its slot run here instead, written once before
    /// the series is shared and never again: the offset in its segment
    /// (bits 0-31), the segment (bits 32-47) and the run length (bits
    /// 48-63).
    value: AtomicU64,
    /// The series' exemplar cells (`exemplar.rs`), null until its first
    /// exemplar; published once (a compare-exchange, release), freed with
    /// the series.
    exemplars: AtomicPtr<Exemplars>,
    /// Loom builds: read by every scrape that borrows the series from its
    /// family's list ([`Series::touch`]) and written when the series is
    /// freed, so that loom reports a free concurrent with such a read.
    #[cfg(telemeter_loom)]
    freed: loom::cell::UnsafeCell<()>,
}

const GAUGE: u64 = 1 << 31;
/// A histogram series: just before the header, at a fixed offset so that
/// reading it waits on no length, a pointer to its bucket bounds, one
/// counted reference of their `Arc` owned by the series (see
/// [`Series::histogram`]).
const BOUNDS: u64 = 1 << 30;
/// The series' creation time (an `f64` of seconds since the Unix epoch)
/// follows its label text, unaligned: a registry that serves OpenMetrics'
/// `_created` (`RegistryBuilder::created_timestamps`) makes its counter
/// and histogram series so; no other series pays the 8 bytes.
const CREATED: u64 = 1 << 29;
const LEN: u64 = CREATED - 1;

/// Counts above this abort, as `std::sync::Arc` does: only a leak of
/// billions of references can get there, and wrapping would free a live
/// series.
const MAX_REFS: u32 = i32::MAX as u32;

/// A counted reference to one series (see the module docs).
#[doc(hidden)]
pub struct Series {
    ptr: NonNull<Header>,
}

// SAFETY: a series is immutable after construction except for its atomics
// (the count and the value), so references may be sent to and shared
// between threads; the allocation is freed exactly once, by the reference
// that takes the count to zero.
unsafe impl Send for Series {}
// SAFETY: as above.
unsafe impl Sync for Series {}

/// Bytes before the header: the bounds pointer of a histogram series.
fn lead(len_kind: u64) -> usize {
    if len_kind & BOUNDS != 0 {
        size_of::<*const f64>()
    } else {
        0
    }
}

/// The allocation of a series whose `len_kind` is `len_kind`: `lead`
/// bytes, the header, the text.
fn layout(len_kind: u64) -> Layout {
    let trail = if len_kind & CREATED != 0 { 8 } else { 0 };
    let size = lead(len_kind) + size_of::<Header>() + (len_kind & LEN) as usize + trail;
    // A label text long enough to overflow `isize` cannot exist: it was
    // rendered into a `String` first.
    Layout::from_size_align(size, align_of::<Header>()).expect("label text shorter than isize::MAX")
}

/// Allocates a run of `run_len` slots and packs it into a value word.
fn run_word(run_len: usize) -> u64 {
    let loc = SlotLoc::of(pool().alloc(run_len));
    // `SEGMENTS` keeps every offset below 2^32; `MAX_RUN` is 2^10.
    loc.word() | (run_len as u64) << 48
}

impl Series {
    fn new(
        value: u64,
        kind: u64,
        labels: &str,
        bounds: Option<StdArc<[f64]>>,
        created: Option<f64>,
    ) -> Series {
        let len = labels.len();
        // 512 MiB of label text for one series: far past any registry's
        // limits (a value is at most `max_label_value_bytes`), and then
        // unrepresentable, as a reference count past its limit is.
        if len as u64 > LEN {
            std::process::abort();
        }
        let len_kind = len as u64
            | kind
            | if bounds.is_some() { BOUNDS } else { 0 }
            | if created.is_some() { CREATED } else { 0 };
        let layout = layout(len_kind);
        // SAFETY: `layout` has a non-zero size (the header).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            handle_alloc_error(layout)
        }
        // SAFETY: `base` is a fresh allocation of `layout`: with `BOUNDS`,
        // an aligned pointer (`lead` is its size), then a `Header` at `p`,
        // then `len` bytes, which `labels` (a distinct, live string) fills.
        unsafe {
            let p = base.add(lead(len_kind)) as *mut Header;
            if let Some(b) = bounds {
                (p as *mut *const f64)
                    .sub(1)
                    .write(StdArc::into_raw(b) as *const f64);
            }
            p.write(Header {
                refs: AtomicU32::new(1),
                len_kind: len_kind as u32,
                value: AtomicU64::new(value),
                exemplars: AtomicPtr::new(ptr::null_mut()),
                #[cfg(telemeter_loom)]
                freed: loom::cell::UnsafeCell::new(()),
            });
            ptr::copy_nonoverlapping(labels.as_ptr(), p.add(1) as *mut u8, len);
            if let Some(t) = created {
                // With `CREATED`, `layout` left 8 bytes after the text.
                ((p.add(1) as *mut u8).add(len) as *mut [u8; 8]).write_unaligned(t.to_le_bytes());
            }
            Series {
                ptr: NonNull::new_unchecked(p),
            }
        }
    }

    /// A sharded series with a run of `run_len` slots (`1..=MAX_RUN`) and
    /// the rendered label text `labels`.
    pub(crate) fn sharded(run_len: usize, labels: &str) -> Series {
        Series::sharded_at(run_len, labels, None)
    }

    /// [`Series::sharded`], keeping `created` (seconds since the epoch).
    pub(crate) fn sharded_at(run_len: usize, labels: &str, created: Option<f64>) -> Series {
        Series::new(run_word(run_len), 0, labels, None, created)
    }

    /// A histogram series for `bounds`: a sharded series of 3 more slots
    /// than `bounds` (the bucket cells with `+Inf`, the `f64` sum, the integer
    /// sum) that also owns a counted reference to `bounds`, released when
    /// the series is freed. A handle can then copy the bounds' pointer
    /// without counting it ([`Series::bounds`]): a clone and a drop of the
    /// `Arc` per owned handle were two lock-prefixed operations on a line
    /// every thread shares.
    pub(crate) fn histogram(labels: &str, bounds: StdArc<[f64]>, created: Option<f64>) -> Series {
        Series::new(run_word(bounds.len() + 3), 0, labels, Some(bounds), created)
    }

    /// A gauge series starting at `init` (the value's bits).
    pub(crate) fn gauge(init: u64, labels: &str) -> Series {
        Series::new(init, GAUGE, labels, None, None)
    }

    /// A histogram series' bounds, as an `Arc` that does not count itself:
    /// the series owns the count (see [`Series::histogram`]), so the copy
    /// is valid while a reference to this series is, and must never be
    /// dropped (hence `ManuallyDrop`). `None` for any other series.
    #[inline]
    pub(crate) fn bounds(&self) -> Option<ManuallyDrop<StdArc<[f64]>>> {
        let len_kind = u64::from(self.header().len_kind);
        if len_kind & BOUNDS == 0 {
            return None;
        }
        let run_len = (self.value().load(Ordering::Relaxed) >> 48) as usize;
        // SAFETY: with `BOUNDS`, `new` wrote just before the header the
        // pointer `Arc::into_raw` gave for a slice of `run_len - 3` bounds,
        // whose count the series holds until it is freed; rebuilding the
        // `Arc` from it without dropping it leaves that count as it is.
        unsafe {
            let at = (self.ptr.as_ptr() as *const *const f64).sub(1);
            let data = ptr::slice_from_raw_parts(at.read(), run_len - 3);
            Some(ManuallyDrop::new(StdArc::from_raw(data)))
        }
    }

    /// The series' exemplar cells, if it has had an exemplar.
    #[inline]
    pub(crate) fn exemplars(&self) -> Option<&Exemplars> {
        let p = self.header().exemplars.load(ExOrdering::Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` in
        // `exemplars_or_init`, published once and freed only when the last
        // reference to the series (this one outlives the borrow) is dropped.
        unsafe { p.as_ref() }
    }

    /// The series' exemplar cells, made with `cells` cells (a counter's
    /// one, a histogram's bucket count) at the first call.
    pub(crate) fn exemplars_or_init(&self, cells: usize) -> &Exemplars {
        if let Some(e) = self.exemplars() {
            return e;
        }
        let fresh = Box::into_raw(Box::new(Exemplars::new(cells)));
        match self.header().exemplars.compare_exchange(
            ptr::null_mut(),
            fresh,
            ExOrdering::AcqRel,
            ExOrdering::Acquire,
        ) {
            // SAFETY: published just now; see `exemplars`.
            Ok(_) => unsafe { &*fresh },
            Err(won) => {
                // SAFETY: `fresh` was never shared; `won` is the published
                // cells, valid as in `exemplars`.
                unsafe {
                    drop(Box::from_raw(fresh));
                    &*won
                }
            }
        }
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: `ptr` points to a live, initialised header for as long as
        // this reference exists.
        unsafe { self.ptr.as_ref() }
    }

    /// A gauge's value (see [`Header::value`]).
    #[inline(always)]
    pub(crate) fn value(&self) -> &AtomicU64 {
        &self.header().value
    }

    /// Where the slot run starts (sharded series only).
    #[inline(always)]
    pub(crate) fn loc(&self) -> SlotLoc {
        SlotLoc::from_word(self.value().load(Ordering::Relaxed))
    }

    /// `{l1="v1",...}` with the values escaped, or empty for a family
    /// without labels. The exposition writes it between the sample name and
    /// the value; the lookup map compares label values against it.
    #[inline(always)]
    pub(crate) fn text(&self) -> &[u8] {
        let len = (u64::from(self.header().len_kind) & LEN) as usize;
        // SAFETY: `len` initialised bytes follow the header (see `new`), and
        // they live as long as the allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(1) as *const u8, len) }
    }

    /// When the series was made (seconds since the Unix epoch), if its
    /// registry keeps creation times.
    #[inline]
    pub(crate) fn created(&self) -> Option<f64> {
        let len_kind = u64::from(self.header().len_kind);
        if len_kind & CREATED == 0 {
            return None;
        }
        let len = (len_kind & LEN) as usize;
        // SAFETY: with `CREATED`, `new` wrote 8 bytes after the `len`
        // bytes of text, inside the allocation.
        let bytes = unsafe {
            (self.ptr.as_ptr().add(1) as *const u8)
                .add(len)
                .cast::<[u8; 8]>()
                .read_unaligned()
        };
        Some(f64::from_le_bytes(bytes))
    }

    /// Counts `n` more references, which the caller then owns (as spares:
    /// see `cache`). Relaxed, as a clone: the caller holds one already.
    #[inline]
    // Used by the per-thread spare references, which loom builds lack.
    #[cfg_attr(telemeter_loom, allow(dead_code))]
    pub(crate) fn acquire(&self, n: u32) {
        if self.header().refs.fetch_add(n, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
    }

    /// A `Series` for one reference that is already counted and owned by
    /// the caller, without touching the count.
    ///
    /// # Safety
    ///
    /// The caller owns a counted reference to this series that nothing
    /// else will release; it moves into the returned value.
    #[inline(always)]
    // Used by the per-thread spare references, which loom builds lack.
    #[cfg_attr(telemeter_loom, allow(dead_code))]
    pub(crate) unsafe fn counted_copy(&self) -> Series {
        // SAFETY: `self` is live; the caller's reference moves into the copy.
        unsafe { Series::from_counted_ptr(self.as_ptr()) }
    }

    /// The `Series` for a counted reference the caller owns, given as the
    /// address [`Series::as_ptr`] returned.
    ///
    /// # Safety
    ///
    /// `p` is the address of a live series, and the caller owns a counted
    /// reference to it that moves into the returned value.
    #[inline]
    pub(crate) unsafe fn from_counted_ptr(p: *const Header) -> Series {
        Series {
            // SAFETY: a live series' address is not null.
            ptr: unsafe { NonNull::new_unchecked(p as *mut Header) },
        }
    }

    /// The address of this counted reference, which the caller now owns
    /// (to be turned back with [`Series::from_counted_ptr`]).
    #[inline]
    pub(crate) fn into_counted_ptr(self) -> *const Header {
        ManuallyDrop::new(self).as_ptr()
    }

    /// Marks a borrow of the series by a scrape (loom builds: see
    /// `Header::freed`; nothing otherwise).
    #[inline(always)]
    pub(crate) fn touch(&self) {
        #[cfg(telemeter_loom)]
        self.header().freed.with(|_| ());
    }

    /// Releases `n` counted references the caller owns besides `self`.
    /// Release ordering, as a drop; it cannot reach zero, because `self`
    /// is still counted.
    ///
    /// # Safety
    ///
    /// The caller owns `n` counted references to this series besides
    /// `self`, and uses none of them again.
    #[cfg_attr(telemeter_loom, allow(dead_code))]
    #[inline]
    pub(crate) unsafe fn release(&self, n: u32) {
        let before = self.header().refs.fetch_sub(n, Ordering::Release);
        debug_assert!(before > n, "released a reference still in use");
    }

    /// The reference count (tests).
    #[cfg(test)]
    pub(crate) fn ref_count(&self) -> u64 {
        u64::from(self.header().refs.load(Ordering::Relaxed))
    }

    /// The allocation's address, to tell series apart.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const Header {
        self.ptr.as_ptr()
    }
}

impl Clone for Series {
    #[inline]
    fn clone(&self) -> Series {
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        Series { ptr: self.ptr }
    }
}

impl Drop for Series {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        #[cfg(telemeter_loom)]
        self.header().freed.with_mut(|_| ());
        let len_kind = u64::from(self.header().len_kind);
        if len_kind & GAUGE == 0 {
            let run_len = (self.value().load(Ordering::Relaxed) >> 48) as usize;
            pool().free(self.loc().index(), run_len);
        }
        if let Some(bounds) = self.bounds() {
            // The series' own counted reference to its bounds.
            drop(ManuallyDrop::into_inner(bounds));
        }
        let ex = self.header().exemplars.load(ExOrdering::Acquire);
        if !ex.is_null() {
            // SAFETY: the last reference: no one can read the cells now;
            // the pointer came from `Box::into_raw`.
            drop(unsafe { Box::from_raw(ex) });
        }
        let p = self.ptr.as_ptr();
        // SAFETY: this was the last reference, so nothing else reads the
        // allocation any more; it was allocated in `new` with this layout
        // (`len_kind` is unchanged since) at `lead` bytes before the
        // header, and its header is dropped once.
        unsafe {
            ptr::drop_in_place(p);
            dealloc((p as *mut u8).sub(lead(len_kind)), layout(len_kind));
        }
    }
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series")
            .field("labels", &String::from_utf8_lossy(self.text()))
            .finish_non_exhaustive()
    }
}

// SAFETY: `into_ptr` and `from_ptr` transfer one counted reference through
// the raw pointer, `as_ptr` borrows it, and `clone` counts a new one, which
// is the contract arc-swap needs; the header's alignment (8) leaves the low
// bits it may use free.
unsafe impl arc_swap::RefCnt for Series {
    type Base = Header;

    fn into_ptr(me: Series) -> *mut Header {
        let p = me.ptr.as_ptr();
        std::mem::forget(me);
        p
    }

    fn as_ptr(me: &Series) -> *mut Header {
        me.ptr.as_ptr()
    }

    unsafe fn from_ptr(ptr: *const Header) -> Series {
        // SAFETY: arc-swap only hands back pointers `into_ptr` produced, each
        // carrying the counted reference it took.
        unsafe { Series::from_counted_ptr(ptr) }
    }
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use super::*;

    fn refs(s: &Series) -> u64 {
        s.ref_count()
    }

    #[test]
    fn text_and_value_survive_clones() {
        let s = Series::sharded(3, "{a=\"x\"}");
        assert_eq!(s.text(), b"{a=\"x\"}");
        let loc = s.loc();
        let t = s.clone();
        assert_eq!(refs(&t), 2);
        drop(s);
        assert_eq!(refs(&t), 1);
        assert_eq!(t.text(), b"{a=\"x\"}");
        assert_eq!(t.loc(), loc);

        let g = Series::gauge(7, "");
        assert_eq!(g.text(), b"");
        assert_eq!(g.value().load(Ordering::Relaxed), 7);
        assert_eq!(format!("{g:?}"), "Series { labels: \"\", .. }");
    }

    #[test]
    fn arc_swap_round_trips_a_counted_reference() {
        let s = Series::gauge(1, "{}");
        let swap = arc_swap::ArcSwapAny::<Option<Series>>::from(Some(s.clone()));
        assert_eq!(swap.load().as_ref().map(Series::text), Some(&b"{}"[..]));
        let full = swap.load_full().expect("stored");
        assert_eq!(full.as_ptr(), s.as_ptr());
        swap.store(None);
        drop(full);
        assert_eq!(refs(&s), 1);
    }
}
