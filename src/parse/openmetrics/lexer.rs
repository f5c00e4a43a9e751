//! Tokenising one OpenMetrics line: a HELP, TYPE or UNIT line, or a sample
//! with its name, label set, value, timestamp and exemplar, down to the
//! byte scanner and the readers of numbers and escapes. Everything here
//! looks at one line only (the ABNF's rules); the rules that span lines are
//! the checker's.

#![forbid(unsafe_code)]

use super::super::error::{err, ParseError, ParseErrorKind};
use super::super::lexer::{
    char_at, is_blank, label_name, label_value, metric_name_end, scan_until, slice, split_sign,
    DUPLICATE_SCAN_LIMIT,
};
use super::model::{OmExemplar, OmSample, OmType};

/// The most characters an exemplar's label names and values may have
/// together.
pub(super) const EXEMPLAR_LABELS_MAX_CHARS: usize = 128;

/// One line of a body (not `# EOF`, which the entry point handles),
/// tokenised and checked on its own.
pub(super) enum Line<'a> {
    /// `# HELP name text`, the text's escapes resolved; `None` if empty.
    Help { name: &'a str, text: Option<String> },
    /// `# TYPE name type`.
    Type { name: &'a str, kind: OmType },
    /// `# UNIT name unit`; the unit may be empty.
    Unit { name: &'a str, unit: &'a str },
    /// A sample line.
    Sample(OmSample),
}

/// Tokenises line `n` (1-based) of a body, given without its `\n`.
pub(super) fn line(line: &str, n: usize) -> Result<Line<'_>, ParseError> {
    match line.as_bytes().first() {
        None => Err(err(n, ParseErrorKind::BlankLine)),
        Some(b'#') => metadata(line, n),
        Some(b' ' | b'\t') => Err(err(n, ParseErrorKind::LeadingWhitespace)),
        Some(_) => sample(line, n).map(Line::Sample),
    }
}

/// A `#` line other than `# EOF`: HELP, TYPE or UNIT.
fn metadata(line: &str, n: usize) -> Result<Line<'_>, ParseError> {
    let b = line.as_bytes();
    let invalid = || {
        if line.contains('\r') {
            err(n, ParseErrorKind::CarriageReturn)
        } else {
            err(
                n,
                ParseErrorKind::InvalidComment {
                    found: line.to_owned(),
                },
            )
        }
    };
    if b.get(1) != Some(&b' ') {
        return Err(invalid());
    }
    let kw_end = scan_until(b, 2, b" ");
    let keyword = match line.get(2..kw_end) {
        Some("HELP") => "HELP",
        Some("TYPE") => "TYPE",
        Some("UNIT") => "UNIT",
        _ => return Err(invalid()),
    };
    let name_start = kw_end + 1;
    match b.get(name_start) {
        None => return Err(err(n, ParseErrorKind::MissingMetadataName { keyword })),
        Some(b' ' | b'\t') => return Err(err(n, ParseErrorKind::SeparatorNotSingleSpace)),
        Some(_) => {}
    }
    let name_end = metric_name_end(b, name_start);
    match b.get(name_end) {
        Some(b' ') | None if name_end > name_start => {}
        Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
        Some(b'\t') if name_end > name_start => {
            return Err(err(n, ParseErrorKind::SeparatorNotSingleSpace))
        }
        _ => {
            let end = scan_until(b, name_start, b" ");
            return Err(invalid_name(line, name_start, end, n));
        }
    }
    let name = line.get(name_start..name_end).unwrap_or_default();
    if name_end >= b.len() {
        return Err(err(
            n,
            ParseErrorKind::MissingMetadataValue {
                keyword,
                family: name.to_owned(),
            },
        ));
    }
    let value = line.get(name_end + 1..).unwrap_or_default();
    match keyword {
        "HELP" => {
            let text = unescape_help(value).map_err(|kind| err(n, kind))?;
            Ok(Line::Help {
                name,
                text: (!text.is_empty()).then_some(text),
            })
        }
        "TYPE" => match OmType::from_token(value) {
            Some(kind) => Ok(Line::Type { name, kind }),
            None if value.contains('\r') => Err(err(n, ParseErrorKind::CarriageReturn)),
            None => Err(err(
                n,
                ParseErrorKind::OmUnknownType {
                    family: name.to_owned(),
                    found: value.to_owned(),
                },
            )),
        },
        _ => {
            if value.bytes().all(is_metric_name_byte) {
                Ok(Line::Unit { name, unit: value })
            } else if value.contains('\r') {
                Err(err(n, ParseErrorKind::CarriageReturn))
            } else {
                Err(err(
                    n,
                    ParseErrorKind::InvalidUnit {
                        family: name.to_owned(),
                        found: value.to_owned(),
                    },
                ))
            }
        }
    }
}

/// A sample line: `name[{labels}] value [timestamp] [exemplar]`, fields
/// separated by exactly one space.
fn sample(line: &str, n: usize) -> Result<OmSample, ParseError> {
    let b = line.as_bytes();
    if n == 1 && line.starts_with('\u{feff}') {
        return Err(err(n, ParseErrorKind::ByteOrderMark));
    }
    let name_end = metric_name_end(b, 0);
    match b.get(name_end) {
        _ if name_end == 0 => {
            let end = scan_until(b, 0, b" {");
            return Err(invalid_name(line, 0, end, n));
        }
        None | Some(b' ' | b'{') => {}
        Some(b'\t') => return Err(err(n, ParseErrorKind::SeparatorNotSingleSpace)),
        Some(_) => {
            let end = scan_until(b, 0, b" {");
            return Err(invalid_name(line, 0, end, n));
        }
    }
    let name = line.get(..name_end).unwrap_or_default();
    let mut i = name_end;

    let mut labels = Vec::new();
    if b.get(i) == Some(&b'{') {
        i = label_set(line, i + 1, n, &mut labels)?;
        match b.get(i) {
            Some(b' ') | None => {}
            Some(b'\t') => return Err(err(n, ParseErrorKind::SeparatorNotSingleSpace)),
            Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
            Some(_) => return Err(err(n, ParseErrorKind::MissingSeparator)),
        }
    }

    // The value.
    if i >= b.len() {
        return Err(err(n, ParseErrorKind::MissingValue));
    }
    i += 1;
    if b.get(i).is_none_or(|&c| is_blank(c)) {
        return Err(if rest_is_blank(b, i) {
            err(n, ParseErrorKind::MissingValue)
        } else {
            err(n, ParseErrorKind::SeparatorNotSingleSpace)
        });
    }
    let value_end = scan_until(b, i, b" \t");
    let token = line.get(i..value_end).unwrap_or_default();
    let value = parse_number(token).map_err(|e| {
        let found = token.to_owned();
        match e {
            _ if token.contains('\r') => err(n, ParseErrorKind::CarriageReturn),
            NumberError::Syntax => err(n, ParseErrorKind::InvalidValue { found }),
            NumberError::Range => err(n, ParseErrorKind::ValueOutOfRange { found }),
        }
    })?;
    i = value_end;

    // The timestamp and the exemplar, each after one space.
    let mut timestamp = None;
    let mut exemplar = None;
    if i < b.len() {
        i = next_field(b, i, n)?;
        if b.get(i) == Some(&b'#') {
            exemplar = Some(parse_exemplar(line, i, n)?);
        } else {
            let ts_end = scan_until(b, i, b" \t");
            let token = line.get(i..ts_end).unwrap_or_default();
            timestamp = Some(parse_timestamp(token, n)?);
            i = ts_end;
            if i < b.len() {
                i = next_field(b, i, n)?;
                if b.get(i) == Some(&b'#') {
                    exemplar = Some(parse_exemplar(line, i, n)?);
                } else {
                    let found = slice(line, i, b.len());
                    if found.contains('\r') {
                        return Err(err(n, ParseErrorKind::CarriageReturn));
                    }
                    return Err(err(n, ParseErrorKind::TrailingContent { found }));
                }
            }
        }
    }

    Ok(OmSample {
        name: name.to_owned(),
        labels,
        value,
        timestamp,
        exemplar,
    })
}

/// Steps over the single space at `i` (which ends a field) and returns
/// where the next field starts; refuses tabs, runs of blanks and trailing
/// blanks.
fn next_field(b: &[u8], i: usize, n: usize) -> Result<usize, ParseError> {
    match b.get(i) {
        Some(b' ') => {}
        Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
        _ if rest_is_blank(b, i) => return Err(err(n, ParseErrorKind::TrailingWhitespace)),
        _ => return Err(err(n, ParseErrorKind::SeparatorNotSingleSpace)),
    }
    let next = i + 1;
    match b.get(next) {
        None => Err(err(n, ParseErrorKind::TrailingWhitespace)),
        Some(b' ' | b'\t') if rest_is_blank(b, next) => {
            Err(err(n, ParseErrorKind::TrailingWhitespace))
        }
        Some(b' ' | b'\t') => Err(err(n, ParseErrorKind::SeparatorNotSingleSpace)),
        Some(_) => Ok(next),
    }
}

/// An exemplar starting at the `#` at byte `start`:
/// `# {labels} value [timestamp]`, up to the end of the line.
fn parse_exemplar(line: &str, start: usize, n: usize) -> Result<OmExemplar, ParseError> {
    let b = line.as_bytes();
    let malformed = || {
        let found = slice(line, start, b.len());
        if found.contains('\r') {
            err(n, ParseErrorKind::CarriageReturn)
        } else {
            err(n, ParseErrorKind::InvalidExemplar { found })
        }
    };
    if b.get(start + 1) != Some(&b' ') || b.get(start + 2) != Some(&b'{') {
        return Err(malformed());
    }
    let mut labels = Vec::new();
    let mut i = label_set(line, start + 3, n, &mut labels)?;
    // `{...}` must be followed by a blank and the value: `{...}1` and a
    // bare `{...}` are malformed, not badly separated.
    if !b.get(i).is_some_and(|&c| is_blank(c)) || rest_is_blank(b, i) {
        return Err(malformed());
    }
    i = next_field(b, i, n)?;
    let value_end = scan_until(b, i, b" \t");
    let token = line.get(i..value_end).unwrap_or_default();
    let value = parse_number(token).map_err(|_| {
        if token.contains('\r') {
            err(n, ParseErrorKind::CarriageReturn)
        } else {
            err(
                n,
                ParseErrorKind::InvalidExemplarValue {
                    found: token.to_owned(),
                },
            )
        }
    })?;
    i = value_end;
    let mut timestamp = None;
    if i < b.len() {
        i = next_field(b, i, n)?;
        let ts_end = scan_until(b, i, b" \t");
        let token = line.get(i..ts_end).unwrap_or_default();
        timestamp = Some(parse_timestamp(token, n)?);
        if ts_end < b.len() {
            let extra = next_field(b, ts_end, n)?;
            let found = slice(line, extra, b.len());
            if found.contains('\r') {
                return Err(err(n, ParseErrorKind::CarriageReturn));
            }
            return Err(err(n, ParseErrorKind::TrailingContent { found }));
        }
    }
    let length: usize = labels
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum();
    if length > EXEMPLAR_LABELS_MAX_CHARS {
        return Err(err(n, ParseErrorKind::ExemplarLabelsTooLong { length }));
    }
    Ok(OmExemplar {
        labels,
        value,
        timestamp,
    })
}

/// A timestamp token: a finite real number, no `Inf` or `NaN`.
fn parse_timestamp(token: &str, n: usize) -> Result<f64, ParseError> {
    parse_real(token).map_err(|_| {
        if token.contains('\r') {
            err(n, ParseErrorKind::CarriageReturn)
        } else {
            err(
                n,
                ParseErrorKind::OmInvalidTimestamp {
                    found: token.to_owned(),
                },
            )
        }
    })
}

/// Parses a label set from just after `{` up to and including `}`,
/// returning the index after `}`. No blanks anywhere, one comma between
/// labels and none after the last.
fn label_set(
    line: &str,
    mut i: usize,
    n: usize,
    labels: &mut Vec<(String, String)>,
) -> Result<usize, ParseError> {
    let b = line.as_bytes();
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        match b.get(i) {
            None => return Err(err(n, ParseErrorKind::UnterminatedLabelSet)),
            Some(b' ' | b'\t') => return Err(err(n, ParseErrorKind::BlankInLabelSet)),
            Some(b',' | b'}') => return Err(err(n, ParseErrorKind::EmptyLabel)),
            Some(_) => {}
        }
        let (label, name_end) = label_name(line, i, n, labels)?;
        match b.get(name_end) {
            Some(b'=') => {}
            Some(b' ' | b'\t') => return Err(err(n, ParseErrorKind::BlankInLabelSet)),
            None => return Err(err(n, ParseErrorKind::UnterminatedLabelSet)),
            Some(_) => {
                return Err(err(
                    n,
                    ParseErrorKind::ExpectedEquals {
                        label: label.to_owned(),
                    },
                ))
            }
        }
        i = name_end + 1;
        match b.get(i) {
            Some(b'"') => {}
            Some(b' ' | b'\t') => return Err(err(n, ParseErrorKind::BlankInLabelSet)),
            _ => {
                return Err(err(
                    n,
                    ParseErrorKind::ExpectedQuote {
                        label: label.to_owned(),
                    },
                ))
            }
        }
        let (value, after) = label_value(line, i + 1, label).map_err(|kind| err(n, kind))?;
        labels.push((label.to_owned(), value));
        i = after;
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => break,
            Some(b' ' | b'\t') => return Err(err(n, ParseErrorKind::BlankInLabelSet)),
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
    if labels.len() > DUPLICATE_SCAN_LIMIT {
        let mut names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair.first() == pair.get(1)) {
            let name = pair.first().copied().unwrap_or_default().to_owned();
            return Err(err(n, ParseErrorKind::DuplicateLabelName { name }));
        }
    }
    Ok(i + 1)
}

/// Resolves the escapes of OpenMetrics HELP text: `\\`, `\"` and `\n`;
/// any other escape, a lone trailing backslash and an unescaped `"` are
/// refused.
pub(super) fn unescape_help(text: &str) -> Result<String, ParseErrorKind> {
    if !text.contains(['\\', '"']) {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Err(ParseErrorKind::UnescapedQuoteInHelp),
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('n') => out.push('\n'),
                Some(other) => return Err(ParseErrorKind::OmInvalidHelpEscape { found: other }),
                None => return Err(ParseErrorKind::TrailingBackslash),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Why a number token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumberError {
    /// Not in the ABNF's `number` (or `realnumber`) syntax.
    Syntax,
    /// A finite literal too large for an `f64`.
    Range,
}

/// Parses the ABNF's `number`: a `realnumber`, or `inf`/`infinity` with an
/// optional sign, or `nan`, case-insensitively.
pub(super) fn parse_number(token: &str) -> Result<f64, NumberError> {
    let (negative, unsigned) = split_sign(token);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Ok(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if token.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    parse_real(token)
}

/// Parses the ABNF's `realnumber`: an optional sign, digits with an
/// optional decimal point (at least one digit in all), and an optional
/// exponent (`e` or `E`, an optional sign, digits). No hex, no
/// underscores, no infinities; a finite literal too large for an `f64` is
/// a range error.
pub(super) fn parse_real(token: &str) -> Result<f64, NumberError> {
    let (_, unsigned) = split_sign(token);
    if !crate::parse::lexer::is_decimal(unsigned.as_bytes()) {
        return Err(NumberError::Syntax);
    }
    // The grammar checked above is a subset of what Rust's float parser
    // accepts, and it rounds correctly.
    let value: f64 = token.parse().map_err(|_| NumberError::Syntax)?;
    if value.is_infinite() {
        return Err(NumberError::Range);
    }
    Ok(value)
}

// The byte scanner. Every index goes through `get`, so no input can make
// these helpers panic; every position they return is either the line's
// length or the index of an ASCII byte, so slicing a `&str` there is on a
// char boundary.

/// Whether everything from `i` on is spaces and tabs (or nothing).
fn rest_is_blank(b: &[u8], i: usize) -> bool {
    b.get(i..).unwrap_or_default().iter().all(|&c| is_blank(c))
}

fn is_metric_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// The error for a bad metric name in `line[from..to]`.
fn invalid_name(line: &str, from: usize, to: usize, n: usize) -> ParseError {
    let found = slice(line, from, to);
    if found.contains('\r') {
        err(n, ParseErrorKind::CarriageReturn)
    } else {
        err(n, ParseErrorKind::InvalidMetricName { found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_syntax() {
        let ok = |s: &str| parse_number(s).ok();
        assert_eq!(ok("1"), Some(1.0));
        assert_eq!(ok("0042"), Some(42.0));
        assert_eq!(ok("-1.5e3"), Some(-1500.0));
        assert_eq!(ok("+.5"), Some(0.5));
        assert_eq!(ok("5."), Some(5.0));
        assert_eq!(ok("1E-2"), Some(0.01));
        assert_eq!(ok("+Inf"), Some(f64::INFINITY));
        assert_eq!(ok("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(ok("Infinity"), Some(f64::INFINITY));
        assert_eq!(ok("-INFINITY"), Some(f64::NEG_INFINITY));
        assert_eq!(ok("1e-400"), Some(0.0));
        assert!(ok("NaN").is_some_and(f64::is_nan));
        assert!(ok("nan").is_some_and(f64::is_nan));
        for bad in [
            "", "+", "-", ".", "e5", "1e", "1e+", "0x1p3", "0x10", "0b1", "0o1", "1_000", "+NaN",
            "-nan", "infin", "1.2.3", " 1", "1 ", "١", "1\r", "++1", "1e5.0",
        ] {
            assert_eq!(parse_number(bad), Err(NumberError::Syntax), "{bad:?}");
        }
        assert_eq!(parse_number("1e400"), Err(NumberError::Range));
        assert_eq!(parse_number("-1e400"), Err(NumberError::Range));
    }

    #[test]
    fn real_syntax_has_no_infinities() {
        assert_eq!(parse_real("1.5"), Ok(1.5));
        assert_eq!(parse_real("-3"), Ok(-3.0));
        for bad in ["Inf", "+Inf", "-Inf", "NaN", "infinity"] {
            assert_eq!(parse_real(bad), Err(NumberError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn help_unescape() {
        assert_eq!(unescape_help(r#"a\\b\nc\"d"#).unwrap(), "a\\b\nc\"d");
        assert_eq!(unescape_help("plain \r\0 text").unwrap(), "plain \r\0 text");
        assert_eq!(
            unescape_help(r"a\tb"),
            Err(ParseErrorKind::OmInvalidHelpEscape { found: 't' })
        );
        assert_eq!(
            unescape_help(r"\é"),
            Err(ParseErrorKind::OmInvalidHelpEscape { found: 'é' })
        );
        assert_eq!(unescape_help("a\\"), Err(ParseErrorKind::TrailingBackslash));
        assert_eq!(
            unescape_help("say \"hi\""),
            Err(ParseErrorKind::UnescapedQuoteInHelp)
        );
    }

    #[test]
    fn label_values_keep_hostile_bytes() {
        let line = "x{a=\"} # {\\\"\r\0é\"} 1";
        let mut labels = Vec::new();
        let end = label_set(line, 2, 1, &mut labels).unwrap();
        assert_eq!(line.get(end..), Some(" 1"));
        assert_eq!(labels, [("a".to_owned(), "} # {\"\r\0é".to_owned())]);
    }
}
