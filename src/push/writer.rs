//! The remote writer: a thread that writes a registry on an interval,
//! with retries and a bounded queue (the rules are on [`RemoteWriter`]).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::remote_write::{Chunk, RemoteWrite, WriterSettings};
use super::PushError;
use crate::family::Layout;
use crate::{Buckets, Counter, FloatGauge, Gauge, Histogram, Opts, Registry};

/// The longest `Retry-After` a writer honours; a longer one waits this
/// long (a receiver asking for an hour would otherwise stall the queue).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What a [`RemoteWriter`] has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterStats {
    /// Samples the receiver took.
    pub samples_sent: u64,
    /// Samples refused for good (a 4xx other than 429): not retried.
    pub samples_failed: u64,
    /// Samples sent again after a retryable failure (counted per retry).
    pub samples_retried: u64,
    /// Samples of batches dropped unsent: the oldest past `max_pending`,
    /// and what a shutdown could not send by its deadline.
    pub samples_dropped: u64,
    /// Requests the receiver took.
    pub requests_sent: u64,
    /// Batches waiting now.
    pub pending_batches: usize,
    /// When a request last got through.
    pub last_success: Option<SystemTime>,
    /// The last failure, as its message.
    pub last_error: Option<String>,
}

/// Locks a std mutex, recovering the data if a holder panicked (the
/// policy of `sync::lock`, whose mutexes are loom's in a loom build; the
/// writer takes part in no modelled protocol).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The thread's instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Go,
    /// Stop now, sending nothing more.
    Stop,
    /// Collect once more and send until the deadline.
    Flush(Instant),
}

struct Control {
    run: Mutex<Run>,
    wake: Condvar,
    stats: Mutex<WriterStats>,
}

impl Control {
    fn run(&self) -> Run {
        *lock(&self.run)
    }

    /// Sleeps until `until` or an instruction other than `Go`.
    fn sleep_until(&self, until: Instant) {
        let mut run = lock(&self.run);
        while *run == Run::Go {
            let now = Instant::now();
            if now >= until {
                return;
            }
            run = match self.wake.wait_timeout(run, until - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn stats(&self, f: impl FnOnce(&mut WriterStats)) {
        f(&mut lock(&self.stats));
    }
}

/// A running remote writer ([`RemoteWrite::start`]). Dropping it stops
/// the thread without a final push; [`RemoteWriter::shutdown`] flushes.
///
/// The remote writer: a thread of its own that writes a registry to a
/// remote-write receiver on an interval, retries what the receiver could
/// not take, and keeps a bounded queue while the receiver is away.
///
/// Each interval the thread collects the registry into a *batch*: one
/// `WriteRequest` per [`RemoteWriteBuilder::max_samples_per_request`](super::RemoteWriteBuilder::max_samples_per_request)
/// samples, compressed. Batches are sent oldest first, request by request:
///
/// * a 2xx answer: the request's samples are sent;
/// * 429, a 5xx, a connection that fails or breaks, a timeout: the request
///   is retried after an exponential backoff with jitter (from
///   [`RemoteWriteBuilder::min_backoff`](super::RemoteWriteBuilder::min_backoff) to
///   [`RemoteWriteBuilder::max_backoff`](super::RemoteWriteBuilder::max_backoff)), or after the `Retry-After` the
///   receiver asked for (in seconds; at most [`MAX_RETRY_AFTER`]);
/// * any other 4xx (bad samples, credentials): not retried, the request's
///   samples are failed, and the next one goes.
///
/// While requests wait, collections go on; past
/// [`RemoteWriteBuilder::max_pending`](super::RemoteWriteBuilder::max_pending) batches the oldest is dropped. Every
/// counter and histogram sample is cumulative, so the batch that gets
/// through carries every count the dropped ones held: an outage loses
/// resolution (the points in between), never a total.
///
/// [`RemoteWriter::shutdown`] collects once more and sends what is queued
/// until its deadline; what is left then is dropped and counted.
pub struct RemoteWriter {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

impl fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &self.url)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RemoteWriter {
    /// What it has done so far.
    #[must_use]
    pub fn stats(&self) -> WriterStats {
        lock(&self.control.stats).clone()
    }

    /// Collects the registry once more, sends everything queued until
    /// `deadline` from now (each request's timeout is cut to what is left
    /// of it), and stops; what is still queued then is dropped and
    /// counted. Returns the final statistics.
    pub fn shutdown(mut self, deadline: Duration) -> WriterStats {
        self.finish(Run::Flush(Instant::now() + deadline));
        self.stats()
    }

    fn finish(&mut self, how: Run) {
        {
            let mut run = lock(&self.control.run);
            if *run == Run::Go {
                *run = how;
            }
        }
        self.control.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        self.finish(Run::Stop);
    }
}

/// One collection: its requests not yet sent, oldest first.
struct Batch {
    chunks: VecDeque<Chunk>,
    /// Failed attempts at the first chunk in a row.
    attempts: u32,
    not_before: Instant,
}

impl Batch {
    fn samples(&self) -> u64 {
        self.chunks.iter().map(|c| c.samples as u64).sum()
    }
}

/// The writer's self-metrics, where the registry has self-metrics on.
struct Own {
    sent: Counter,
    failed: Counter,
    retried: Counter,
    dropped: Counter,
    last_success: FloatGauge,
    pending: Gauge,
    duration: Histogram,
}

impl Own {
    fn register(registry: &Registry, url: &str) -> Result<Option<Own>, PushError> {
        if !registry.inner.self_metrics {
            return Ok(None);
        }
        let own = |e: crate::Error| PushError::InvalidSetting {
            setting: "start",
            reason: format!("cannot register the writer's self-metrics: {e}"),
        };
        let samples = registry
            .own_family::<Counter>(
                Opts::new(
                    "telemeter_remote_write_samples_total",
                    "Remote-write samples by outcome: sent, failed (refused for good), retried (per retry), dropped (queue full or shutdown).",
                )
                .labels(&["remote", "outcome"]),
                Layout::Counter,
                true,
            )
            .map_err(own)?;
        let by = |outcome: &str| samples.with_label_values(&[url, outcome]).map_err(own);
        // The one series of a `{remote}` family for this writer.
        fn mine<M: crate::Metric>(
            registry: &Registry,
            url: &str,
            (name, help): (&str, &str),
            layout: Layout,
        ) -> Result<M, crate::Error> {
            registry
                .own_family::<M>(Opts::new(name, help).labels(&["remote"]), layout, true)?
                .with_label_values(&[url])
        }
        let last_success = mine::<FloatGauge>(
            registry,
            url,
            (
                "telemeter_remote_write_last_success_timestamp_seconds",
                "When a remote-write request last got through (Unix seconds).",
            ),
            Layout::FloatGauge,
        )
        .map_err(own)?;
        let pending = mine::<Gauge>(
            registry,
            url,
            (
                "telemeter_remote_write_pending_batches",
                "Collections waiting to be sent.",
            ),
            Layout::Gauge,
        )
        .map_err(own)?;
        let buckets = Buckets::exponential(0.005, 2.0, 12).map_err(own)?;
        let duration = mine::<Histogram>(
            registry,
            url,
            (
                "telemeter_remote_write_request_duration_seconds",
                "Remote-write request time, answered or not.",
            ),
            Layout::Histogram(buckets),
        )
        .map_err(own)?;
        Ok(Some(Own {
            sent: by("sent")?,
            failed: by("failed")?,
            retried: by("retried")?,
            dropped: by("dropped")?,
            last_success,
            pending,
            duration,
        }))
    }
}

/// The thread's state.
struct Writer {
    rw: RemoteWrite,
    registry: Registry,
    settings: WriterSettings,
    control: Arc<Control>,
    own: Option<Own>,
    pending: VecDeque<Batch>,
    /// Emptied batches' queues, for the next collections (a steady state
    /// allocates nothing).
    spare: Vec<VecDeque<Chunk>>,
    rng: u64,
}

impl RemoteWrite {
    /// Starts a thread (`telemeter-remote-write`) that writes `registry`
    /// every interval (see [`RemoteWriter`] for retries, the queue and
    /// shutdown). The first collection is at once. With self-metrics
    /// on, the registry gets `telemeter_remote_write_*` families (shared by
    /// every writer of it, by `remote` URL).
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidSetting`] if the self-metrics cannot be
    /// registered (a family of the same name that is not the writer's),
    /// [`PushError::Runtime`] if the thread cannot start.
    pub fn start(self, registry: &Registry) -> Result<RemoteWriter, PushError> {
        let url = self.url();
        let own = Own::register(registry, &url)?;
        let control = Arc::new(Control {
            run: Mutex::new(Run::Go),
            wake: Condvar::new(),
            stats: Mutex::new(WriterStats::default()),
        });
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        let mut writer = Writer {
            settings: self.writer.clone(),
            rw: self,
            registry: registry.clone(),
            control: Arc::clone(&control),
            own,
            pending: VecDeque::new(),
            spare: Vec::new(),
            rng: seed,
        };
        let watch = Arc::clone(&control);
        let thread = std::thread::Builder::new()
            .name("telemeter-remote-write".into())
            .spawn(move || {
                // A panic (a bug: nothing here should) ends the thread; it
                // is said in the stats rather than lost with the thread.
                if crate::catch::catch(|| writer.run()).is_none() {
                    watch.stats(|s| {
                        s.last_error = Some("the remote-write thread panicked and stopped".into())
                    });
                }
            })
            .map_err(PushError::Runtime)?;
        Ok(RemoteWriter {
            control,
            thread: Some(thread),
            url,
        })
    }
}

/// A request's fate.
enum Outcome {
    Sent,
    Retry(Option<Duration>),
    Failed,
}

fn outcome(result: &Result<(), PushError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Sent,
        Err(PushError::Rejected {
            status,
            retry_after,
            ..
        }) if *status == 429 || *status >= 500 => Outcome::Retry(*retry_after),
        Err(PushError::Rejected { .. }) => Outcome::Failed,
        Err(PushError::Connect { .. } | PushError::Protocol { .. } | PushError::Timeout { .. }) => {
            Outcome::Retry(None)
        }
        Err(_) => Outcome::Failed,
    }
}

impl Writer {
    fn run(&mut self) {
        let mut next = Instant::now();
        loop {
            match self.control.run() {
                Run::Stop => return,
                Run::Flush(deadline) => return self.flush(deadline),
                Run::Go => {}
            }
            let now = Instant::now();
            if now >= next {
                self.collect();
                next += self.settings.interval;
                if next <= now {
                    next = now + self.settings.interval;
                }
            }
            let until = match self.pending.front() {
                None => next,
                Some(b) if b.not_before > now => b.not_before.min(next),
                Some(_) => {
                    self.send_one(None);
                    continue;
                }
            };
            self.control.sleep_until(until);
        }
    }

    /// Collects the registry into a new batch at the back of the queue,
    /// dropping the oldest past the limit.
    fn collect(&mut self) {
        let mut chunks = self.spare.pop().unwrap_or_default();
        let prepared = self.rw.prepare(&self.registry, |chunk| {
            chunks.push_back(chunk);
            Ok(())
        });
        if let Err(e) = prepared {
            self.retire(chunks);
            let msg = e.to_string();
            self.control.stats(|s| s.last_error = Some(msg));
            return;
        }
        self.pending.push_back(Batch {
            chunks,
            attempts: 0,
            not_before: Instant::now(),
        });
        while self.pending.len() > self.settings.max_pending {
            let old = self.pending.pop_front().expect("over the limit");
            self.dropped(old.samples());
            self.retire(old.chunks);
        }
        self.note_pending();
    }

    /// Gives a batch's bodies and queue back for reuse.
    fn retire(&mut self, mut chunks: VecDeque<Chunk>) {
        for chunk in chunks.drain(..) {
            self.rw.recycle(chunk);
        }
        if self.spare.len() <= self.settings.max_pending {
            self.spare.push(chunks);
        }
    }

    fn dropped(&self, samples: u64) {
        self.control.stats(|s| s.samples_dropped += samples);
        if let Some(own) = &self.own {
            own.dropped.add(samples);
        }
    }

    fn note_pending(&self) {
        let n = self.pending.len();
        self.control.stats(|s| s.pending_batches = n);
        if let Some(own) = &self.own {
            own.pending.set(n as i64);
        }
    }

    /// Sends the first request of the first batch, within `budget` if
    /// given, and books the outcome.
    fn send_one(&mut self, budget: Option<Duration>) {
        let Some(batch) = self.pending.front_mut() else {
            return;
        };
        let Some(chunk) = batch.chunks.front() else {
            if let Some(done) = self.pending.pop_front() {
                self.retire(done.chunks);
            }
            return;
        };
        let samples = chunk.samples as u64;
        let started = Instant::now();
        let result = self.rw.post(chunk.body(), budget);
        if let Some(own) = &self.own {
            own.duration.observe(started.elapsed().as_secs_f64());
        }
        let error = result.as_ref().err().map(ToString::to_string);
        match outcome(&result) {
            Outcome::Sent => {
                if let Some(sent) = batch.chunks.pop_front() {
                    self.rw.recycle(sent);
                }
                batch.attempts = 0;
                let now = SystemTime::now();
                self.control.stats(|s| {
                    s.samples_sent += samples;
                    s.requests_sent += 1;
                    s.last_success = Some(now);
                });
                if let Some(own) = &self.own {
                    own.sent.add(samples);
                    own.last_success.set(
                        now.duration_since(UNIX_EPOCH)
                            .map_or(0.0, |d| d.as_secs_f64()),
                    );
                }
            }
            Outcome::Retry(asked) => {
                batch.attempts = batch.attempts.saturating_add(1);
                let wait = match asked {
                    Some(d) => d.min(MAX_RETRY_AFTER),
                    None => backoff(&self.settings, batch.attempts, &mut self.rng),
                };
                batch.not_before = Instant::now() + wait;
                self.control.stats(|s| {
                    s.samples_retried += samples;
                    s.last_error = error;
                });
                if let Some(own) = &self.own {
                    own.retried.add(samples);
                }
            }
            Outcome::Failed => {
                if let Some(refused) = batch.chunks.pop_front() {
                    self.rw.recycle(refused);
                }
                batch.attempts = 0;
                self.control.stats(|s| {
                    s.samples_failed += samples;
                    s.last_error = error;
                });
                if let Some(own) = &self.own {
                    own.failed.add(samples);
                }
            }
        }
        if self.pending.front().is_some_and(|b| b.chunks.is_empty()) {
            if let Some(done) = self.pending.pop_front() {
                self.retire(done.chunks);
            }
        }
        self.note_pending();
    }

    /// The shutdown: one more collection, then send until `deadline`.
    fn flush(&mut self, deadline: Instant) {
        self.collect();
        while let Some(batch) = self.pending.front() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if batch.not_before > now {
                if batch.not_before >= deadline {
                    break;
                }
                std::thread::sleep(batch.not_before - now);
                continue;
            }
            self.send_one(Some(deadline - now));
        }
        let left: u64 = self.pending.drain(..).map(|b| b.samples()).sum();
        if left > 0 {
            self.dropped(left);
        }
        self.note_pending();
    }
}

/// The wait before retry number `attempts` (from 1): `min_backoff`
/// doubled each time up to `max_backoff`, then a random point in its upper
/// half (jitter, so that writers that failed together do not retry
/// together).
fn backoff(settings: &WriterSettings, attempts: u32, rng: &mut u64) -> Duration {
    let doubled = settings
        .min_backoff
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let full = doubled.min(settings.max_backoff);
    // xorshift64: jitter needs no more.
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let half = full / 2;
    half + Duration::from_nanos(*rng % (half.as_nanos().max(1) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_ceiling_with_jitter_in_the_upper_half() {
        let s = WriterSettings {
            interval: Duration::from_secs(1),
            max_pending: 1,
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
        };
        let mut rng = 12345;
        for attempts in 1..40 {
            let full = (Duration::from_millis(30) * 2u32.pow((attempts - 1).min(20)))
                .min(Duration::from_secs(5));
            let d = backoff(&s, attempts, &mut rng);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempts}: {d:?} of {full:?}"
            );
        }
    }
}
