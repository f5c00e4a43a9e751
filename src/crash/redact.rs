//! What a crash bundle masks before anything is written: text that matches
//! a pattern (e-mail addresses, tokens, keys, credentials in URLs, by
//! default), values of environment variables whose names say they are
//! secret, and label values of families marked sensitive (replaced by
//! their [`Fingerprint`]).
#![forbid(unsafe_code)]

use regex::Regex;

use crate::fingerprint::Fingerprint;

/// The default redaction patterns, applied in this order: (name, regular
/// expression, replacement). A replacement may keep capture groups
/// (`${key}`) and says what it masked (`[redacted:email]`).
pub const DEFAULT_PATTERNS: &[(&str, &str, &str)] = &[
    (
        "private-key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
        "[redacted:private-key]",
    ),
    (
        "url-credentials",
        r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@",
        "${scheme}[redacted:credentials]@",
    ),
    (
        "bearer",
        r"(?i)\b(?P<kind>bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}",
        "${kind} [redacted:token]",
    ),
    (
        "secret-assignment",
        r#"(?i)\b(?P<key>[a-z0-9_.-]*(?:token|secret|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|private[_-]?key|access[_-]?key|credential)[a-z0-9_.-]*)(?P<sep>\s*[=:]\s*)(?:"[^"]*"|'[^']*'|[^\s,;&"']+)"#,
        "${key}${sep}[redacted:secret]",
    ),
    (
        "token",
        r"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-[A-Za-z0-9_-]{16,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
        "[redacted:token]",
    ),
    (
        "email",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        "[redacted:email]",
    ),
];

/// Environment variable names whose values are always masked.
const SECRET_NAME: &str =
    r"(?i)(token|secret|passw|(^|_)pwd($|_)|key|auth|credential|cookie|session|private)";

/// One compiled pattern and what replaces its matches.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    regex: Regex,
    replacement: String,
}

impl Pattern {
    /// Compiles `regex`; the error names the pattern and what is wrong.
    pub(crate) fn new(regex: &str, replacement: &str) -> Result<Pattern, String> {
        let compiled = Regex::new(regex).map_err(|e| e.to_string())?;
        Ok(Pattern {
            regex: compiled,
            replacement: replacement.to_string(),
        })
    }
}

/// Everything a bundle is passed through before it is written.
#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    patterns: Vec<Pattern>,
    secret_name: Regex,
    /// Families whose label values are fingerprinted.
    sensitive: Vec<String>,
}

impl Redactor {
    pub(crate) fn new(patterns: Vec<Pattern>, sensitive: Vec<String>) -> Redactor {
        Redactor {
            patterns,
            secret_name: Regex::new(SECRET_NAME).expect("SECRET_NAME is a valid pattern (tested)"),
            sensitive,
        }
    }

    /// `text` with every pattern's matches replaced.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for p in &self.patterns {
            // One pass: `replace_all` borrows when nothing matches.
            if let std::borrow::Cow::Owned(replaced) =
                p.regex.replace_all(&out, p.replacement.as_str())
            {
                out = replaced;
            }
        }
        out
    }

    /// The environment, one `NAME=value` per line, sorted by name; values
    /// of secret-sounding names masked, the others passed through
    /// [`Redactor::text`].
    pub(crate) fn environment(&self, vars: impl Iterator<Item = (String, String)>) -> String {
        let mut vars: Vec<(String, String)> = vars.collect();
        vars.sort();
        let mut out = String::new();
        for (name, value) in vars {
            out.push_str(&name);
            out.push('=');
            if self.secret_name.is_match(&name) {
                out.push_str("[redacted:secret-name]");
            } else {
                out.push_str(&self.text(&value));
            }
            out.push('\n');
        }
        out
    }

    /// A text exposition with the label values of sensitive families'
    /// samples replaced by their fingerprints (`le` and `quantile` kept).
    pub(crate) fn exposition(&self, body: &str) -> String {
        if self.sensitive.is_empty() {
            return body.to_string();
        }
        let mut out = String::with_capacity(body.len());
        for line in body.split_inclusive('\n') {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            let sensitive = !line.starts_with('#')
                && line[name_end..].starts_with('{')
                && self.sensitive.iter().any(|f| is_of_family(name, f));
            if sensitive {
                out.push_str(name);
                out.push_str(&fingerprint_labels(&line[name_end..]));
            } else {
                out.push_str(line);
            }
        }
        out
    }
}

/// Whether sample `name` belongs to family `family`: the name itself or
/// one of its sample suffixes.
fn is_of_family(name: &str, family: &str) -> bool {
    match name.strip_prefix(family) {
        Some("") => true,
        Some(rest) => matches!(
            rest,
            "_total" | "_bucket" | "_sum" | "_count" | "_created" | "_info"
        ),
        None => false,
    }
}

/// `{a="v",...} rest` with each value but `le`'s and `quantile`'s replaced
/// by its fingerprint. Values are read with the exposition's escapes
/// (`\\`, `\"`, `\n`); text that does not parse is masked whole.
fn fingerprint_labels(rest: &str) -> String {
    let Some(close) = find_close(rest) else {
        return "{[redacted:unparsed-labels]}\n".to_string();
    };
    let inner = &rest[1..close];
    let mut out = String::from("{");
    let mut chars = inner.char_indices().peekable();
    let mut first = true;
    while let Some(&(start, _)) = chars.peek() {
        let mut eq = None;
        for (i, c) in chars.by_ref() {
            if c == '=' {
                eq = Some(i);
                break;
            }
        }
        let Some(eq) = eq else { break };
        let name = inner[start..eq].trim_start_matches(',').trim();
        // value: a quoted string with escapes
        if chars.next().map(|(_, c)| c) != Some('"') {
            return "{[redacted:unparsed-labels]}\n".to_string();
        }
        let mut value = String::new();
        let mut closed = false;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => {
                    closed = true;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return "{[redacted:unparsed-labels]}\n".to_string();
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        if name == "le" || name == "quantile" {
            out.push_str(
                &value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n"),
            );
        } else {
            out.push_str(Fingerprint::of(&value).as_str());
        }
        out.push('"');
        // skip a comma
        if let Some(&(_, ',')) = chars.peek() {
            chars.next();
        }
    }
    out.push('}');
    out.push_str(&rest[close + 1..]);
    out
}

/// The index of the `}` that closes the label set at the start of `rest`,
/// skipping quoted values.
fn find_close(rest: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => quoted = false,
            (false, _, '"') => quoted = true,
            (false, _, '}') => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<Pattern> {
        DEFAULT_PATTERNS
            .iter()
            .map(|(_, r, s)| Pattern::new(r, s).unwrap())
            .collect()
    }

    #[test]
    fn default_patterns_mask_emails_tokens_keys_and_url_credentials() {
        let r = Redactor::new(defaults(), vec![]);
        let cases = [
            (
                "mail alice.b+x@mail.example.com now",
                "mail [redacted:email] now",
            ),
            (
                "Authorization: Bearer abcdefgh12345678",
                "Authorization: Bearer [redacted:token]",
            ),
            (
                "gh ghp_0123456789abcdefghijABCDEFGHIJ",
                "gh [redacted:token]",
            ),
            (
                "key sk-live-0123456789abcdefXYZ end",
                "key [redacted:token] end",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws [redacted:token]"),
            ("api_key=hunter2 next", "api_key=[redacted:secret] next"),
            ("PASSWORD: \"p a s s\" x", "PASSWORD: [redacted:secret] x"),
            ("db_password='x y'", "db_password=[redacted:secret]"),
            (
                "https://bob:pw@db.internal:5432/x",
                "https://[redacted:credentials]@db.internal:5432/x",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
                "[redacted:private-key]",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
                "jwt [redacted:token]",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(r.text(text), want, "{text}");
        }
        // What is not secret stays.
        for keep in [
            "thread 'main' panicked at src/main.rs:10:5",
            "v0.1.0-12-gabcdef1",
            "0x55d0c0ffee12",
        ] {
            assert_eq!(r.text(keep), keep);
        }
    }

    #[test]
    fn environment_values_of_secret_names_are_masked_and_the_rest_filtered() {
        let r = Redactor::new(defaults(), vec![]);
        let env = r.environment(
            [
                ("OXG_API_TOKEN".to_string(), "plain-looking".to_string()),
                ("HOME".to_string(), "/root".to_string()),
                ("CONTACT".to_string(), "ops@example.org".to_string()),
                ("AWS_SECRET_ACCESS_KEY".to_string(), "x".to_string()),
                ("DB_PWD".to_string(), "x".to_string()),
                ("OLDPWD".to_string(), "/srv".to_string()),
                ("SSL_CERT_FILE".to_string(), "/etc/ssl/ca.pem".to_string()),
            ]
            .into_iter(),
        );
        assert_eq!(
            env,
            "AWS_SECRET_ACCESS_KEY=[redacted:secret-name]\nCONTACT=[redacted:email]\n\
             DB_PWD=[redacted:secret-name]\nHOME=/root\nOLDPWD=/srv\n\
             OXG_API_TOKEN=[redacted:secret-name]\nSSL_CERT_FILE=/etc/ssl/ca.pem\n"
        );
    }

    #[test]
    fn sensitive_families_have_their_label_values_fingerprinted() {
        let r = Redactor::new(vec![], vec!["logins".into(), "lat".into()]);
        let body = "# HELP logins_total By account.\n# TYPE logins_total counter\n\
                    logins_total{account=\"alice@example.com\",kind=\"a\\\"b\"} 3\n\
                    lat_bucket{user=\"bob\",le=\"0.5\"} 1\n\
                    other_total{account=\"carol\"} 1\n\
                    logins_extra{account=\"dave\"} 1\n";
        let out = r.exposition(body);
        let fa = Fingerprint::of("alice@example.com");
        let fk = Fingerprint::of("a\"b");
        let fb = Fingerprint::of("bob");
        assert!(
            out.contains(&format!(
                "logins_total{{account=\"{fa}\",kind=\"{fk}\"}} 3\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!("lat_bucket{{user=\"{fb}\",le=\"0.5\"}} 1\n")),
            "{out}"
        );
        assert!(out.contains("other_total{account=\"carol\"} 1\n"));
        assert!(
            out.contains("logins_extra{account=\"dave\"} 1\n"),
            "not a sample of logins"
        );
        assert!(out.starts_with("# HELP logins_total By account.\n"));
        assert!(!out.contains("alice") && !out.contains("bob\""));
        // Labels that do not parse are masked whole, never passed through.
        let broken = r.exposition("logins_total{account=\"alice} 1\n");
        assert!(!broken.contains("alice"), "{broken}");
    }

    #[test]
    fn the_secret_name_pattern_compiles() {
        assert!(Regex::new(SECRET_NAME).is_ok());
        for (name, regex, _) in DEFAULT_PATTERNS {
            assert!(Regex::new(regex).is_ok(), "{name}");
        }
    }
}
