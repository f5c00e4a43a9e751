//! Tokenising one line: a HELP or TYPE comment, or a sample with its name,
//! label set, value and timestamp, down to the byte scanner and the readers
//! of floats and escapes. Everything here looks at one line only; the rules
//! that span lines are the parser's.

#![forbid(unsafe_code)]

use super::error::{err, ParseError, ParseErrorKind};
use super::exposition::{MetricType, Sample};

/// Up to this many labels, duplicates are found by a linear scan.
pub(crate) const DUPLICATE_SCAN_LIMIT: usize = 16;

/// One line of a body, tokenised. Everything that can be checked within the
/// line is checked here; what depends on the lines before it is left to the
/// parser.
pub(super) enum Line<'a> {
    /// A blank line, or a comment other than HELP and TYPE.
    Skip,
    /// `# HELP name text`, with the text's escapes resolved.
    Help { name: &'a str, text: String },
    /// `# TYPE name type`.
    Type { name: &'a str, kind: MetricType },
    /// A sample line.
    Sample(Sample),
}

/// Tokenises line `n` (1-based) of a body, given without its `\n`.
pub(super) fn line(line: &str, n: usize) -> Result<Line<'_>, ParseError> {
    let b = line.as_bytes();
    let start = skip_blanks(b, 0);
    match b.get(start) {
        None => Ok(Line::Skip),
        Some(b'#') => comment(line, start + 1, n),
        Some(_) => sample(line, start, n).map(Line::Sample),
    }
}

/// A `#` line: HELP, TYPE or an ignored comment. `pos` is just after `#`.
fn comment(line: &str, pos: usize, n: usize) -> Result<Line<'_>, ParseError> {
    let b = line.as_bytes();
    let kw_start = skip_blanks(b, pos);
    let kw_end = scan_until(b, kw_start, b" \t");
    let keyword = match line.get(kw_start..kw_end) {
        Some("HELP") => "HELP",
        Some("TYPE") => "TYPE",
        _ => {
            if b.contains(&b'\r') {
                return Err(err(n, ParseErrorKind::CarriageReturn));
            }
            return Ok(Line::Skip);
        }
    };
    let name_start = skip_blanks(b, kw_end);
    let name_end = metric_name_end(b, name_start);
    match b.get(name_end) {
        None | Some(b' ' | b'\t') if name_end > name_start => {}
        None => return Err(err(n, ParseErrorKind::MissingMetadataName { keyword })),
        Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
        Some(_) => {
            let end = scan_until(b, name_start, b" \t");
            let found = slice(line, name_start, end);
            if found.contains('\r') {
                return Err(err(n, ParseErrorKind::CarriageReturn));
            }
            return Err(err(n, ParseErrorKind::InvalidMetricName { found }));
        }
    }
    let name = line.get(name_start..name_end).unwrap_or_default();
    let text_start = skip_blanks(b, name_end);
    let text = line.get(text_start..).unwrap_or_default();
    if keyword == "HELP" {
        let text = unescape_help(text).map_err(|kind| err(n, kind))?;
        return Ok(Line::Help { name, text });
    }
    if text.contains('\r') {
        return Err(err(n, ParseErrorKind::CarriageReturn));
    }
    if text.is_empty() {
        return Err(err(
            n,
            ParseErrorKind::MissingType {
                family: name.to_owned(),
            },
        ));
    }
    let Some(kind) = MetricType::from_token(text) else {
        return Err(err(
            n,
            ParseErrorKind::UnknownType {
                family: name.to_owned(),
                found: text.to_owned(),
            },
        ));
    };
    Ok(Line::Type { name, kind })
}

/// A sample line starting at byte `start`.
fn sample(line: &str, start: usize, n: usize) -> Result<Sample, ParseError> {
    let b = line.as_bytes();
    let name_end = metric_name_end(b, start);
    let name_ok = name_end > start && matches!(b.get(name_end), None | Some(b' ' | b'\t' | b'{'));
    if !name_ok {
        let end = scan_until(b, start, b" \t{");
        let found = slice(line, start, end);
        if found.contains('\r') {
            return Err(err(n, ParseErrorKind::CarriageReturn));
        }
        return Err(err(n, ParseErrorKind::InvalidMetricName { found }));
    }
    let name = line.get(start..name_end).unwrap_or_default();
    let mut i = name_end;

    let mut labels: Vec<(String, String)> = Vec::new();
    if b.get(i) == Some(&b'{') {
        i = label_set(line, i + 1, n, &mut labels)?;
        if labels.len() > DUPLICATE_SCAN_LIMIT {
            let mut names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            if let Some(pair) = names.windows(2).find(|pair| pair.first() == pair.get(1)) {
                let name = pair.first().copied().unwrap_or_default().to_owned();
                return Err(err(n, ParseErrorKind::DuplicateLabelName { name }));
            }
        }
        match b.get(i) {
            Some(b' ' | b'\t') | None => {}
            Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
            Some(_) => return Err(err(n, ParseErrorKind::MissingSeparator)),
        }
    }

    i = skip_blanks(b, i);
    if i >= b.len() {
        return Err(err(n, ParseErrorKind::MissingValue));
    }
    let value_end = scan_until(b, i, b" \t");
    let token = line.get(i..value_end).unwrap_or_default();
    if token.contains('\r') {
        return Err(err(n, ParseErrorKind::CarriageReturn));
    }
    let value = match parse_go_float(token) {
        Ok(value) => value,
        Err(FloatError::Syntax) => {
            return Err(err(
                n,
                ParseErrorKind::InvalidValue {
                    found: token.to_owned(),
                },
            ))
        }
        Err(FloatError::Range) => {
            return Err(err(
                n,
                ParseErrorKind::ValueOutOfRange {
                    found: token.to_owned(),
                },
            ))
        }
    };

    let mut timestamp_ms = None;
    if value_end < b.len() {
        let ts_start = skip_blanks(b, value_end);
        if ts_start >= b.len() {
            return Err(err(n, ParseErrorKind::TrailingWhitespace));
        }
        let ts_end = scan_until(b, ts_start, b" \t");
        let token = line.get(ts_start..ts_end).unwrap_or_default();
        if token.contains('\r') {
            return Err(err(n, ParseErrorKind::CarriageReturn));
        }
        match token.parse::<i64>() {
            Ok(ts) => timestamp_ms = Some(ts),
            Err(_) => {
                return Err(err(
                    n,
                    ParseErrorKind::InvalidTimestamp {
                        found: token.to_owned(),
                    },
                ))
            }
        }
        if ts_end < b.len() {
            let extra_start = skip_blanks(b, ts_end);
            if extra_start >= b.len() {
                return Err(err(n, ParseErrorKind::TrailingWhitespace));
            }
            let found = slice(line, extra_start, b.len());
            if found.contains('\r') {
                return Err(err(n, ParseErrorKind::CarriageReturn));
            }
            return Err(err(n, ParseErrorKind::TrailingContent { found }));
        }
    }

    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses a label set from just after `{` up to and including `}`,
/// returning the index after `}`.
fn label_set(
    line: &str,
    mut i: usize,
    n: usize,
    labels: &mut Vec<(String, String)>,
) -> Result<usize, ParseError> {
    let b = line.as_bytes();
    loop {
        i = skip_blanks(b, i);
        match b.get(i) {
            None => return Err(err(n, ParseErrorKind::UnterminatedLabelSet)),
            Some(b'}') => return Ok(i + 1),
            _ => {}
        }
        let (label, name_end) = label_name(line, i, n, labels)?;
        i = skip_blanks(b, name_end);
        if b.get(i) != Some(&b'=') {
            return Err(err(
                n,
                ParseErrorKind::ExpectedEquals {
                    label: label.to_owned(),
                },
            ));
        }
        i = skip_blanks(b, i + 1);
        if b.get(i) != Some(&b'"') {
            return Err(err(
                n,
                ParseErrorKind::ExpectedQuote {
                    label: label.to_owned(),
                },
            ));
        }
        let (value, after) = label_value(line, i + 1, label).map_err(|kind| err(n, kind))?;
        labels.push((label.to_owned(), value));
        i = skip_blanks(b, after);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i + 1),
            None => return Err(err(n, ParseErrorKind::UnterminatedLabelSet)),
            Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
            Some(_) => {
                return Err(err(
                    n,
                    ParseErrorKind::ExpectedLabelSeparator {
                        found: char_at(line, i),
                    },
                ))
            }
        }
    }
}

// The byte scanner. Every index goes through `get`, so no input can make
// these helpers panic; every position they return is either the line's
// length or the index of an ASCII byte, so slicing a `&str` there is on a
// char boundary.

/// Reads the label name starting at `i` of `line` (line `n`), one of the
/// label set `labels` read so far; returns it and the index after it. A
/// name is a run of name bytes ended by a delimiter: `x-y` or `é` is a bad
/// name, `x}` a good name missing its `=`. Refused: a bad name, a reserved
/// one (`__`), and (for the usual few labels; a caller checks long sets
/// once read, in n log n) one already in `labels`. Shared with the
/// OpenMetrics lexer.
pub(crate) fn label_name<'l>(
    line: &'l str,
    i: usize,
    n: usize,
    labels: &[(String, String)],
) -> Result<(&'l str, usize), ParseError> {
    let b = line.as_bytes();
    let name_end = label_name_end(b, i);
    let delimited = matches!(
        b.get(name_end),
        None | Some(b' ' | b'\t' | b'=' | b',' | b'}' | b'"')
    );
    if name_end == i || !delimited {
        let end = scan_until(b, i, b" \t=,}\"");
        let found = slice(line, i, end);
        if found.contains('\r') {
            return Err(err(n, ParseErrorKind::CarriageReturn));
        }
        return Err(err(n, ParseErrorKind::InvalidLabelName { found }));
    }
    let label = line.get(i..name_end).unwrap_or_default();
    if label.starts_with("__") {
        return Err(err(
            n,
            ParseErrorKind::ReservedLabelName {
                name: label.to_owned(),
            },
        ));
    }
    if labels.len() <= DUPLICATE_SCAN_LIMIT && labels.iter().any(|(k, _)| k == label) {
        return Err(err(
            n,
            ParseErrorKind::DuplicateLabelName {
                name: label.to_owned(),
            },
        ));
    }
    Ok((label, name_end))
}

/// Splits an optional leading `+` or `-` off `token`: whether it was `-`,
/// and the rest.
pub(crate) fn split_sign(token: &str) -> (bool, &str) {
    match token.as_bytes().first() {
        Some(b'+') => (false, token.get(1..).unwrap_or_default()),
        Some(b'-') => (true, token.get(1..).unwrap_or_default()),
        _ => (false, token),
    }
}

pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// First index at or after `i` that is not a space or tab.
fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_blank(c)) {
        i += 1;
    }
    i
}

/// First index at or after `i` that holds a byte in `stops`, or the end.
pub(crate) fn scan_until(b: &[u8], mut i: usize, stops: &[u8]) -> usize {
    while b.get(i).is_some_and(|c| !stops.contains(c)) {
        i += 1;
    }
    i
}

/// End of a metric name starting at `i` (equal to `i` if none starts there).
pub(crate) fn metric_name_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return i,
    }
    let mut j = i + 1;
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
    {
        j += 1;
    }
    j
}

/// End of a label name starting at `i` (equal to `i` if none starts there).
pub(crate) fn label_name_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return i,
    }
    let mut j = i + 1;
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        j += 1;
    }
    j
}

/// `line[from..to]` as an owned string, never panicking.
pub(crate) fn slice(line: &str, from: usize, to: usize) -> String {
    line.get(from..to).unwrap_or_default().to_owned()
}

/// The character starting at byte `i` of `line` (`'\u{fffd}'` if none).
pub(crate) fn char_at(line: &str, i: usize) -> char {
    line.get(i..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('\u{fffd}')
}

/// Why a float token was refused.
pub(super) enum FloatError {
    Syntax,
    Range,
}

/// Parses a float with the syntax of Go's `strconv.ParseFloat` for base-10
/// input (what expfmt uses): optional sign, digits with an optional point,
/// optional exponent; `Inf`/`Infinity` with an optional sign and `NaN`,
/// case-insensitively. No hex floats, no underscores. A finite literal that
/// overflows is a range error, as in Go.
pub(super) fn parse_go_float(token: &str) -> Result<f64, FloatError> {
    let (negative, unsigned) = split_sign(token);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Ok(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if unsigned.eq_ignore_ascii_case("nan") {
        // Go accepts NaN only without a sign.
        return if unsigned.len() == token.len() {
            Ok(f64::NAN)
        } else {
            Err(FloatError::Syntax)
        };
    }
    if !is_decimal(unsigned.as_bytes()) {
        return Err(FloatError::Syntax);
    }
    // The grammar checked above is a subset of what Rust's parser accepts,
    // and Rust rounds correctly, as Go does.
    let value: f64 = token.parse().map_err(|_| FloatError::Syntax)?;
    if value.is_infinite() {
        return Err(FloatError::Range);
    }
    Ok(value)
}

/// Whether `b` is a decimal literal without sign: digits with an optional
/// fraction (at least one digit in all) and an optional exponent. Shared
/// with the OpenMetrics lexer, whose grammar has the same numbers.
pub(crate) fn is_decimal(b: &[u8]) -> bool {
    let mut i = 0;
    let mut digits = 0;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        digits += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exponent_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exponent_start {
            return false;
        }
    }
    i == b.len()
}

/// Resolves the escapes of HELP text: `\\` and `\n` only.
fn unescape_help(text: &str) -> Result<String, ParseErrorKind> {
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => return Err(ParseErrorKind::InvalidHelpEscape { found: other }),
            None => return Err(ParseErrorKind::TrailingBackslash),
        }
    }
    Ok(out)
}

/// Reads a label value from just after its opening `"`; returns the
/// unescaped value and the index after the closing `"`.
pub(crate) fn label_value(
    line: &str,
    start: usize,
    label: &str,
) -> Result<(String, usize), ParseErrorKind> {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut segment = start;
    let mut i = start;
    loop {
        match b.get(i) {
            None => {
                return Err(ParseErrorKind::UnterminatedLabelValue {
                    label: label.to_owned(),
                })
            }
            Some(b'"') => {
                out.push_str(line.get(segment..i).unwrap_or_default());
                return Ok((out, i + 1));
            }
            Some(b'\\') => {
                out.push_str(line.get(segment..i).unwrap_or_default());
                match b.get(i + 1) {
                    Some(b'\\') => out.push('\\'),
                    Some(b'"') => out.push('"'),
                    Some(b'n') => out.push('\n'),
                    None => {
                        return Err(ParseErrorKind::UnterminatedLabelValue {
                            label: label.to_owned(),
                        })
                    }
                    Some(_) => {
                        return Err(ParseErrorKind::InvalidLabelEscape {
                            label: label.to_owned(),
                            found: char_at(line, i + 1),
                        })
                    }
                }
                i += 2;
                segment = i;
            }
            Some(_) => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_syntax() {
        let ok = |s: &str| parse_go_float(s).ok();
        assert_eq!(ok("1"), Some(1.0));
        assert_eq!(ok("-1.5e3"), Some(-1500.0));
        assert_eq!(ok("+.5"), Some(0.5));
        assert_eq!(ok("5."), Some(5.0));
        assert_eq!(ok("1E-2"), Some(0.01));
        assert_eq!(ok("+Inf"), Some(f64::INFINITY));
        assert_eq!(ok("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(ok("Infinity"), Some(f64::INFINITY));
        assert_eq!(ok("1e-400"), Some(0.0));
        assert!(ok("NaN").is_some_and(f64::is_nan));
        assert!(ok("nan").is_some_and(f64::is_nan));
        for bad in [
            "", "+", "-", ".", "e5", "1e", "1e+", "0x1p3", "0x10", "1_000", "+NaN", "-nan",
            "infin", "1.2.3", " 1", "1 ", "١",
        ] {
            assert!(parse_go_float(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(matches!(parse_go_float("1e400"), Err(FloatError::Range)));
        assert!(matches!(parse_go_float("-1e400"), Err(FloatError::Range)));
    }

    #[test]
    fn help_unescape() {
        assert_eq!(unescape_help(r"a\\b\nc").unwrap(), "a\\b\nc");
        assert_eq!(
            unescape_help(r#"a\"b"#),
            Err(ParseErrorKind::InvalidHelpEscape { found: '"' })
        );
        assert_eq!(unescape_help("a\\"), Err(ParseErrorKind::TrailingBackslash));
    }
}
