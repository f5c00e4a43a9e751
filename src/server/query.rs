//! The query string of a request (`?agent=kate&status=running`), decoded:
//! [`Query`].
#![forbid(unsafe_code)]

use std::fmt;

/// A decoded query string: `key=value` pairs in request order, split on
/// `&`, with `+` read as a space and `%XX` escapes decoded (the
/// `application/x-www-form-urlencoded` rules browsers and `curl
/// --data-urlencode` follow).
///
/// Repeated keys are kept ([`Query::get_all`]); a pair without `=` has an
/// empty value; empty pairs (`a=1&&b=2`) are skipped. A `%` not followed by
/// two hex digits, or a key or value that does not decode to UTF-8, is an
/// error ([`QueryError`]), answered 400 by the exporter.
///
/// # Examples
///
/// ```
/// use telemeter::server::Query;
/// let q = Query::parse("agent=kate&tool=web%20search&tool=shell&verbose")?;
/// assert_eq!(q.get("agent"), Some("kate"));
/// assert_eq!(q.get_all("tool").collect::<Vec<_>>(), ["web search", "shell"]);
/// assert_eq!(q.get("verbose"), Some(""));
/// assert_eq!(q.get("missing"), None);
/// assert!(Query::parse("agent=%zz").is_err());
/// # Ok::<(), telemeter::server::QueryError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Why a query string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// A `%` not followed by two hexadecimal digits.
    BadEscape {
        /// Byte offset of the `%` in the query string.
        at: usize,
    },
    /// A key or value whose decoded bytes are not UTF-8.
    NotUtf8 {
        /// Byte offset in the query string where that key or value starts.
        at: usize,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadEscape { at } => write!(
                f,
                "bad query string: the '%' at byte {at} is not followed by two hex digits \
                 (write a literal '%' as %25)"
            ),
            QueryError::NotUtf8 { at } => write!(
                f,
                "bad query string: the key or value at byte {at} does not decode to UTF-8 \
                 (percent-encode the UTF-8 bytes of the text)"
            ),
        }
    }
}

impl std::error::Error for QueryError {}

impl Query {
    /// Decodes `raw`, the part of a request target after `?` (without it).
    ///
    /// # Errors
    ///
    /// [`QueryError`] for a bad `%` escape or text that is not UTF-8.
    pub fn parse(raw: &str) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        let mut start = 0;
        for pair in raw.split('&') {
            let at = start;
            start += pair.len() + 1;
            if pair.is_empty() {
                continue;
            }
            let (key, value, value_at) = match pair.split_once('=') {
                Some((k, v)) => (k, v, at + k.len() + 1),
                None => (pair, "", at + pair.len()),
            };
            pairs.push((decode(key, at)?, decode(value, value_at)?));
        }
        Ok(Query { pairs })
    }

    /// The first value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in request order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the query has no pairs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The first key that is not in `known`, if any: for a page that
    /// answers an unknown parameter (a typo) with 400 rather than ignore it.
    #[must_use]
    pub fn unknown_key(&self, known: &[&str]) -> Option<&str> {
        self.pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !known.contains(k))
    }
}

/// Decodes one key or value that starts at byte `at` of the query string.
fn decode(s: &str, at: usize) -> Result<String, QueryError> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|&b| (b as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(QueryError::BadEscape { at: at + i });
                };
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8 { at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        Query::parse(raw).unwrap().pairs
    }

    #[test]
    fn pairs_keys_and_values() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(pairs(""), vec![]);
        assert_eq!(pairs("a=1&b=2"), vec![p("a", "1"), p("b", "2")]);
        assert_eq!(pairs("a=1&a=2"), vec![p("a", "1"), p("a", "2")]);
        assert_eq!(pairs("a=&b"), vec![p("a", ""), p("b", "")]);
        assert_eq!(pairs("&&a=1&"), vec![p("a", "1")]);
        assert_eq!(pairs("a=b=c"), vec![p("a", "b=c")]);
        assert_eq!(pairs("k%20ey=v+a%2Bl"), vec![p("k ey", "v a+l")]);
        assert_eq!(pairs("x=%E2%82%AC%25"), vec![p("x", "€%")]);
        assert_eq!(pairs("x=caf%c3%a9"), vec![p("x", "café")]);
    }

    #[test]
    fn bad_escapes_and_bad_utf8_are_errors_that_say_where() {
        assert_eq!(
            Query::parse("a=1&b=%zz"),
            Err(QueryError::BadEscape { at: 6 })
        );
        assert_eq!(Query::parse("a=%4"), Err(QueryError::BadEscape { at: 2 }));
        assert_eq!(Query::parse("%"), Err(QueryError::BadEscape { at: 0 }));
        assert_eq!(
            Query::parse("a=1&%ff=x"),
            Err(QueryError::NotUtf8 { at: 4 })
        );
        assert_eq!(Query::parse("a=%c3"), Err(QueryError::NotUtf8 { at: 2 }));
        // A multi-byte character after '%' is no hex digit, and no panic.
        assert_eq!(Query::parse("a=%é1"), Err(QueryError::BadEscape { at: 2 }));
        let msg = QueryError::BadEscape { at: 6 }.to_string();
        assert!(msg.contains("byte 6") && msg.contains("%25"), "{msg}");
    }

    #[test]
    fn lookups() {
        let q = Query::parse("agent=kate&status=running&agent=ops").unwrap();
        assert_eq!(q.get("agent"), Some("kate"));
        assert_eq!(q.get_all("agent").collect::<Vec<_>>(), ["kate", "ops"]);
        assert_eq!(q.unknown_key(&["agent", "status"]), None);
        assert_eq!(q.unknown_key(&["agent"]), Some("status"));
        assert!(!q.is_empty() && Query::default().is_empty());
        assert_eq!(q.iter().count(), 3);
    }
}
