//! The collector: walks a registry's entries in registration order, reads
//! every series' value from the shards (and runs the callbacks), and hands
//! typed values to an [`Encoder`]. It knows no format: the text encoder is
//! one implementation of the seam (see `encode/mod.rs`).
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Instant;

use crate::callback::{CallbackFamily, Samples, Ticket};
use crate::encode::layout::{LeTails, Variant};
use crate::encode::{single, Encoder, Extras, FamilyView, Kind};
use crate::family::{FamilyCore, Group, Layout};
use crate::histogram::read_at;
use crate::native_histogram::classic_from_cells;
use crate::shard::pool;
use crate::sync::{Arc, AtomicU64, Mutex, Ordering};

/// One registered family, in registration order.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    Family(Arc<FamilyCore>),
    Callback(Arc<CallbackFamily>),
    /// One name over families with different label names, scraped as one
    /// family (see `family/group.rs`).
    #[cfg_attr(not(feature = "metrics-rs"), allow(dead_code))] // used by `facade` alone
    Group(Arc<Group>),
}

/// Per-registry scrape bookkeeping and reusable buffers.
pub(crate) struct ScrapeState {
    pub(crate) scrapes: AtomicU64,
    pub(crate) last_duration_ns: AtomicU64,
    last_series: AtomicU64,
    pub(crate) callback_errors: AtomicU64,
    pub(crate) callback_timeouts: AtomicU64,
    scratch: Mutex<Scratch>,
    own: OwnFamilies,
}

impl Default for ScrapeState {
    fn default() -> ScrapeState {
        ScrapeState {
            scrapes: AtomicU64::new(0),
            last_duration_ns: AtomicU64::new(0),
            last_series: AtomicU64::new(0),
            callback_errors: AtomicU64::new(0),
            callback_timeouts: AtomicU64::new(0),
            scratch: Mutex::new(Scratch::default()),
            own: OwnFamilies::new(),
        }
    }
}

impl fmt::Debug for ScrapeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeState").finish_non_exhaustive()
    }
}

/// A scrape's reused bucket buffers: a histogram's classic cells, and a
/// native histogram's cells.
#[derive(Default)]
struct Buckets {
    classic: Vec<u64>,
    native: Vec<u64>,
    /// A state set's sample label texts, one after another, and where
    /// each ends with its value.
    states: Vec<u8>,
    state_ends: Vec<(usize, i64)>,
}

/// Buffers a scrape reuses.
#[derive(Default)]
struct Scratch {
    buckets: Buckets,
    samples: Samples,
    /// Each callback's claim on its call, in registration order.
    tickets: Vec<Ticket>,
    /// `telemeter_series_overflow_total`'s label texts, one after another,
    /// and where each ends.
    overflow_text: String,
    overflow: Vec<(usize, u64)>,
}

/// The registry's self-metric families, rendered once.
struct OwnFamilies {
    duration: Variant,
    series: Variant,
    overflow: Variant,
    callback_errors: Variant,
    callback_timeouts: Variant,
    rejected: Variant,
    exemplars_dropped: Variant,
    native_clamped: Variant,
}

impl OwnFamilies {
    fn new() -> OwnFamilies {
        let v = |name: &str, help: &str, type_name: &str| Variant::new(name, name, help, type_name);
        OwnFamilies {
            duration: v(
                "telemeter_scrape_duration_seconds",
                "Time this scrape spent collecting and encoding, up to this line.",
                "gauge",
            ),
            series: v(
                "telemeter_series",
                "Series in this scrape, self-metrics excluded.",
                "gauge",
            ),
            overflow: v(
                "telemeter_series_overflow_total",
                "Label sets redirected to a family's overflow series because it reached its cardinality limit.",
                "counter",
            ),
            callback_errors: v(
                "telemeter_scrape_callback_errors_total",
                "Scrape-time callbacks that panicked, and callback samples rejected.",
                "counter",
            ),
            callback_timeouts: v(
                "telemeter_scrape_callback_timeouts_total",
                "Scrape-time callbacks skipped because they had not returned by the scrape's deadline (or were still running from an earlier scrape).",
                "counter",
            ),
            rejected: v(
                "telemeter_rejected_samples_total",
                "Float-counter increments refused in this process (negative or NaN).",
                "counter",
            ),
            exemplars_dropped: v(
                "telemeter_exemplars_dropped_total",
                "Exemplars refused in this process (a label set OpenMetrics does not allow); their observations were kept.",
                "counter",
            ),
            native_clamped: v(
                "telemeter_native_observations_clamped_total",
                "Native histogram observations outside their buckets' range (or negative, or NaN), counted in the nearest edge bucket.",
                "counter",
            ),
        }
    }
}

impl ScrapeState {
    /// Collects every entry into `enc`, then (with `self_metrics`) the
    /// registry's own families.
    pub(crate) fn collect<E: Encoder>(
        &self,
        entries: &[Entry],
        self_metrics: bool,
        start: Instant,
        deadline: Instant,
        enc: &mut E,
    ) {
        // A concurrent scrape may hold the shared scratch: use a fresh one
        // rather than wait.
        let mut local = None;
        let mut guard = self.scratch.try_lock().ok();
        let scratch: &mut Scratch = match guard.as_deref_mut() {
            Some(s) => s,
            None => local.get_or_insert_with(Scratch::default),
        };
        // Every callback starts now and runs beside the families' encode.
        scratch.tickets.clear();
        for entry in entries {
            if let Entry::Callback(cb) = entry {
                scratch.tickets.push(cb.ask());
            }
        }
        let mut tickets = std::mem::take(&mut scratch.tickets);
        let mut ticket = tickets.iter().copied();
        let mut series = 0usize;
        for entry in entries {
            series += match entry {
                Entry::Family(core) => collect_family(core, enc, &mut scratch.buckets),
                Entry::Group(group) => collect_group(group, enc, &mut scratch.buckets),
                Entry::Callback(cb) => {
                    let mut n = 0;
                    let t = ticket.next().expect("a ticket per callback");
                    let ran = cb.finish(t, &mut scratch.samples, deadline, |samples| {
                        for variant in cb.variants.iter() {
                            let view = FamilyView::plain(variant, cb.kind);
                            enc.family(&view);
                            enc.floats(&view, samples.iter());
                        }
                        n = samples.len();
                    });
                    if ran.rejected > 0 {
                        self.callback_errors
                            .fetch_add(ran.rejected, Ordering::Relaxed);
                    }
                    if ran.timed_out {
                        self.callback_timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                    n
                }
            };
        }
        drop(ticket);
        tickets.clear();
        scratch.tickets = tickets;
        if self_metrics {
            self.collect_own(entries, series, start, scratch, enc);
        }
        self.scrapes.fetch_add(1, Ordering::Relaxed);
        self.last_series.store(series as u64, Ordering::Relaxed);
    }

    /// Records a finished scrape's duration.
    pub(crate) fn finish(&self, start: Instant) {
        self.last_duration_ns.store(
            u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn collect_own<E: Encoder>(
        &self,
        entries: &[Entry],
        series: usize,
        start: Instant,
        scratch: &mut Scratch,
        enc: &mut E,
    ) {
        let own = &self.own;
        let view = FamilyView::plain(&own.duration, Kind::Gauge);
        enc.family(&view);
        enc.floats(&view, [(&b""[..], start.elapsed().as_secs_f64())]);
        single(enc, &own.series, Kind::Gauge, series as u64);
        // Overflowing families' label texts, rendered into reused room. A
        // validated metric name needs no escaping.
        scratch.overflow_text.clear();
        scratch.overflow.clear();
        for entry in entries {
            let (name, n) = match entry {
                Entry::Family(core) => (core.name(), core.overflowed.load(Ordering::Relaxed)),
                // One series per exported name: a group's members summed.
                Entry::Group(group) => (
                    group.name(),
                    group
                        .members()
                        .iter()
                        .map(|c| c.overflowed.load(Ordering::Relaxed))
                        .sum(),
                ),
                Entry::Callback(_) => continue,
            };
            if n > 0 {
                scratch.overflow_text.push_str("{family=\"");
                scratch.overflow_text.push_str(name);
                scratch.overflow_text.push_str("\"}");
                scratch.overflow.push((scratch.overflow_text.len(), n));
            }
        }
        let view = FamilyView::plain(&own.overflow, Kind::Counter);
        enc.family(&view);
        let text = scratch.overflow_text.as_bytes();
        let mut prev = 0;
        enc.counters(
            &view,
            scratch.overflow.iter().map(|&(end, n)| {
                let labels = &text[prev..end];
                prev = end;
                (labels, n, Extras::NONE)
            }),
        );
        for (variant, value) in [
            (
                &own.callback_errors,
                self.callback_errors.load(Ordering::Relaxed),
            ),
            (
                &own.callback_timeouts,
                self.callback_timeouts.load(Ordering::Relaxed),
            ),
            (&own.rejected, crate::counter::rejected()),
            (&own.exemplars_dropped, crate::exemplar::dropped()),
            (&own.native_clamped, crate::native_histogram::clamped()),
        ] {
            single(enc, variant, Kind::Counter, value);
        }
    }
}

/// `series`, counted into `n` (from zero) as they are taken.
#[inline(always)]
fn counted<'a, T>(
    series: impl Iterator<Item = T> + 'a,
    n: &'a mut usize,
) -> impl Iterator<Item = T> + 'a {
    *n = 0;
    series.inspect(move |_| *n += 1)
}

/// How many counter series an encode reads before it writes their lines.
/// Reading a value is a chain of dependent loads (the series, the shard
/// table, a segment, the cell), and writing its line is another chain (the
/// digits, then the stores); read in a separate loop, the values of a
/// batch load in parallel instead of each waiting in its line's chain.
const BATCH: usize = 64;

/// A family's view under `variant` (its name or an alias).
fn view<'a>(core: &'a FamilyCore, variant: &'a Variant) -> FamilyView<'a> {
    let (kind, bounds) = match &core.layout {
        Layout::Counter | Layout::FloatCounter => (Kind::Counter, &[][..]),
        Layout::Gauge | Layout::FloatGauge => (Kind::Gauge, &[][..]),
        Layout::Histogram(b) => (Kind::Histogram, b.bounds()),
        Layout::Native(b) => (Kind::Histogram, b.classic()),
        Layout::StateSet(_) => (Kind::Gauge, &[][..]),
    };
    FamilyView {
        variant,
        kind,
        // A state set keeps its states' label tails there: not a
        // histogram's, and no encoder's business.
        le_tails: if kind == Kind::Histogram {
            &core.le_tails
        } else {
            LeTails::none()
        },
        bounds,
    }
}

fn collect_family<E: Encoder>(core: &FamilyCore, enc: &mut E, buckets: &mut Buckets) -> usize {
    let mut listed = 0;
    for variant in core.variants.iter() {
        let view = view(core, variant);
        enc.family(&view);
        listed = collect_series(core, &view, enc, buckets);
    }
    listed
}

/// A group: its header once (with the first member's bounds: members of
/// a histogram group may differ in buckets, which the text format allows),
/// then every member's series under the group's name. A group with no
/// member yet writes nothing.
fn collect_group<E: Encoder>(group: &Group, enc: &mut E, buckets: &mut Buckets) -> usize {
    let members = group.members();
    let Some(first) = members.first() else {
        return 0;
    };
    let header = group.header();
    enc.family(&view(first, &header));
    members
        .iter()
        .map(|core| collect_series(core, &view(core, &core.variants[0]), enc, buckets))
        .sum()
}

/// Hands `enc` the series of `core` under `view`; returns how many.
fn collect_series<E: Encoder>(
    core: &FamilyCore,
    view: &FamilyView<'_>,
    enc: &mut E,
    scratch: &mut Buckets,
) -> usize {
    let Buckets {
        classic: buckets,
        native: cells,
        states,
        state_ends,
    } = scratch;
    // No lock: creation and removal go on while the family is written
    // (see `family/list.rs`).
    let list = core.list.read();
    let pool = pool();
    let view = *view;
    let mut listed = 0;
    match &core.layout {
        Layout::Counter => {
            let mut values = [0u64; BATCH];
            let mut texts: [&[u8]; BATCH] = [&[]; BATCH];
            let mut extras: [Extras<'_>; BATCH] = [Extras::NONE; BATCH];
            listed = 0;
            for batch in list.batches(BATCH) {
                let mut n = 0;
                for s in batch {
                    values[n] = pool.sum(s.loc());
                    texts[n] = s.text();
                    if E::EXEMPLARS {
                        extras[n] = Extras {
                            exemplars: s.exemplars(),
                            created: s.created(),
                        };
                    }
                    n += 1;
                }
                listed += n;
                if n > 0 {
                    enc.counters(
                        &view,
                        texts[..n].iter().zip(&values[..n]).zip(&extras[..n]).map(
                            #[inline(always)]
                            |((t, v), e)| (*t, *v, *e),
                        ),
                    );
                }
            }
        }
        Layout::Gauge => enc.gauges(
            &view,
            counted(list.iter(), &mut listed).map(
                #[inline(always)]
                |s| (s.text(), s.value().load(Ordering::Relaxed) as i64),
            ),
        ),
        Layout::FloatCounter => enc.floats(
            &view,
            counted(list.iter(), &mut listed).map(
                #[inline(always)]
                |s| (s.text(), pool.sum_f64(s.loc())),
            ),
        ),
        Layout::FloatGauge => enc.floats(
            &view,
            counted(list.iter(), &mut listed).map(
                #[inline(always)]
                |s| (s.text(), f64::from_bits(s.value().load(Ordering::Relaxed))),
            ),
        ),
        Layout::Histogram(_) => {
            let n = core.le_tails.len(); // bucket cells, +Inf included
            buckets.clear();
            buckets.resize(n, 0);
            enc.histograms(
                &view,
                buckets,
                counted(list.iter(), &mut listed),
                #[inline(always)]
                |s, buckets| {
                    let extras = if E::EXEMPLARS {
                        Extras {
                            exemplars: s.exemplars(),
                            created: s.created(),
                        }
                    } else {
                        Extras::NONE
                    };
                    (s.text(), read_at(pool, s.loc(), buckets), extras)
                },
            );
        }
        Layout::StateSet(_) => {
            // Each series' label text less its `}`, then a state's tail:
            // one sample per state, 1 where its bit is set.
            states.clear();
            state_ends.clear();
            for s in counted(list.iter(), &mut listed) {
                let mask = s.value().load(Ordering::Relaxed);
                let text = s.text();
                let open = &text[..text.len().saturating_sub(1)];
                for (i, tail) in core.le_tails.text().iter().enumerate() {
                    states.extend_from_slice(open);
                    states.extend_from_slice(tail.as_bytes());
                    state_ends.push((states.len(), (mask >> i & 1) as i64));
                }
            }
            let text = &states[..];
            let mut prev = 0;
            enc.gauges(
                &view,
                state_ends.iter().map(|&(end, v)| {
                    let labels = &text[prev..end];
                    prev = end;
                    (labels, v)
                }),
            );
        }
        Layout::Native(b) => {
            let layout = b.layout();
            cells.clear();
            cells.resize(b.buckets() + 1, 0);
            if E::NATIVE {
                enc.natives(
                    &view,
                    &layout,
                    cells,
                    counted(list.iter(), &mut listed),
                    #[inline(always)]
                    |s, cells| (s.text(), read_at(pool, s.loc(), cells)),
                );
            } else {
                // The classic view: the cells summed into power-of-two
                // buckets.
                buckets.clear();
                buckets.resize(core.le_tails.len(), 0);
                enc.histograms(
                    &view,
                    buckets,
                    counted(list.iter(), &mut listed),
                    |s, buckets| {
                        let sum = read_at(pool, s.loc(), cells);
                        classic_from_cells(&layout, cells, buckets);
                        (s.text(), sum, Extras::NONE)
                    },
                );
            }
        }
    }
    listed
}
