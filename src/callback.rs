//! Scrape-time callback families: a closure emits samples into a
//! [`CallbackSink`] while the collector walks the registry.
//!
//! Each callback runs on a thread of its own (started at its first scrape,
//! parked between scrapes). A scrape starts every callback's call first, so
//! they run at once and beside the encode, then takes each one's samples
//! in registration order, waiting only until the scrape's deadline: a
//! callback that blocks (a lock held elsewhere, a slow system call) costs
//! that scrape its samples, counted, never the rest of the body or another
//! callback's samples, and a scrape while it is still running skips it at
//! once, so a stuck callback holds one thread, never more. Each callback
//! keeps its samples buffer, so a steady-state scrape still allocates
//! nothing. Loom builds call callbacks inline.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
#[cfg(not(telemeter_loom))]
use std::sync::Arc;
use std::time::Instant;

use crate::encode::layout::{render_prefix, Variant};
use crate::encode::Kind;

pub(crate) type CallbackFn = dyn Fn(&mut CallbackSink<'_>) + Send + Sync;

/// A family whose samples a closure produces at scrape time.
pub(crate) struct CallbackFamily {
    pub(crate) name: String,
    pub(crate) variants: Box<[Variant]>,
    pub(crate) kind: Kind,
    #[cfg(not(telemeter_loom))]
    call: Arc<Call>,
    #[cfg(telemeter_loom)]
    call: Call,
}

/// The callback and what its thread shares with scrapes.
struct Call {
    f: Box<CallbackFn>,
    label_names: Box<[String]>,
    /// The registry's constant labels, rendered (empty for none).
    const_text: Box<str>,
    counter: bool,
    #[cfg(not(telemeter_loom))]
    state: crate::sync::StdMutex<CallState>,
    #[cfg(not(telemeter_loom))]
    cv: crate::sync::StdCondvar,
}

/// Calls asked and done, the buffer, and the thread (see the module docs).
#[cfg(not(telemeter_loom))]
#[derive(Default)]
struct CallState {
    asked: u64,
    done: u64,
    samples: Samples,
    /// The call whose samples `samples` holds (0: none, the thread has it).
    filled: u64,
    rejected: u64,
    thread: CallThread,
    closed: bool,
}

#[cfg(not(telemeter_loom))]
#[derive(Default, PartialEq)]
enum CallThread {
    #[default]
    NotStarted,
    Running,
    /// It could not be started: calls run inline.
    Failed,
}

/// A scrape's claim on a callback's call ([`CallbackFamily::ask`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Under loom every call runs inline (`ask` below): `Call` and `Skip` are
// never made there.
#[cfg_attr(telemeter_loom, allow(dead_code))]
pub(crate) enum Ticket {
    /// Call number `n` was started on the callback's thread.
    Call(u64),
    /// Call it in [`CallbackFamily::finish`] (no thread).
    Inline,
    /// The last call is still running: no samples this scrape.
    Skip,
}

/// How a callback did in one scrape.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Ran {
    /// Samples rejected, plus one for a panic.
    pub(crate) rejected: u64,
    /// It had not returned by the deadline (or was still running from an
    /// earlier scrape): no samples this time.
    pub(crate) timed_out: bool,
}

impl fmt::Debug for CallbackFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackFamily")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CallbackFamily {
    pub(crate) fn new(
        name: &str,
        label_names: &[String],
        const_text: &str,
        variants: Box<[Variant]>,
        kind: Kind,
        f: Box<CallbackFn>,
    ) -> Self {
        let call = Call {
            f,
            label_names: label_names.into(),
            const_text: const_text.into(),
            counter: kind == Kind::Counter,
            #[cfg(not(telemeter_loom))]
            state: crate::sync::StdMutex::new(CallState::default()),
            #[cfg(not(telemeter_loom))]
            cv: crate::sync::StdCondvar::new(),
        };
        CallbackFamily {
            name: name.to_string(),
            variants,
            kind,
            #[cfg(not(telemeter_loom))]
            call: Arc::new(call),
            #[cfg(telemeter_loom)]
            call,
        }
    }

    /// Starts this scrape's call on the callback's thread, unless the last
    /// one is still running (see the module docs). Every callback of a
    /// scrape is asked first, so they run at once, beside the encode.
    /// The ticket to hand to [`CallbackFamily::finish`]: `None` when the
    /// scrape skips the callback.
    #[cfg(not(telemeter_loom))]
    pub(crate) fn ask(&self) -> Ticket {
        let call = &self.call;
        let mut st = call.lock();
        if st.asked != st.done {
            // Still running from an earlier scrape: at most one call.
            return Ticket::Skip;
        }
        if st.thread == CallThread::NotStarted {
            let worker = Arc::clone(call);
            st.thread = match std::thread::Builder::new()
                .name("telemeter-callback".into())
                .spawn(move || worker.serve())
            {
                Ok(_) => CallThread::Running,
                Err(_) => CallThread::Failed,
            };
        }
        if st.thread == CallThread::Failed {
            // No thread: the call runs inline in `finish`.
            return Ticket::Inline;
        }
        st.asked += 1;
        call.cv.notify_all();
        Ticket::Call(st.asked)
    }

    /// Loom builds call inline, in `finish`.
    #[cfg(telemeter_loom)]
    pub(crate) fn ask(&self) -> Ticket {
        Ticket::Inline
    }

    /// Waits for the call [`CallbackFamily::ask`] started until `deadline`,
    /// then hands its samples to `emit` (none if it did not return in
    /// time: `emit` still runs, so the family's HELP and TYPE are written).
    /// `scratch` is the buffer of a call made inline.
    #[cfg(not(telemeter_loom))]
    pub(crate) fn finish(
        &self,
        ticket: Ticket,
        scratch: &mut Samples,
        deadline: Instant,
        emit: impl FnOnce(&Samples),
    ) -> Ran {
        let call = &self.call;
        let wanted = match ticket {
            Ticket::Inline => {
                let rejected = call.inline(scratch);
                emit(scratch);
                return Ran {
                    rejected,
                    timed_out: false,
                };
            }
            Ticket::Skip => None,
            Ticket::Call(n) => Some(n),
        };
        let mut st = call.lock();
        loop {
            // `done == n`: this call's samples, not yet replaced (the next
            // call waits for this scrape's ask, after `finish`).
            if wanted.is_some_and(|n| st.done == n && st.filled == n) {
                emit(&st.samples);
                return Ran {
                    rejected: st.rejected,
                    timed_out: false,
                };
            }
            let now = Instant::now();
            if wanted.is_none_or(|n| st.done > n || (st.done == n && st.filled != n))
                || now >= deadline
            {
                scratch.clear();
                emit(scratch);
                return Ran {
                    rejected: 0,
                    timed_out: true,
                };
            }
            st = match call.cv.wait_timeout(st, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Loom builds: calls the callback here, into `scratch`.
    #[cfg(telemeter_loom)]
    pub(crate) fn finish(
        &self,
        _ticket: Ticket,
        scratch: &mut Samples,
        _deadline: Instant,
        emit: impl FnOnce(&Samples),
    ) -> Ran {
        let rejected = self.call.inline(scratch);
        emit(scratch);
        Ran {
            rejected,
            timed_out: false,
        }
    }
}

#[cfg(not(telemeter_loom))]
impl Drop for CallbackFamily {
    fn drop(&mut self) {
        // The thread ends when it is next idle (or never, if the callback
        // never returns: it holds only that thread).
        self.call.lock().closed = true;
        self.call.cv.notify_all();
    }
}

impl Call {
    #[cfg(not(telemeter_loom))]
    fn lock(&self) -> std::sync::MutexGuard<'_, CallState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The callback's thread: one call per scrape that asks.
    #[cfg(not(telemeter_loom))]
    fn serve(&self) {
        let mut st = self.lock();
        loop {
            while st.asked == st.done && !st.closed {
                st = match self.cv.wait(st) {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
            }
            if st.closed {
                return;
            }
            let mut samples = std::mem::take(&mut st.samples);
            st.filled = 0;
            drop(st);
            let rejected = self.inline(&mut samples);
            st = self.lock();
            st.samples = samples;
            st.rejected = rejected;
            st.done = st.asked;
            st.filled = st.asked;
            self.cv.notify_all();
        }
    }

    /// Runs the callback here into `samples` (cleared first): the label
    /// text and value of each sample it accepted, none if it panicked.
    /// Returns the samples rejected plus one for a panic.
    fn inline(&self, samples: &mut Samples) -> u64 {
        samples.clear();
        let mut sink = CallbackSink {
            label_names: &self.label_names,
            const_text: &self.const_text,
            samples,
            counter: self.counter,
            rejected: 0,
        };
        let ok = crate::catch::catch(|| (self.f)(&mut sink)).is_some();
        let rejected = sink.rejected;
        if ok {
            rejected
        } else {
            // Drop the family's samples for this scrape; its HELP/TYPE
            // stay, so the body stays complete and valid.
            samples.clear();
            rejected + 1
        }
    }
}

/// Receives a callback family's samples during a scrape.
///
/// A sample with the wrong number of label values, a label set already
/// emitted in this scrape (a duplicate would make the whole body invalid),
/// or a counter value that is negative or NaN (a counter never goes below
/// zero) is dropped and counted in `telemeter_scrape_callback_errors_total`.
pub struct CallbackSink<'a> {
    label_names: &'a [String],
    const_text: &'a str,
    samples: &'a mut Samples,
    /// A counter family's sink: only values `>= 0` are samples.
    counter: bool,
    rejected: u64,
}

impl fmt::Debug for CallbackSink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSink")
            .field("samples", &self.samples.values.len())
            .finish_non_exhaustive()
    }
}

impl CallbackSink<'_> {
    /// Emits one sample: `values` in the order of the family's label names.
    pub fn sample(&mut self, values: &[&str], value: f64) {
        if values.len() != self.label_names.len()
            || (self.counter && (value.is_nan() || value < 0.0))
            || !self
                .samples
                .push(self.label_names, self.const_text, values, value)
        {
            self.rejected += 1;
        }
    }

    /// Says that a sample could not be taken this scrape (a read that
    /// failed): nothing is emitted for it, and it is counted in
    /// `telemeter_scrape_callback_errors_total` like a rejected sample.
    ///
    /// ```
    /// let reg = telemeter::Registry::new();
    /// reg.gauge_callback(telemeter::Opts::new("queue_depth", "Depth."), |s| {
    ///     match std::fs::read_to_string("/nonexistent/depth") {
    ///         Ok(text) => s.sample(&[], text.trim().parse().unwrap_or(f64::NAN)),
    ///         Err(_) => s.unavailable(),
    ///     }
    /// })?;
    /// let body = reg.encode_to_string();
    /// assert!(body.contains("# TYPE queue_depth gauge\n"));
    /// assert!(!body.contains("\nqueue_depth "));
    /// assert!(body.contains("telemeter_scrape_callback_errors_total 1\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn unavailable(&mut self) {
        self.rejected += 1;
    }
}

/// A callback family's samples in one scrape: each one's rendered label
/// text and value. Reused from scrape to scrape, so that a steady-state
/// scrape allocates nothing.
#[derive(Default)]
pub(crate) struct Samples {
    /// Every sample's label text, one after another.
    text: String,
    /// Where each sample's label text ends in `text`.
    ends: Vec<usize>,
    values: Vec<f64>,
    /// Hashes of the label sets seen, to refuse a duplicate.
    seen: HashSet<u64>,
    hasher: foldhash::fast::FixedState,
}

impl Samples {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.values.clear();
        self.seen.clear();
    }

    /// Adds a sample unless its label set is already here.
    fn push(
        &mut self,
        label_names: &[String],
        const_text: &str,
        values: &[&str],
        value: f64,
    ) -> bool {
        let mut h = self.hasher.build_hasher();
        for v in values {
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        let start = self.text.len();
        if !label_names.is_empty() {
            render_prefix(&mut self.text, "", "", label_names, values, None);
            self.text.pop(); // the trailing space
        }
        if !const_text.is_empty() {
            // As `append_const_labels`, on the tail of the shared buffer.
            if self.text.len() > start {
                self.text.pop();
                self.text.push(',');
            } else {
                self.text.push('{');
            }
            self.text.push_str(const_text);
            self.text.push('}');
        }
        if !self.seen.insert(h.finish()) && self.is_duplicate(start) {
            self.text.truncate(start);
            return false;
        }
        self.ends.push(self.text.len());
        self.values.push(value);
        true
    }

    /// Whether the label text just rendered at `text[start..]` equals an
    /// earlier sample's (hash collisions are resolved by comparing text).
    fn is_duplicate(&self, start: usize) -> bool {
        let new = &self.text[start..];
        let mut prev = 0;
        self.ends.iter().any(|&end| {
            let old = &self.text[prev..end];
            prev = end;
            old == new
        })
    }

    /// Each sample's label text and value, in the order emitted.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut prev = 0;
        self.ends.iter().zip(&self.values).map(move |(&end, &v)| {
            let text = &self.text.as_bytes()[prev..end];
            prev = end;
            (text, v)
        })
    }

    /// How many samples.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}
