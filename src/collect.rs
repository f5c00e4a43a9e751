//! The scrape: merge shards, run callbacks, encode.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use crate::encode::put::{put, Cursor, HistogramNames, Stage};
use crate::encode::text::{push_f64, render_prefix, write_f64, write_u64, Variant};
use crate::family::{FamilyCore, Layout};
use crate::histogram::read_at;
use crate::registry::{Entry, Registry};
use crate::series::Series;
use crate::shard::{pool, SlotLoc};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};
use crate::Opts;

pub(crate) type CallbackFn = dyn Fn(&mut CallbackSink<'_>) + Send + Sync;

/// A family whose samples a closure produces at scrape time.
pub(crate) struct CallbackFamily {
    name: String,
    label_names: Box<[String]>,
    variants: Box<[Variant]>,
    f: Box<CallbackFn>,
}

impl fmt::Debug for CallbackFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackFamily")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CallbackFamily {
    pub(crate) fn new(opts: &Opts, variants: Box<[Variant]>, f: Box<CallbackFn>) -> Self {
        CallbackFamily {
            name: opts.name.clone(),
            label_names: opts.labels.iter().cloned().collect(),
            variants,
            f,
        }
    }
}

/// Receives a callback family's samples during a scrape.
///
/// A sample with the wrong number of label values, or a label set already
/// emitted in this scrape, is dropped (a duplicate would make the whole body
/// invalid) and counted in `telemeter_scrape_callback_errors_total`.
pub struct CallbackSink<'a> {
    label_names: &'a [String],
    /// Rendered `labels} value\n` tails, one per accepted sample.
    lines: &'a mut String,
    ends: &'a mut Vec<usize>,
    seen: &'a mut HashSet<u64>,
    hasher: &'a foldhash::fast::FixedState,
    rejected: u64,
}

impl fmt::Debug for CallbackSink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSink")
            .field("samples", &self.ends.len())
            .finish_non_exhaustive()
    }
}

impl CallbackSink<'_> {
    /// Emits one sample: `values` in the order of the family's label names.
    pub fn sample(&mut self, values: &[&str], value: f64) {
        if values.len() != self.label_names.len() {
            self.rejected += 1;
            return;
        }
        let mut h = self.hasher.build_hasher();
        for v in values {
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        let start = self.ends.last().copied().unwrap_or(0);
        // Render the labels (without the name, which differs per variant).
        let mut tail = std::mem::take(self.lines);
        render_prefix(&mut tail, "", "", self.label_names, values, None);
        let key = h.finish();
        if !self.seen.insert(key) && self.is_duplicate(&tail, start) {
            tail.truncate(start);
            *self.lines = tail;
            self.rejected += 1;
            return;
        }
        push_f64(&mut tail, value);
        tail.push('\n');
        *self.lines = tail;
        self.ends.push(self.lines.len());
    }

    /// Whether the labels just rendered at `tail[start..]` equal those of an
    /// earlier sample (hash collisions are resolved by comparing text).
    fn is_duplicate(&self, tail: &str, start: usize) -> bool {
        let new = &tail[start..];
        let mut prev = 0;
        self.ends.iter().any(|&end| {
            let line = &tail[prev..end];
            prev = end;
            line.starts_with(new)
        })
    }
}

/// Per-registry scrape bookkeeping and reusable buffers.
#[derive(Default)]
pub(crate) struct ScrapeState {
    scrapes: AtomicU64,
    last_duration_ns: AtomicU64,
    last_series: AtomicU64,
    /// The last body's length: whether the next is expected to outgrow the
    /// cache (see [`STREAM_ABOVE`]).
    last_bytes: AtomicU64,
    callback_errors: AtomicU64,
    scratch: Mutex<Scratch>,
}

#[derive(Default)]
struct Scratch {
    buckets: Vec<u64>,
    lines: String,
    ends: Vec<usize>,
    seen: HashSet<u64>,
    hasher: foldhash::fast::FixedState,
}

impl fmt::Debug for ScrapeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeState").finish_non_exhaustive()
    }
}

/// What one family contributes to a [`RegistrySummary`].
#[derive(Clone, Debug, PartialEq)]
pub struct FamilySummary {
    /// The family name.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// Series in the family (callback families: samples in the last scrape
    /// are not tracked, so 0).
    pub series: usize,
    /// Label sets redirected to the overflow series.
    pub overflow: u64,
}

/// A registry's families and scrape statistics, for the admin console.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrySummary {
    /// One entry per family, in registration order.
    pub families: Vec<FamilySummary>,
    /// Series over all families.
    pub series: usize,
    /// Scrapes encoded so far.
    pub scrapes: u64,
    /// How long the last scrape took, in seconds.
    pub last_scrape_duration_seconds: f64,
    /// Callback panics and rejected callback samples so far.
    pub callback_errors: u64,
}

impl RegistrySummary {
    /// The summary as JSON (the `/admin/metrics-summary` body).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "families": self.families.iter().map(|f| serde_json::json!({
                "name": f.name,
                "type": f.kind,
                "series": f.series,
                "overflow": f.overflow,
            })).collect::<Vec<_>>(),
            "series": self.series,
            "scrapes": self.scrapes,
            "last_scrape_duration_seconds": self.last_scrape_duration_seconds,
            "callback_errors": self.callback_errors,
        })
    }
}

/// Bodies at least this long are written with non-temporal stores
/// ([`Cursor::streaming`]), but for histogram families (below). On the
/// first bench VM (2 vCPUs of a Xeon with a shared L3) staging and
/// streaming lost to plain stores at 8 and 24 MB (0.55 against 0.28 ms,
/// 1.75 against 0.91 ms) and won from 32 MB on (2.3 against 4.2 ms; 11.8
/// against 23.4 ms at 165 MB): a body this large does not stay in the
/// cache a core can count on, so its consumer reads it from memory either
/// way. On the second (2 vCPUs of an AMD EPYC, 32 MiB L3) 1M counter
/// series took 10.4-10.9 ms streamed against 11.7 ms with plain stores.
///
/// Histogram families are written with plain stores even then: 1M
/// histogram series (105 MB) took 9.1-9.4 ms with plain stores against
/// 11.3-12.7 ms streamed on the EPYC, and the 1M mixed registry 20.1-20.3
/// ms against 24.0 ms (8 KiB stage in both). A histogram series writes 14
/// lines from a few loads, so its stores come faster than the memory
/// system drains non-temporal ones, and each drain stalls the core; plain
/// stores are absorbed by the cache and written back in the background.
const STREAM_ABOVE: u64 = 32 << 20;

/// How many series ahead a large body's encode asks for the header of a
/// gauge or float counter series, which are read as they are written
/// (counters prefetch a batch ahead instead): far enough to cover a memory
/// access at a one-line pace once the series no longer fit in the cache.
/// On 900k counter series on the Xeon VM, when counters were read this
/// way too, 32 took the lines from 18.5 to 15.5 ms; 4 and 16 gained less,
/// 64 and 128 no more.
const COUNTER_AHEAD: usize = 32;

/// As [`COUNTER_AHEAD`], for a histogram series (14 lines of work each).
const HISTOGRAM_AHEAD: usize = 4;

#[inline(always)]
fn prefetch_ahead(series: &[Series], i: usize, ahead: usize) {
    if let Some(s) = series.get(i + ahead) {
        s.prefetch();
    }
}

/// How many counter series an encode reads before it writes their lines.
/// Reading a value is a chain of dependent loads (the series, the shard
/// table, a segment, the cell), and writing its line is another chain (the
/// digits, then the stores); read in a separate loop, the values of a
/// batch load in parallel instead of each waiting in its line's chain.
const BATCH: usize = 64;

/// From this many shards on, a counter batch is summed shard by shard
/// (`Pool::sum_each`), each shard's table walked once for the batch,
/// rather than series by series. On the AMD EPYC VM (probe, 10k mixed
/// series, best of 5, loops aligned, 01:43 UTC) shard by shard took
/// 296-315 us against 339-355 us with 9 shards, but 205-230 against
/// 191-194 us with 3 (and +2-3 % with 1).
const SHARD_MAJOR: usize = 6;

/// A cursor for one family's sample lines: streaming when `stage` is given.
#[inline]
fn cursor<'a>(out: &'a mut Vec<u8>, stage: Option<&'a mut Stage>) -> Cursor<'a> {
    match stage {
        Some(stage) => Cursor::streaming(out, stage),
        None => Cursor::new(out, 4096),
    }
}

fn encode_family(
    core: &FamilyCore,
    out: &mut Vec<u8>,
    buckets: &mut Vec<u64>,
    mut stage: Option<&mut Stage>,
) -> usize {
    // Only a body that outgrows the cache is streamed, and only then do
    // its series stop fitting there too: prefetching their headers costs
    // 5 % of a 100k-counter encode that is served from the cache.
    let prefetch = stage.is_some();
    let list = lock(&core.list);
    let pool = pool();
    for variant in core.variants.iter() {
        put(out, variant.header.as_bytes());
        let name = variant.name().as_bytes();
        match &core.layout {
            Layout::Counter => {
                let mut w = cursor(out, stage.as_deref_mut());
                let mut values = [0u64; BATCH];
                let mut locs = [SlotLoc::of(0); BATCH];
                let shard_major = pool.has_shards(SHARD_MAJOR);
                for (c, chunk) in list.chunks(BATCH).enumerate() {
                    if shard_major {
                        for (l, s) in locs.iter_mut().zip(chunk) {
                            *l = s.loc();
                        }
                        pool.sum_each(&locs[..chunk.len()], &mut values);
                    } else {
                        for (v, s) in values.iter_mut().zip(chunk) {
                            *v = pool.sum(s.loc());
                        }
                    }
                    let next = (c + 1) * BATCH;
                    w.samples(
                        name,
                        values.iter().zip(chunk).enumerate().map(
                            #[inline(always)]
                            |(j, (v, s))| {
                                if prefetch {
                                    // The next batch's series, a batch of
                                    // lines ahead of their reads.
                                    prefetch_ahead(&list.series, next + j, 0);
                                }
                                (s.text(), *v)
                            },
                        ),
                    );
                }
            }
            Layout::FloatCounter | Layout::Gauge | Layout::FloatGauge => {
                let mut w = cursor(out, stage.as_deref_mut());
                let ahead = |i| {
                    if prefetch {
                        prefetch_ahead(&list.series, i, COUNTER_AHEAD);
                    }
                };
                let series = list.iter().enumerate();
                match core.layout {
                    Layout::Gauge => w.samples(
                        name,
                        series.map(
                            #[inline(always)]
                            |(i, s)| {
                                ahead(i);
                                (s.text(), s.value().load(Ordering::Relaxed) as i64)
                            },
                        ),
                    ),
                    Layout::FloatCounter => w.samples(
                        name,
                        series.map(
                            #[inline(always)]
                            |(i, s)| {
                                ahead(i);
                                (s.text(), pool.sum_f64(s.loc()))
                            },
                        ),
                    ),
                    _ => w.samples(
                        name,
                        series.map(
                            #[inline(always)]
                            |(i, s)| {
                                ahead(i);
                                (s.text(), f64::from_bits(s.value().load(Ordering::Relaxed)))
                            },
                        ),
                    ),
                }
            }
            Layout::Histogram(_) => {
                let [bucket, sum_name, count_name] = &variant.suffixed[..] else {
                    unreachable!("a histogram family's variants carry the suffixed names")
                };
                let n = core.le_tails.len(); // bucket cells, +Inf included
                buckets.clear();
                buckets.resize(n, 0);
                let names = HistogramNames::new(bucket, sum_name, count_name, &core.le_tails);
                // Plain stores even for a large body (see `STREAM_ABOVE`).
                let mut w = cursor(out, None);
                w.histograms(
                    &names,
                    buckets,
                    list.iter().enumerate(),
                    #[inline(always)]
                    |(i, s), buckets| {
                        if prefetch {
                            prefetch_ahead(&list.series, i, HISTOGRAM_AHEAD);
                        }
                        (s.text(), read_at(pool, s.loc(), buckets))
                    },
                );
            }
        }
    }
    list.iter().count()
}

fn encode_callback(
    cb: &CallbackFamily,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
    errors: &AtomicU64,
) -> usize {
    scratch.lines.clear();
    scratch.ends.clear();
    scratch.seen.clear();
    let mut sink = CallbackSink {
        label_names: &cb.label_names,
        lines: &mut scratch.lines,
        ends: &mut scratch.ends,
        seen: &mut scratch.seen,
        hasher: &scratch.hasher,
        rejected: 0,
    };
    let ok = crate::catch::catch(|| (cb.f)(&mut sink)).is_some();
    let rejected = sink.rejected;
    if rejected > 0 {
        errors.fetch_add(rejected, Ordering::Relaxed);
    }
    if !ok {
        errors.fetch_add(1, Ordering::Relaxed);
        // Drop the family's samples for this scrape; keep its HELP/TYPE so
        // the body stays complete and valid.
        scratch.ends.clear();
    }
    for variant in cb.variants.iter() {
        out.extend_from_slice(variant.header.as_bytes());
        let mut prev = 0;
        for &end in scratch.ends.iter() {
            out.extend_from_slice(variant.name().as_bytes());
            out.extend_from_slice(&scratch.lines.as_bytes()[prev..end]);
            prev = end;
        }
    }
    scratch.ends.len()
}

impl Registry {
    /// Appends a complete Prometheus text 0.0.4 body to `out`.
    ///
    /// Families come in registration order, each with its HELP and TYPE
    /// lines, then the `telemeter_*` self-metrics (unless switched off).
    /// Reuse `out` (clear it between scrapes): once it has grown to the
    /// body's size, a scrape allocates nothing.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = Instant::now();
        let entries = self.inner.entries();
        let state = &self.inner.scrape;
        // A concurrent scrape may hold the shared scratch: use a fresh one
        // rather than wait.
        let mut local = None;
        let mut guard = state.scratch.try_lock().ok();
        let scratch: &mut Scratch = match guard.as_deref_mut() {
            Some(s) => s,
            None => local.get_or_insert_with(Scratch::default),
        };
        let mut series = 0usize;
        let begin = out.len();
        let mut stage = (state.last_bytes.load(Ordering::Relaxed) >= STREAM_ABOVE).then(Stage::new);
        for entry in entries.iter() {
            series += match entry {
                Entry::Family(core) => {
                    encode_family(core, out, &mut scratch.buckets, stage.as_mut())
                }
                Entry::Callback(cb) => encode_callback(cb, out, scratch, &state.callback_errors),
            };
        }
        if self.inner.self_metrics {
            self.encode_self_metrics(out, &entries, series, start);
        }
        state.scrapes.fetch_add(1, Ordering::Relaxed);
        state.last_series.store(series as u64, Ordering::Relaxed);
        state
            .last_bytes
            .store((out.len() - begin) as u64, Ordering::Relaxed);
        state.last_duration_ns.store(
            u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn encode_self_metrics(
        &self,
        out: &mut Vec<u8>,
        entries: &[Entry],
        series: usize,
        start: Instant,
    ) {
        let state = &self.inner.scrape;
        out.extend_from_slice(
            b"# HELP telemeter_scrape_duration_seconds Time this scrape spent collecting and encoding, up to this line.\n\
              # TYPE telemeter_scrape_duration_seconds gauge\ntelemeter_scrape_duration_seconds ",
        );
        write_f64(out, start.elapsed().as_secs_f64());
        out.extend_from_slice(
            b"\n# HELP telemeter_series Series in this scrape, self-metrics excluded.\n\
              # TYPE telemeter_series gauge\ntelemeter_series ",
        );
        write_u64(out, series as u64);
        out.extend_from_slice(
            b"\n# HELP telemeter_series_overflow_total Label sets redirected to a family's overflow series because it reached its cardinality limit.\n\
              # TYPE telemeter_series_overflow_total counter\n",
        );
        for entry in entries {
            if let Entry::Family(core) = entry {
                let n = core.overflowed.load(Ordering::Relaxed);
                if n > 0 {
                    // A validated metric name needs no escaping.
                    out.extend_from_slice(b"telemeter_series_overflow_total{family=\"");
                    out.extend_from_slice(core.name().as_bytes());
                    out.extend_from_slice(b"\"} ");
                    write_u64(out, n);
                    out.push(b'\n');
                }
            }
        }
        out.extend_from_slice(
            b"# HELP telemeter_scrape_callback_errors_total Scrape-time callbacks that panicked, and callback samples rejected.\n\
              # TYPE telemeter_scrape_callback_errors_total counter\ntelemeter_scrape_callback_errors_total ",
        );
        write_u64(out, state.callback_errors.load(Ordering::Relaxed));
        out.extend_from_slice(
            b"\n# HELP telemeter_rejected_samples_total Float-counter increments refused in this process (negative or NaN).\n\
              # TYPE telemeter_rejected_samples_total counter\ntelemeter_rejected_samples_total ",
        );
        write_u64(
            out,
            crate::counter::REJECTED.load(std::sync::atomic::Ordering::Relaxed),
        );
        out.push(b'\n');
    }

    /// Encodes into a new `String` (convenient in tests; servers should
    /// reuse a buffer with [`Registry::encode`]).
    #[must_use]
    pub fn encode_to_string(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        // The encoder writes only UTF-8: names are ASCII, label values and
        // HELP are Rust strings, numbers are ASCII.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Families, series counts, overflow and scrape statistics.
    #[must_use]
    pub fn summary(&self) -> RegistrySummary {
        let entries = self.inner.entries();
        let state = &self.inner.scrape;
        let families: Vec<FamilySummary> = entries
            .iter()
            .map(|e| match e {
                Entry::Family(core) => FamilySummary {
                    name: core.name().to_string(),
                    kind: core.layout.type_name(),
                    series: core.series_count(),
                    overflow: core.overflowed.load(Ordering::Relaxed),
                },
                Entry::Callback(cb) => FamilySummary {
                    name: cb.name.clone(),
                    kind: cb
                        .variants
                        .first()
                        .map(|v| {
                            if v.header.ends_with(" counter\n") {
                                "counter"
                            } else {
                                "gauge"
                            }
                        })
                        .unwrap_or("gauge"),
                    series: 0,
                    overflow: 0,
                },
            })
            .collect();
        RegistrySummary {
            series: families.iter().map(|f| f.series).sum(),
            families,
            scrapes: state.scrapes.load(Ordering::Relaxed),
            last_scrape_duration_seconds: state.last_duration_ns.load(Ordering::Relaxed) as f64
                / 1e9,
            callback_errors: state.callback_errors.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::STREAM_ABOVE;
    use crate::{Buckets, Opts, Registry};

    /// A registry whose next scrape is expected to be large streams its
    /// one-line families through the stage (and writes its histograms
    /// plainly in between): the body is the same byte for byte, including
    /// a label value longer than the stage (which switches the cursor to
    /// direct writes mid-family).
    #[test]
    fn a_streamed_body_is_the_plain_body() {
        let reg = Registry::builder().self_metrics(false).build();
        let ctr = reg
            .counter_family(Opts::new("c_total", "C.").labels(&["k"]))
            .unwrap();
        let hist = reg
            .histogram_family(
                Opts::new("h_seconds", "H.").labels(&["k"]),
                Buckets::default_prometheus(),
            )
            .unwrap();
        let gauge = reg
            .gauge_family(Opts::new("g", "G.").labels(&["k"]))
            .unwrap();
        let fgauge = reg
            .float_gauge_family(Opts::new("fg", "FG.").labels(&["k"]))
            .unwrap();
        let fctr = reg
            .float_counter_family(Opts::new("fc_total", "FC.").labels(&["k"]))
            .unwrap();
        let floats = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e300,
            -2.5e-7,
            42.0,
        ];
        let huge = "x\"\\\n".repeat(5000);
        for i in 0..3000u64 {
            let k = if i == 1500 {
                huge.clone()
            } else {
                format!("series-{i}")
            };
            ctr.with_label_values(&[&k]).unwrap().add(i * 7919);
            gauge.with_label_values(&[&k]).unwrap().set(match i {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => i as i64 - 10,
            });
            fgauge
                .with_label_values(&[&k])
                .unwrap()
                .set(floats[i as usize % floats.len()] * (i as f64 + 1.0));
            fctr.with_label_values(&[&k]).unwrap().add(i as f64 / 3.0);
            if i % 10 == 0 || i == 1500 {
                let h = hist.with_label_values(&[&k]).unwrap();
                h.observe(i as f64 / 1000.0);
                h.observe_u64(i);
            }
        }
        let state = &reg.inner.scrape;
        state.last_bytes.store(0, Ordering::Relaxed);
        let mut plain = Vec::new();
        reg.encode(&mut plain);
        for prefix in [0usize, 5, 63] {
            state.last_bytes.store(STREAM_ABOVE, Ordering::Relaxed);
            let mut streamed = vec![b'#'; prefix];
            reg.encode(&mut streamed);
            assert_eq!(streamed.len(), prefix + plain.len());
            assert!(streamed[prefix..] == plain[..], "prefix {prefix}");
        }
        // The length recorded is this body's, not the buffer's.
        assert_eq!(state.last_bytes.load(Ordering::Relaxed), plain.len() as u64);
    }
}
