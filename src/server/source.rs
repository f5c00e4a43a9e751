//! What `/metrics` serves: the [`MetricsSource`] trait, its content type,
//! and the adapter that serves a core [`Registry`](crate::Registry).
#![forbid(unsafe_code)]

/// The Content-Type of `/metrics`: Prometheus text format 0.0.4. The
/// same constant as [`crate::CONTENT_TYPE`] (defined once, by the text
/// encoder), under the name the server's API has always had.
pub const CONTENT_TYPE_TEXT: &str = crate::CONTENT_TYPE;

/// What the metrics server serves. A core `Registry` is served through
/// [`ExporterBuilder::registry`](super::ExporterBuilder::registry), which
/// wraps it in an implementation of this.
///
/// Implementations are called on the exporter's encode thread, one encode at
/// a time; a panic is caught and served as `500`.
pub trait MetricsSource: Send + Sync + 'static {
    /// Append a complete Prometheus text 0.0.4 body to `buf`.
    fn encode(&self, buf: &mut Vec<u8>);
    /// Like [`MetricsSource::encode`], for a scraper that gives up at
    /// `deadline` (Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`, less
    /// a margin): a source with work it can leave out (a registry's
    /// scrape-time callbacks) stops waiting for it then. The default
    /// ignores the deadline.
    fn encode_until(&self, buf: &mut Vec<u8>, deadline: std::time::Instant) {
        let _ = deadline;
        self.encode(buf);
    }
    /// The formats this source writes: the exporter answers each scrape
    /// in the one of these its `Accept` header prefers
    /// ([`Format::negotiate`](crate::Format::negotiate)). The default is
    /// text 0.0.4 alone; a registry offers all three.
    fn formats(&self) -> &'static [crate::Format] {
        crate::Format::TEXT_ONLY
    }

    /// Appends a body in `format` (one of [`MetricsSource::formats`]) to
    /// `buf`, waiting for optional work until `deadline` where one is
    /// given, as [`MetricsSource::encode_until`]. An OpenMetrics body is
    /// left without its `# EOF`: the exporter writes its own families
    /// after the source's, and then `# EOF`. The default writes text
    /// 0.0.4 whatever `format` is (it is only asked for the formats it
    /// offers).
    fn encode_as(
        &self,
        buf: &mut Vec<u8>,
        format: crate::Format,
        deadline: Option<std::time::Instant>,
    ) {
        let _ = format;
        match deadline {
            Some(d) => self.encode_until(buf, d),
            None => self.encode(buf),
        }
    }

    /// JSON for /admin/metrics-summary.
    fn summary_json(&self) -> serde_json::Value;
}

/// Adapts a core registry to [`MetricsSource`].
pub(crate) struct RegistrySource(pub(crate) crate::Registry);

impl MetricsSource for RegistrySource {
    fn encode(&self, buf: &mut Vec<u8>) {
        self.0.encode(buf);
    }

    fn encode_until(&self, buf: &mut Vec<u8>, deadline: std::time::Instant) {
        self.0.encode_until(buf, deadline);
    }

    fn formats(&self) -> &'static [crate::Format] {
        crate::Format::ALL
    }

    fn encode_as(
        &self,
        buf: &mut Vec<u8>,
        format: crate::Format,
        deadline: Option<std::time::Instant>,
    ) {
        self.0.encode_body(buf, format, deadline, false);
    }

    fn summary_json(&self) -> serde_json::Value {
        self.0.summary().to_json()
    }
}
