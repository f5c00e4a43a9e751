//! What a registry holds, for the admin console and `telemeter status`:
//! plain data, filled by `Registry::summary`.
#![forbid(unsafe_code)]

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

#[cfg(feature = "exporter")]
impl RegistrySummary {
    /// The summary as JSON (the `/admin/metrics-summary` body). With the
    /// `exporter` feature, which brings `serde_json` for the admin console.
    #[cfg(feature = "exporter")]
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
