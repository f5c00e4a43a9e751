//! A family's series in scrape order, read by a scrape without a lock.
//!
//! Writers (series creation and removal) serialise on the list's own mutex
//! and each does O(1) work there; a scrape takes no lock at all, so neither
//! waits on the other.
//!
//! The slots are slot 0, inline (all a family without labels needs), then
//! a chain of segments that never move: each holds about an eighth of the
//! slots before it (no doubling, which would leave up to 8 B per series
//! unused), and a full chain gains a segment at its end. Each slot is null or holds one counted reference to a series
//! ([`Series::into_counted_ptr`]). A series keeps its slot for as long as
//! it is listed, so removal empties that slot without a scan, and the next
//! series created fills the hole (scrape order is creation order, holes
//! aside).
//!
//! ## Reclaiming removed series
//!
//! A scrape reads slots through a [`Reading`], which counts itself in
//! `readers` for its whole life and borrows each series it finds without
//! counting a reference. Removal therefore cannot release the list's
//! reference at once when a scrape may hold the pointer. The protocol,
//! every step an `AcqRel` read-modify-write of `readers` (one modification
//! order, which loom models exactly):
//!
//! * removal (under the mutex) empties the slot, then reads `readers` with
//!   `fetch_add(0)`. Zero: every scrape that could have read the pointer
//!   has counted itself out before this read (each decrement heads a
//!   release sequence this read acquires), so the reference is released
//!   now. Not zero: the reference moves to `retired`.
//! * a scrape counts itself in with `fetch_add(1)` before it reads any
//!   slot. If that comes after a removal's read, it acquires the emptied
//!   slot and never sees the pointer.
//! * `retired` is emptied under the mutex whenever a read of `readers`
//!   there gives zero: the count is zero only when every scrape counted in
//!   before it has counted out. Removals and creations check on their way
//!   out, and the last scrape to leave checks too (if the mutex is free;
//!   else the holder checks), so retired series wait at most for the
//!   scrapes that overlapped their removal.
//!
//! `loom-tests/tests/loom_registry.rs` checks this with a scrape racing
//! creation and removal; in loom builds a freed series asserts that no
//! read of it was concurrent (see `Series::touch`).

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr;

use crate::exemplar::Exemplars;
use crate::series::{Header, Series};
use crate::sync::{lock, AtomicPtr, AtomicU64, Mutex, MutexGuard, Ordering};

/// A run of slots; `next` is the segment after it, or null.
struct Segment {
    /// The index of `slots[0]` in the list.
    start: usize,
    slots: Box<[AtomicPtr<Header>]>,
    next: AtomicPtr<Segment>,
}

impl Segment {
    fn alloc(start: usize, len: usize) -> *mut Segment {
        Box::into_raw(Box::new(Segment {
            start,
            slots: (0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }
}

/// What only the mutex holder touches.
pub(crate) struct Writer {
    /// Every segment with its first index, in order (for index -> slot).
    segments: Vec<(usize, *mut Segment)>,
    /// Slots: the inline one and those of every segment.
    capacity: usize,
    /// Slots ever used: `0..used` are listed or holes.
    used: usize,
    /// Emptied slots below `used`, filled before `used` grows.
    holes: Vec<usize>,
    /// Listed series, the overflow series included.
    live: usize,
    /// Removed series a scrape may still be reading (see the module docs).
    retired: Vec<Series>,
    /// The family's overflow series, once created (also listed).
    overflow: Option<Series>,
}

// SAFETY: the segment pointers are owned by the list (freed in its `Drop`)
// and only dereferenced under its mutex or through a `Reading`.
unsafe impl Send for Writer {}

/// The series list (see the module docs).
pub(crate) struct SeriesList {
    /// Slot 0.
    inline: AtomicPtr<Header>,
    /// The segment of slots from 1 on, or null.
    first: AtomicPtr<Segment>,
    /// `Writer::used`, published after the slots below it are written.
    used: AtomicU64,
    /// Scrapes reading the list now.
    readers: AtomicU64,
    writer: Mutex<Writer>,
}

// SAFETY: slots hold counted references to `Send + Sync` series; segments
// are reached only through atomics with release/acquire publication.
unsafe impl Send for SeriesList {}
// SAFETY: as above.
unsafe impl Sync for SeriesList {}

impl Default for SeriesList {
    fn default() -> SeriesList {
        SeriesList {
            inline: AtomicPtr::new(ptr::null_mut()),
            first: AtomicPtr::new(ptr::null_mut()),
            used: AtomicU64::new(0),
            readers: AtomicU64::new(0),
            writer: Mutex::new(Writer {
                segments: Vec::new(),
                capacity: 1,
                used: 0,
                holes: Vec::new(),
                live: 0,
                retired: Vec::new(),
                overflow: None,
            }),
        }
    }
}

/// The writer's side of the list: the mutex held.
pub(crate) struct Writing<'a> {
    list: &'a SeriesList,
    w: MutexGuard<'a, Writer>,
}

impl SeriesList {
    /// Takes the writers' mutex (never held by a scrape).
    pub(crate) fn write(&self) -> Writing<'_> {
        Writing {
            list: self,
            w: lock(&self.writer),
        }
    }

    /// Starts a scrape's read of the list (no lock; see the module docs).
    #[inline]
    pub(crate) fn read(&self) -> Reading<'_> {
        self.readers.fetch_add(1, Ordering::AcqRel);
        Reading {
            list: self,
            used: self.used.load(Ordering::Acquire) as usize,
        }
    }

    /// Listed series, the overflow series included.
    pub(crate) fn len(&self) -> usize {
        lock(&self.writer).live
    }

    /// Releases the retired series if no scrape is reading (see the module
    /// docs); the caller holds the mutex.
    fn reclaim(&self, w: &mut Writer) {
        if !w.retired.is_empty() && self.readers.fetch_add(0, Ordering::AcqRel) == 0 {
            w.retired.clear();
        }
    }
}

impl Writing<'_> {
    /// Listed series, the overflow series included.
    pub(crate) fn len(&self) -> usize {
        self.w.live
    }

    /// The family's overflow series, kept here so that one mutex guards
    /// the family's cardinality.
    pub(crate) fn overflow(&mut self) -> &mut Option<Series> {
        &mut self.w.overflow
    }

    /// Lists `series` in a hole if there is one, else after the last slot;
    /// returns its slot, which [`Writing::remove`] takes.
    pub(crate) fn push(&mut self, series: Series) -> usize {
        let w = &mut *self.w;
        let index = match w.holes.pop() {
            Some(i) => i,
            None => {
                if w.used == w.capacity {
                    self.grow();
                }
                let w = &mut *self.w;
                w.used += 1;
                w.used - 1
            }
        };
        let slot = self.slot(index);
        // Release: a scrape that reads the pointer sees the series built.
        slot.store(series.into_counted_ptr().cast_mut(), Ordering::Release);
        let w = &mut *self.w;
        w.live += 1;
        // Release: a scrape that reads `used` sees every slot below it.
        self.list.used.store(w.used as u64, Ordering::Release);
        self.list.reclaim(w);
        index
    }

    /// Unlists the series in slot `index`, which `push` returned for it;
    /// its reference is released now, or once the scrapes reading the
    /// list have finished.
    pub(crate) fn remove(&mut self, index: usize) {
        let slot = self.slot(index);
        let p = slot.swap(ptr::null_mut(), Ordering::Relaxed);
        debug_assert!(!p.is_null(), "removed an empty slot");
        if p.is_null() {
            return;
        }
        // SAFETY: the slot owned this counted reference; emptied, it no
        // longer does.
        let series = unsafe { Series::from_counted_ptr(p) };
        let w = &mut *self.w;
        w.holes.push(index);
        w.live -= 1;
        // The emptied slot is ordered before this read (see the module docs).
        if self.list.readers.fetch_add(0, Ordering::AcqRel) == 0 {
            drop(series);
        } else {
            w.retired.push(series);
        }
        self.list.reclaim(w);
    }

    /// Unlists every series, the overflow series included (each as
    /// [`Writing::remove`] does); returns how many there were.
    pub(crate) fn remove_all(&mut self) -> usize {
        let before = self.w.live;
        for index in 0..self.w.used {
            if !self.slot(index).load(Ordering::Relaxed).is_null() {
                self.remove(index);
            }
        }
        self.w.overflow = None;
        before
    }

    /// The slot at `index` (below `used`).
    fn slot(&self, index: usize) -> &AtomicPtr<Header> {
        if index == 0 {
            return &self.list.inline;
        }
        let segs = &self.w.segments;
        let at = segs.partition_point(|&(start, _)| start <= index) - 1;
        let (start, seg) = segs[at];
        // SAFETY: segments live until the list drops, which `&self`'s
        // borrow of it rules out; `index - start` is within the segment
        // (the next segment starts at `start + slots.len()`).
        unsafe { &(*seg).slots[index - start] }
    }

    /// Appends a segment of about an eighth of the slots so far.
    #[cold]
    fn grow(&mut self) {
        let w = &mut *self.w;
        // Room for one first: a family without labels never has more.
        let len = if w.capacity == 0 {
            1
        } else {
            w.capacity / 8 + 16
        };
        let seg = Segment::alloc(w.capacity, len);
        // Release: a scrape that follows the link sees the segment built.
        match w.segments.last() {
            // SAFETY: a live segment of this list.
            Some(&(_, last)) => unsafe { (*last).next.store(seg, Ordering::Release) },
            None => self.list.first.store(seg, Ordering::Release),
        }
        w.segments.push((w.capacity, seg));
        w.capacity += len;
    }
}

impl Drop for SeriesList {
    fn drop(&mut self) {
        let w = lock(&self.writer);
        let p = self.inline.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: a listed slot owns one counted reference.
            drop(unsafe { Series::from_counted_ptr(p) });
        }
        for &(_, seg) in &w.segments {
            // SAFETY: allocated by `Segment::alloc`, freed once, here; no
            // reading can outlive the list.
            let seg = unsafe { Box::from_raw(seg) };
            for slot in seg.slots.iter() {
                let p = slot.load(Ordering::Relaxed);
                if !p.is_null() {
                    // SAFETY: a listed slot owns one counted reference.
                    drop(unsafe { Series::from_counted_ptr(p) });
                }
            }
        }
    }
}

/// A scrape's read of a [`SeriesList`]: the series listed when it began
/// (and possibly some listed since), each borrowed for the reading's life.
pub(crate) struct Reading<'a> {
    list: &'a SeriesList,
    used: usize,
}

/// A series borrowed from a [`Reading`] (no reference counted).
pub(crate) struct Listed<'r> {
    series: ManuallyDrop<Series>,
    _reading: PhantomData<&'r ()>,
}

impl std::ops::Deref for Listed<'_> {
    type Target = Series;
    #[inline(always)]
    fn deref(&self) -> &Series {
        &self.series
    }
}

impl<'r> Listed<'r> {
    /// The series' label text, for the reading's life.
    #[inline(always)]
    pub(crate) fn text(&self) -> &'r [u8] {
        let t = self.series.text();
        // SAFETY: the text is in the series' allocation, which outlives
        // the reading (module docs).
        unsafe { std::slice::from_raw_parts(t.as_ptr(), t.len()) }
    }

    /// The series' exemplar cells, if it has any, for the reading's life.
    #[inline(always)]
    pub(crate) fn exemplars(&self) -> Option<&'r Exemplars> {
        let e = self.series.exemplars()?;
        // SAFETY: the cells live until the series is freed, which waits
        // for the reading (module docs), like the text.
        Some(unsafe { &*(e as *const Exemplars) })
    }
}

impl<'a> Reading<'a> {
    /// The listed series in slot order.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Listed<'_>> + '_ {
        self.runs()
            .flatten()
            // SAFETY: slots from this reading's runs.
            .filter_map(|slot| unsafe { self.load(slot) })
    }

    /// The listed series in slot order, at most `n` slots at a time (each
    /// batch within one segment, so a batch is a plain slice walk).
    #[inline]
    pub(crate) fn batches(
        &self,
        n: usize,
    ) -> impl Iterator<Item = impl Iterator<Item = Listed<'_>> + '_> + '_ {
        self.runs().flat_map(move |run| run.chunks(n)).map(|chunk| {
            // SAFETY: slots from this reading's runs.
            chunk.iter().filter_map(|slot| unsafe { self.load(slot) })
        })
    }

    /// The series in `slot`, if any.
    ///
    /// # Safety
    ///
    /// `slot` is one of this reading's [`Reading::runs`].
    #[inline(always)]
    unsafe fn load(&self, slot: &AtomicPtr<Header>) -> Option<Listed<'_>> {
        let p = slot.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: a slot of this list, read during this reading: a listed
        // series stays allocated until every reading that could see it
        // has ended (module docs).
        let series = unsafe { Series::from_counted_ptr(p) };
        series.touch();
        Some(Listed {
            series: ManuallyDrop::new(series),
            _reading: PhantomData,
        })
    }

    /// The slots below `used`, a run per segment (the inline slot first);
    /// read each with [`Reading::load`].
    #[inline]
    fn runs(&self) -> Runs<'_> {
        Runs {
            list: self.list,
            seg: ptr::null(),
            next: 0,
            used: self.used,
        }
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if self.list.readers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last scrape out: release what waited for it, unless a
            // writer holds the mutex (it checks on its way out).
            if let Ok(mut w) = self.list.writer.try_lock() {
                self.list.reclaim(&mut w);
            }
        }
    }
}

/// The iterator of [`Reading::runs`].
struct Runs<'r> {
    list: &'r SeriesList,
    /// The last segment yielded, or null.
    seg: *const Segment,
    /// The index of the next run's first slot.
    next: usize,
    used: usize,
}

impl<'r> Iterator for Runs<'r> {
    type Item = &'r [AtomicPtr<Header>];

    #[inline]
    fn next(&mut self) -> Option<&'r [AtomicPtr<Header>]> {
        if self.next >= self.used {
            return None;
        }
        if self.next == 0 {
            self.next = 1;
            return Some(std::slice::from_ref(&self.list.inline));
        }
        // Published (release) before `used` grew past the segment's start.
        self.seg = if self.seg.is_null() {
            self.list.first.load(Ordering::Acquire)
        } else {
            // SAFETY: as below.
            unsafe { (*self.seg).next.load(Ordering::Acquire) }
        };
        if self.seg.is_null() {
            return None;
        }
        // SAFETY: a segment reached from `first` through `next` links
        // (acquired) lives as long as the list, which the reading borrows.
        let seg: &'r Segment = unsafe { &*self.seg };
        let end = seg.slots.len().min(self.used - seg.start);
        self.next = seg.start + seg.slots.len();
        Some(&seg.slots[..end])
    }
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use super::SeriesList;
    use crate::series::Series;

    fn series(i: usize) -> Series {
        Series::gauge(i as u64, &format!("{{k=\"{i}\"}}"))
    }

    fn texts(list: &SeriesList) -> Vec<String> {
        list.read()
            .iter()
            .map(|s| String::from_utf8(s.text().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn slots_cross_segments_and_holes_are_refilled_first() {
        let list = SeriesList::default();
        let slots: Vec<usize> = (0..60).map(|i| list.write().push(series(i))).collect();
        assert_eq!(slots, (0..60).collect::<Vec<_>>());
        assert!(
            list.write().w.segments.len() >= 3,
            "1, 16, then an eighth more"
        );
        for i in [0, 17, 59] {
            list.write().remove(i);
        }
        assert_eq!(list.len(), 57);
        let want: Vec<String> = (0..60)
            .filter(|i| ![0, 17, 59].contains(i))
            .map(|i| format!("{{k=\"{i}\"}}"))
            .collect();
        assert_eq!(texts(&list), want);
        // The last hole first, then the others, then past the end.
        let refill: Vec<usize> = (100..104).map(|i| list.write().push(series(i))).collect();
        assert_eq!(refill, [59, 17, 0, 60]);
        assert_eq!(list.len(), 61);
        let got = texts(&list);
        assert_eq!(got[0], "{k=\"102\"}");
        assert_eq!(got[17], "{k=\"101\"}");
        assert_eq!(&got[59..], ["{k=\"100\"}", "{k=\"103\"}"]);
    }

    #[test]
    fn a_removed_series_waits_for_the_readings_that_overlap_its_removal() {
        let list = SeriesList::default();
        let kept = series(1);
        let slot = list.write().push(kept.clone());
        assert_eq!(kept.ref_count(), 2);
        let first = list.read();
        let second = list.read();
        assert_eq!(first.iter().count(), 1);
        list.write().remove(slot);
        // Retired: a reading may hold the pointer.
        assert_eq!(kept.ref_count(), 2);
        assert_eq!(list.write().w.retired.len(), 1);
        drop(first);
        assert_eq!(kept.ref_count(), 2, "one reading is still in");
        // The removed series is not in a reading that starts after.
        assert_eq!(list.read().iter().count(), 0);
        drop(second);
        assert_eq!(kept.ref_count(), 1, "the last reading out released it");
        assert!(list.write().w.retired.is_empty());
    }

    #[test]
    fn a_removal_with_no_reading_releases_at_once() {
        let list = SeriesList::default();
        let kept = series(1);
        let slot = list.write().push(kept.clone());
        list.write().remove(slot);
        assert_eq!(kept.ref_count(), 1);
        assert_eq!(list.len(), 0);
        assert_eq!(list.read().iter().count(), 0);
    }

    #[test]
    fn a_reading_sees_the_slots_used_when_it_began() {
        let list = SeriesList::default();
        list.write().push(series(0));
        let r = list.read();
        list.write().push(series(1));
        assert_eq!(r.iter().count(), 1);
        drop(r);
        assert_eq!(list.read().iter().count(), 2);
    }
}
