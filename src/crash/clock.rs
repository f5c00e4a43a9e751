//! UTC timestamps for bundle names and headers, from `SystemTime` alone.
#![forbid(unsafe_code)]

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC instant split into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

impl Utc {
    /// Seconds since the epoch (before it: the epoch).
    pub(crate) fn of(t: SystemTime) -> Utc {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Utc::from_unix(secs)
    }

    pub(crate) fn from_unix(secs: u64) -> Utc {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// `2026-12-07T09:31:05Z`.
    pub(crate) fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `20261207T093105Z`, for file names.
    pub(crate) fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_as_utc() {
        assert_eq!(Utc::from_unix(0).rfc3339(), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day) 12:34:56.
        assert_eq!(
            Utc::from_unix(951_827_696).rfc3339(),
            "2000-02-29T12:34:56Z"
        );
        assert_eq!(
            Utc::from_unix(1_796_635_865).rfc3339(),
            "2026-12-07T09:31:05Z"
        );
        assert_eq!(Utc::from_unix(1_796_635_865).compact(), "20261207T093105Z");
        assert_eq!(
            Utc::from_unix(4_102_444_799).rfc3339(),
            "2099-12-31T23:59:59Z"
        );
    }
}
