//! The scrape path: single-flight encoding on a thread of its own, one
//! flight per format (text 0.0.4, OpenMetrics, protobuf: a lane each), the
//! reused body buffers, and the exporter's self-metrics.
//!
//! A steady-state scrape allocates nothing here: encodes run on one
//! long-lived thread (a blocking-pool task costs a 256 B task cell per
//! scrape), and bodies are kept in reused `Arc<Vec<u8>>` buffers that the
//! responses share (see [`Body`]).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Instant;

use flate2::Compress;
use tokio::sync::Notify;

use super::body::Body;
use super::gzip::{deflate_state, gzip_into};
use super::source::MetricsSource;
use super::stats::StatsInner;
use crate::catch::catch;
use crate::encode::layout::Variant;
use crate::encode::{write_single, Kind};
use crate::Format;

/// One finished encode, shared by every scrape that waited for it.
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    pub(crate) identity: Body,
    pub(crate) gzip: Option<Body>,
}

/// Why a scrape produced no body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScrapeFailed {
    /// `MetricsSource::encode` panicked.
    Panicked,
    /// The encode thread could not be started (the OS refused a thread).
    NoThread,
}

type Outcome = Result<Encoded, ScrapeFailed>;

/// The single flight, kept for the scraper's life: starting, joining and
/// finishing a flight allocate nothing (a channel per flight cost 440 B).
#[derive(Default)]
struct Flight {
    /// The number of the flight running or last started.
    gen: u64,
    /// Whether flight `gen` is still encoding (scrapes join it) or has
    /// closed (the next scrape starts flight `gen + 1`).
    running: bool,
    /// Whether any scrape that started or joined flight `gen` wants gzip.
    want_gzip: bool,
    /// The deadline the scrape that started flight `gen` asked for (its
    /// scraper's timeout), if any.
    deadline: Option<Instant>,
    /// The newest finished flight's number and outcome, while scrapes that
    /// wait for it are left to take it; cleared by the last of them, so
    /// that the body's buffer can be reused once the responses are sent.
    result: Option<(u64, Outcome)>,
    /// Scrapes waiting for a flight.
    waiters: usize,
}

/// Where the encode thread waits for work: the newest flight started, and
/// whether the scraper is gone. Shared with the thread, which holds the
/// scraper itself only weakly, so that dropping the last scraper reference
/// ends the thread.
#[derive(Default)]
struct Jobs {
    state: Mutex<JobState>,
    posted: Condvar,
}

#[derive(Default)]
struct JobState {
    /// The newest flight a scrape has started, per lane.
    newest: [u64; LANES],
    /// Set when the scraper is dropped: the thread exits.
    closed: bool,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn post(&self, lane: usize, gen: u64) {
        let mut s = self.lock();
        s.newest[lane] = s.newest[lane].max(gen);
        drop(s);
        self.posted.notify_one();
    }

    /// Waits for a flight newer than `done` in some lane (the lowest such
    /// lane first) and marks it done; `None` once closed.
    fn next(&self, done: &mut [u64; LANES]) -> Option<(usize, u64)> {
        let mut s = self.lock();
        loop {
            if s.closed {
                return None;
            }
            if let Some(lane) = (0..LANES).find(|&i| s.newest[i] > done[i]) {
                done[lane] = s.newest[lane];
                return Some((lane, done[lane]));
            }
            s = self.posted.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One lane per format.
const LANES: usize = 3;

/// A format's single flight and its kept bodies.
#[derive(Default)]
struct Lane {
    flight: Mutex<Flight>,
    /// The last body's length, the next buffer's size hint.
    last_len: AtomicUsize,
    /// The previous encode's bodies, kept so that their buffers can be
    /// reused once every response that shared them has been sent.
    spare: Mutex<Spare>,
}

/// Runs encodes on its own thread, one at a time; scrapes that arrive while
/// one runs wait for it and share its body.
pub(crate) struct Scraper {
    source: Arc<dyn MetricsSource>,
    /// Per format ([`Format::index`]).
    lanes: [Lane; LANES],
    /// Wakes the waiting scrapes when a flight finishes.
    finished: Notify,
    jobs: Arc<Jobs>,
    stats: Arc<StatsInner>,
    self_metrics: bool,
    /// The exporter's self-metric families, rendered once.
    own: OwnFamilies,
    /// Whether the encode thread (one for every lane) has been started,
    /// at the first flight of any; cleared when a start fails or the
    /// thread unwinds, so that the next scrape starts it again.
    thread: AtomicBool,
    /// Tests: the next thread start fails as if the OS refused it.
    #[cfg(test)]
    refuse_thread: std::sync::atomic::AtomicBool,
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.jobs.lock().closed = true;
        self.jobs.posted.notify_all();
    }
}

#[derive(Default)]
struct Spare {
    identity: Kept,
    gzip: Kept,
    /// The deflate state, reset and reused: building one allocates a few
    /// hundred KB.
    deflate: Option<Compress>,
}

/// The last two bodies of one kind, oldest first. Two, because the most
/// recent one may still be held by a response being written, or by the
/// flight's published outcome until its last waiter takes it, while the
/// one before it is free by then: scrapes alternate between two buffers.
#[derive(Default)]
struct Kept([Option<Body>; 2]);

impl Kept {
    /// Takes back a kept body that nothing else holds any more, cleared
    /// (its buffer and its `Arc` are both reused); otherwise a new body of
    /// `capacity`.
    fn take_buffer(&mut self, capacity: usize) -> Body {
        for slot in &mut self.0 {
            if let Some(mut body) = slot.take() {
                match Arc::get_mut(&mut body) {
                    Some(unique) => {
                        unique.clear();
                        return body;
                    }
                    None => *slot = Some(body),
                }
            }
        }
        Arc::new(Vec::with_capacity(capacity))
    }

    /// Keeps `body` as the newest, dropping the oldest if two are kept.
    fn keep(&mut self, body: Body) {
        if self.0[1].is_some() {
            self.0[0] = self.0[1].take();
        }
        self.0[1] = Some(body);
    }

    #[cfg(test)]
    fn newest(&self) -> Option<&Body> {
        self.0[1].as_ref()
    }
}

/// Finishes a flight as failed if the encode thread unwinds while running
/// it (never seen: the source's panics are caught, and so are their
/// payloads' drops: `crate::catch`), so that no scrape waits for an encode that never
/// comes; and lets the next scrape start a new thread.
struct Running<'a> {
    scraper: &'a Scraper,
    lane: usize,
    gen: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.scraper.thread.store(false, Ordering::Relaxed);
            self.scraper
                .finish(self.lane, self.gen, Err(ScrapeFailed::Panicked));
        }
    }
}

/// A scrape waiting for a flight; on drop (answered, or its client gone)
/// it stops counting, and the last one out clears the published outcome.
struct Waiting<'a>(&'a Scraper, usize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut f = self.0.flight(self.1);
        f.waiters -= 1;
        if f.waiters == 0 {
            f.result = None;
        }
    }
}

/// The encode thread: runs each flight posted, until the scraper is gone.
fn encode_thread(scraper: Weak<Scraper>, jobs: Arc<Jobs>) {
    let mut done = [0; LANES];
    while let Some((lane, gen)) = jobs.next(&mut done) {
        // Strong only while encoding: the last reference may be dropped
        // here, which closes `jobs` and ends the loop.
        let Some(scraper) = scraper.upgrade() else {
            return;
        };
        let running = Running {
            scraper: &scraper,
            lane,
            gen,
        };
        let outcome = scraper.run_encode(lane, gen);
        scraper.finish(lane, gen, outcome);
        drop(running);
    }
}

impl Scraper {
    pub(crate) fn new(
        source: Arc<dyn MetricsSource>,
        stats: Arc<StatsInner>,
        self_metrics: bool,
    ) -> Self {
        Scraper {
            source,
            lanes: Default::default(),
            finished: Notify::new(),
            jobs: Arc::new(Jobs::default()),
            stats,
            self_metrics,
            own: OwnFamilies::new(),
            thread: AtomicBool::new(false),
            #[cfg(test)]
            refuse_thread: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn source(&self) -> &Arc<dyn MetricsSource> {
        &self.source
    }

    fn flight(&self, lane: usize) -> MutexGuard<'_, Flight> {
        self.lanes[lane]
            .flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the encode thread, at the first flight. `false` if the OS
    /// refused it.
    fn start_thread(self: &Arc<Self>) -> bool {
        #[cfg(test)]
        if self.refuse_thread.swap(false, Ordering::Relaxed) {
            return false;
        }
        let scraper = Arc::downgrade(self);
        let jobs = Arc::clone(&self.jobs);
        std::thread::Builder::new()
            .name("telemeter-encode".to_string())
            .spawn(move || encode_thread(scraper, jobs))
            .is_ok()
    }

    /// Joins the encode of `format` in flight, or starts one, and waits
    /// for its body. `format` must be one the source offers.
    pub(crate) async fn scrape(
        self: &Arc<Self>,
        format: Format,
        want_gzip: bool,
        deadline: Option<Instant>,
    ) -> Outcome {
        self.stats.scrapes.fetch_add(1, Ordering::Relaxed);
        let lane = format.index();
        let (target, start) = {
            let mut f = self.flight(lane);
            let start = !f.running;
            if start {
                f.gen += 1;
                f.running = true;
                f.want_gzip = want_gzip;
                f.deadline = deadline;
            } else {
                f.want_gzip |= want_gzip;
            }
            // Counted before the encode can finish, so its outcome is kept
            // for this scrape.
            f.waiters += 1;
            (f.gen, start)
        };
        // One thread for every lane: the first flight of any starts it.
        let spawn = start && !self.thread.swap(true, Ordering::AcqRel);
        let _waiting = Waiting(self, lane);
        if spawn && !self.start_thread() {
            // Let the next scrape try again.
            self.thread.store(false, Ordering::Relaxed);
            self.finish(lane, target, Err(ScrapeFailed::NoThread));
        } else if start {
            self.jobs.post(lane, target);
        }
        loop {
            let notified = self.finished.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a finish in between wakes it.
            notified.as_mut().enable();
            if let Some(outcome) = self.take_result(lane, target) {
                return outcome;
            }
            notified.await;
        }
    }

    /// The outcome of flight `target` or a later one, if finished. The last
    /// waiter clears the slot (see [`Flight::result`]).
    fn take_result(&self, lane: usize, target: u64) -> Option<Outcome> {
        let f = self.flight(lane);
        match &f.result {
            Some((gen, outcome)) if *gen >= target => Some(outcome.clone()),
            _ => None,
        }
    }

    /// Finishes flight `gen` with `outcome`: publishes it for the scrapes
    /// that wait, unless none does, and wakes them.
    fn finish(&self, lane: usize, gen: u64, outcome: Outcome) {
        {
            let mut f = self.flight(lane);
            if f.gen == gen {
                f.running = false;
            }
            let newer = f.result.as_ref().is_some_and(|(g, _)| *g > gen);
            if f.waiters > 0 && !newer {
                f.result = Some((gen, outcome));
            }
        }
        self.finished.notify_waiters();
    }

    /// Encodes for flight `gen` of `lane`; returns the outcome to publish.
    fn run_encode(&self, lane: usize, gen: u64) -> Outcome {
        let started = Instant::now();
        let format = Format::ALL[lane];
        let hint = self.lanes[lane].last_len.load(Ordering::Relaxed).max(4096);
        // Held for the whole encode: only the encode thread takes it (tests
        // aside), one flight at a time.
        let mut spare = self.lanes[lane]
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let spare = &mut *spare;
        // Steady state: the previous body's buffer, already body-sized.
        let mut identity = spare.identity.take_buffer(hint + hint / 8);
        let deadline = self.flight(lane).deadline;
        let encoded = catch(|| {
            let buf = Arc::get_mut(&mut identity).expect("a taken body is unique");
            match (format, deadline) {
                (Format::Text, Some(d)) => self.source.encode_until(buf, d),
                (Format::Text, None) => self.source.encode(buf),
                (_, d) => self.source.encode_as(buf, format, d),
            }
            if self.self_metrics {
                self.encode_self_metrics(buf, format);
            }
            if format == Format::OpenMetrics {
                crate::encode::openmetrics::finish(buf);
            }
        });
        self.stats.encodes.fetch_add(1, Ordering::Relaxed);
        // Close the flight before reading `want_gzip`: every scrape that
        // joined did so under this lock, so its wish is visible now, and a
        // scrape after this starts a flight of its own.
        let gzip = {
            let mut f = self.flight(lane);
            if f.gen == gen {
                f.running = false;
            }
            f.want_gzip
        };
        let outcome = match encoded {
            Some(()) => {
                self.lanes[lane]
                    .last_len
                    .store(identity.len(), Ordering::Relaxed);
                let gzip = if gzip {
                    let mut out = spare.gzip.take_buffer(identity.len() / 8 + 64);
                    let deflate = spare.deflate.get_or_insert_with(deflate_state);
                    let buf = Arc::get_mut(&mut out).expect("a taken body is unique");
                    // A deflate failure (never seen) serves the identity body.
                    gzip_into(&identity, buf, deflate).then_some(out)
                } else {
                    None
                };
                spare.identity.keep(Arc::clone(&identity));
                if let Some(gz) = &gzip {
                    spare.gzip.keep(Arc::clone(gz));
                }
                Ok(Encoded { identity, gzip })
            }
            None => {
                // The half-written body is dropped; the kept ones stay.
                self.stats.encode_panics.fetch_add(1, Ordering::Relaxed);
                Err(ScrapeFailed::Panicked)
            }
        };
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.stats.last_encode_nanos.store(nanos, Ordering::Relaxed);
        outcome
    }

    fn encode_self_metrics(&self, buf: &mut Vec<u8>, format: Format) {
        let s = &self.stats;
        let own = &self.own;
        let counters: [(&Variant, &AtomicU64); 5] = [
            (&own.rejected, &s.connections_rejected),
            (&own.evicted, &s.connections_evicted),
            (&own.scrapes, &s.scrapes),
            (&own.encodes, &s.encodes),
            (&own.handler_failures, &s.handler_failures),
        ];
        for (variant, v) in counters {
            write_single(
                buf,
                format,
                variant,
                Kind::Counter,
                v.load(Ordering::Relaxed),
            );
        }
        write_single(
            buf,
            format,
            &own.active,
            Kind::Gauge,
            s.connections_active.load(Ordering::Relaxed),
        );
    }
}

/// The exporter's self-metric families, rendered once per scraper.
struct OwnFamilies {
    rejected: Variant,
    evicted: Variant,
    scrapes: Variant,
    encodes: Variant,
    handler_failures: Variant,
    active: Variant,
}

impl OwnFamilies {
    fn new() -> OwnFamilies {
        let counter = |name: &str, help: &str| Variant::new(name, name, help, "counter");
        OwnFamilies {
            rejected: counter(
                "telemeter_http_connections_rejected_total",
                "Connections the exporter closed at accept: every connection busy at its limit, or the peer at its cap.",
            ),
            evicted: counter(
                "telemeter_http_connections_evicted_total",
                "Idle connections the exporter closed to admit a new one at its connection limit.",
            ),
            scrapes: counter(
                "telemeter_http_scrapes_total",
                "Requests for /metrics the exporter has received.",
            ),
            encodes: counter(
                "telemeter_http_encodes_total",
                "Encodes the exporter has run (concurrent scrapes share one).",
            ),
            handler_failures: counter(
                "telemeter_http_handler_failures_total",
                "Admin pages and host routes whose handler panicked or gave an answer that could not be sent (served as 500).",
            ),
            active: Variant::new(
                "telemeter_http_connections_active",
                "telemeter_http_connections_active",
                "Connections the exporter is serving now.",
                "gauge",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A current-thread runtime (scrapes interleave on its thread; encodes
    /// run on the scraper's own thread, racing them) and a scraper on it.
    fn scraper_on(source: Arc<dyn MetricsSource>) -> (tokio::runtime::Runtime, Arc<Scraper>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let scraper = Arc::new(Scraper::new(source, Arc::new(StatsInner::default()), false));
        (rt, scraper)
    }

    #[test]
    fn steady_state_scrapes_reuse_the_body_buffers() {
        struct Fixed;
        impl MetricsSource for Fixed {
            fn encode(&self, buf: &mut Vec<u8>) {
                buf.extend_from_slice(&b"x 1\n".repeat(1000));
            }
            fn summary_json(&self) -> serde_json::Value {
                serde_json::Value::Null
            }
        }
        let (rt, scraper) = scraper_on(Arc::new(Fixed));
        let scrape = || {
            rt.block_on(scraper.scrape(Format::Text, true, None))
                .unwrap()
        };
        let first = scrape();
        let (id_ptr, gz_ptr) = (
            first.identity.as_ptr(),
            first.gzip.as_ref().unwrap().as_ptr(),
        );
        let id_arc = Arc::as_ptr(&first.identity);
        // Every response that shared the bodies has been sent; the last
        // waiter cleared the flight's published outcome. Wait until the
        // kept bodies are the only references (the encode thread may still
        // be finishing), which is the precondition for reuse.
        drop(first);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let spare = scraper.lanes[0].spare.lock().unwrap();
            let unique = |b: &Body| Arc::strong_count(b) == 1;
            let unique = spare.identity.newest().is_some_and(unique)
                && spare.gzip.newest().is_some_and(unique);
            drop(spare);
            if unique || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let second = scrape();
        assert_eq!(second.identity.as_ptr(), id_ptr, "identity buffer reused");
        assert_eq!(Arc::as_ptr(&second.identity), id_arc, "its Arc reused");
        assert_eq!(
            second.gzip.as_ref().unwrap().as_ptr(),
            gz_ptr,
            "gzip buffer reused"
        );
        // While a response still holds the body, the next encode must not
        // write into it.
        let third = scrape();
        assert_ne!(third.identity.as_ptr(), second.identity.as_ptr());
        assert_eq!(second.identity, third.identity);
    }

    #[test]
    fn a_panic_whose_payload_panics_on_drop_leaves_the_scraper_serving() {
        use crate::catch::tests::Bomb;
        struct Once(AtomicU64);
        impl MetricsSource for Once {
            fn encode(&self, buf: &mut Vec<u8>) {
                if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
                    std::panic::panic_any(Bomb);
                }
                buf.extend_from_slice(b"x 1\n");
            }
            fn summary_json(&self) -> serde_json::Value {
                serde_json::Value::Null
            }
        }
        let (rt, scraper) = scraper_on(Arc::new(Once(AtomicU64::new(0))));
        let first = rt.block_on(scraper.scrape(Format::Text, false, None));
        assert_eq!(first.unwrap_err(), ScrapeFailed::Panicked);
        // The thread survived: the next scrape is encoded (it would wait
        // forever for a dead thread).
        let second = rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                scraper.scrape(Format::Text, false, None),
            )
            .await
        });
        let body = second.expect("answered").expect("encoded");
        assert_eq!(&body.identity[..], b"x 1\n");
        assert_eq!(scraper.stats.encode_panics.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_refused_encode_thread_fails_that_scrape_and_the_next_one_retries() {
        let (rt, scraper) = scraper_on(Arc::new(Nothing));
        scraper.refuse_thread.store(true, Ordering::Relaxed);
        let refused = rt.block_on(scraper.scrape(Format::Text, false, None));
        assert_eq!(refused.unwrap_err(), ScrapeFailed::NoThread);
        {
            let f = scraper.flight(0);
            assert!(
                !f.running && !scraper.thread.load(Ordering::Relaxed),
                "the flight closed, no thread recorded"
            );
        }
        let next = rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                scraper.scrape(Format::Text, false, None),
            )
            .await
        });
        assert!(next.expect("answered").is_ok(), "a new thread encodes");
        assert_eq!(scraper.stats.encodes.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn dropping_the_scraper_ends_its_encode_thread() {
        let (rt, scraper) = scraper_on(Arc::new(Nothing));
        rt.block_on(scraper.scrape(Format::Text, false, None))
            .unwrap();
        let jobs = Arc::clone(&scraper.jobs);
        assert_eq!(Arc::strong_count(&jobs), 3, "scraper, thread, test");
        drop(scraper);
        // The thread may still hold a strong reference for an instant after
        // publishing; then it sees `closed` and drops its `jobs`.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&jobs) > 1 {
            assert!(
                Instant::now() < deadline,
                "the encode thread is still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(jobs.lock().closed);
    }

    struct Nothing;
    impl MetricsSource for Nothing {
        fn encode(&self, _: &mut Vec<u8>) {}
        fn summary_json(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
    }

    #[test]
    fn concurrent_and_abandoned_scrapes_share_flights_and_leave_nothing_held() {
        struct Slow(AtomicU64);
        impl MetricsSource for Slow {
            fn encode(&self, buf: &mut Vec<u8>) {
                let n = self.0.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(300));
                buf.extend_from_slice(format!("x {n}\n").as_bytes());
            }
            fn summary_json(&self) -> serde_json::Value {
                serde_json::Value::Null
            }
        }
        let source = Arc::new(Slow(AtomicU64::new(0)));
        let (rt, scraper) = scraper_on(source.clone());
        let answered = rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..400u64 {
                let s = Arc::clone(&scraper);
                tasks.push(tokio::spawn(async move {
                    if i % 3 == 0 {
                        // A client that hangs up almost at once.
                        let wait = std::time::Duration::from_micros(i % 7 * 50);
                        tokio::time::timeout(wait, s.scrape(Format::Text, i % 2 == 0, None))
                            .await
                            .ok()
                    } else {
                        Some(s.scrape(Format::Text, i % 2 == 0, None).await)
                    }
                }));
                if i % 16 == 0 {
                    tokio::task::yield_now().await;
                }
                if i % 100 == 99 {
                    // A new wave once the flight before has closed (waited
                    // for, not slept for: a loaded machine runs it late).
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    let until = Instant::now() + std::time::Duration::from_secs(10);
                    while scraper.flight(0).running && Instant::now() < until {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
            }
            let mut answered = 0;
            for t in tasks {
                if let Some(outcome) = t.await.unwrap() {
                    let body = outcome.expect("encoded").identity;
                    assert!(body.starts_with(b"x ") && body.ends_with(b"\n"));
                    answered += 1;
                }
            }
            answered
        });
        assert!(
            answered >= 266,
            "every scrape that waited was answered: {answered}"
        );
        let encodes = source.0.load(Ordering::Relaxed);
        assert!(
            (4..400).contains(&encodes),
            "{encodes} encodes for 400 scrapes in 4 waves"
        );
        // Nothing waits, so nothing is held: the last waiter cleared the
        // outcome, or the flight found no one to keep it for.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let f = scraper.flight(0);
            let (waiters, held, running) = (f.waiters, f.result.is_some(), f.running);
            drop(f);
            if (waiters, held, running) == (0, false, false) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{waiters} waiters, held {held}, running {running}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
