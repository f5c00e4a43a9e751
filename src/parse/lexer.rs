//! Tokenising: the byte scanner, names, numbers and escapes.

#![forbid(unsafe_code)]

use super::error::ParseErrorKind;

// Every index goes through `get`, so no input can make these panic; every
// position they return is either the line's length or the index of an ASCII
// byte, so slicing a `&str` there is on a char boundary.

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// First index at or after `i` that is not a space or tab.
pub(super) fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_blank(c)) {
        i += 1;
    }
    i
}

/// First index at or after `i` that holds a byte in `stops`, or the end.
pub(super) fn scan_until(b: &[u8], mut i: usize, stops: &[u8]) -> usize {
    while b.get(i).is_some_and(|c| !stops.contains(c)) {
        i += 1;
    }
    i
}

/// End of a metric name starting at `i` (equal to `i` if none starts there).
pub(super) fn metric_name_end(b: &[u8], i: usize) -> usize {
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
pub(super) fn label_name_end(b: &[u8], i: usize) -> usize {
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
pub(super) fn slice(line: &str, from: usize, to: usize) -> String {
    line.get(from..to).unwrap_or_default().to_owned()
}

/// The character starting at byte `i` of `line` (`'\u{fffd}'` if none).
pub(super) fn char_at(line: &str, i: usize) -> char {
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
    let (negative, unsigned) = match token.as_bytes().first() {
        Some(b'+') => (false, token.get(1..).unwrap_or_default()),
        Some(b'-') => (true, token.get(1..).unwrap_or_default()),
        _ => (false, token),
    };
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
    let b = unsigned.as_bytes();
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
        return Err(FloatError::Syntax);
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
            return Err(FloatError::Syntax);
        }
    }
    if i != b.len() {
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

/// Resolves the escapes of HELP text: `\\` and `\n` only.
pub(super) fn unescape_help(text: &str) -> Result<String, ParseErrorKind> {
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
pub(super) fn label_value(
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
