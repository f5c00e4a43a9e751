//! The OpenMetrics 1.0 parser (`telemeter::parse::openmetrics`) checked
//! against two references: the OpenMetrics project's own parser test suite
//! (every case, embedded below), and the Python reference parser
//! (`prometheus_client.openmetrics.parser`), run on each of those bodies and
//! on the cases of this file, which must accept and reject the same bodies.
//!
//! Where the two parsers differ on purpose, the case says why, and only our
//! verdict is asserted:
//!
//! - [`Py::Laxer`]: the Python parser accepts a body the spec forbids;
//! - [`Py::StricterByDesign`]: the spec tolerates the body but says it
//!   SHOULD NOT be written (an undefined escape), or the brief's rule for
//!   telemeter's parser goes beyond the spec; we refuse it, as a stricter
//!   rule that only catches encoder bugs;
//! - [`Py::Stricter`]: the Python parser refuses a body the spec allows.
//!
//! The Python parser is `$TELEMETER_PY_OM` (default `/tmp/pyv/bin/python`)
//! with prometheus_client installed. Without it the cross-check is skipped,
//! with a printed reason, unless `CI` is set: then it fails.

use std::io::Write as _;
use std::process::{Command, Stdio};

// The fuzz targets' bodies (std + telemeter only), for the mutation test.
#[allow(dead_code)]
#[path = "../fuzz/src/targets.rs"]
mod targets;

use telemeter::parse::openmetrics::{parse, OmType};
use telemeter::parse::ParseErrorKind;

/// How the Python reference parser's verdict relates to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Py {
    /// Python accepts or rejects the body as we do.
    Agrees,
    /// Python accepts a body the spec forbids (the rule it misses); we
    /// reject it.
    Laxer(&'static str),
    /// The spec tolerates the body (or is silent), but we reject it on
    /// purpose (why); Python accepts it.
    StricterByDesign(&'static str),
    /// Python rejects a body the spec allows (why); we accept it.
    Stricter(&'static str),
}

/// One body and the verdicts on it.
struct Case {
    name: &'static str,
    body: &'static str,
    /// Whether our parser accepts it.
    valid: bool,
    python: Py,
}

impl Case {
    /// Whether the Python parser accepts it.
    fn python_valid(&self) -> bool {
        match self.python {
            Py::Agrees => self.valid,
            Py::Laxer(_) | Py::StricterByDesign(_) => true,
            Py::Stricter(_) => false,
        }
    }
}

const fn valid(name: &'static str, body: &'static str) -> Case {
    Case {
        name,
        body,
        valid: true,
        python: Py::Agrees,
    }
}

const fn invalid(name: &'static str, body: &'static str) -> Case {
    Case {
        name,
        body,
        valid: false,
        python: Py::Agrees,
    }
}

/// Refused by us, accepted by Python, which misses `rule`.
const fn laxer(name: &'static str, body: &'static str, rule: &'static str) -> Case {
    Case {
        name,
        body,
        valid: false,
        python: Py::Laxer(rule),
    }
}

/// Refused by us on purpose, accepted by the spec's letter and by Python.
const fn by_design(name: &'static str, body: &'static str, why: &'static str) -> Case {
    Case {
        name,
        body,
        valid: false,
        python: Py::StricterByDesign(why),
    }
}

/// Accepted by us and the spec, refused by Python.
const fn python_stricter(name: &'static str, body: &'static str, why: &'static str) -> Case {
    Case {
        name,
        body,
        valid: true,
        python: Py::Stricter(why),
    }
}

const UNDEFINED_ESCAPE: &str = "an undefined escape such as \\t or \\z: the ABNF reads it as a backslash and the character, the spec says it SHOULD NOT be written (\\\\ is the backslash), and telemeter's parser refuses it, as its 0.0.4 parser does";

const UNESCAPED_HELP_QUOTE: &str = "an unescaped double quote in HELP text: the ABNF's escaped-string has none (normal-char excludes it), and the spec's ABNF takes precedence over its prose, so this parser refuses it; the OpenMetrics suite (help_escaping's `\\\\\"`) and Python accept it";

const HELP_ESCAPES: &str = "undefined escapes in HELP text (see UNDEFINED_ESCAPE), and an unescaped double quote in it (see UNESCAPED_HELP_QUOTE)";

/// The cases of the OpenMetrics suite where our verdict is not the suite's
/// `shouldParse`, and why.
const SUITE_DEVIATIONS: &[(&str, Py)] = &[
    ("escaping", Py::StricterByDesign(UNDEFINED_ESCAPE)),
    ("help_escaping", Py::StricterByDesign(HELP_ESCAPES)),
    ("label_escaping", Py::StricterByDesign(UNDEFINED_ESCAPE)),
];

/// This file's own cases, by rule.
const CASES: &[Case] = &[
    // The body and its lines.
    valid("eof_only", "# EOF\n"),
    valid("eof_without_newline", "a 1\n# EOF"),
    invalid("empty", ""),
    invalid("no_eof", "a 1\n"),
    invalid("two_eofs", "a 1\n# EOF\n# EOF\n"),
    invalid("eof_with_trailing_space", "# EOF \n"),
    invalid("eof_without_space", "#EOF\n"),
    invalid("lowercase_keyword", "# help a x\n# EOF\n"),
    invalid("bom", "\u{feff}a 1\n# EOF\n"),
    invalid("crlf", "a 1\r\n# EOF\n"),
    invalid("cr_after_labels", "a{x=\"1\"}\r 1\n# EOF\n"),
    valid("cr_in_help", "# HELP a x\ry\n# EOF\n"),
    valid("cr_ending_help", "# HELP a x\r\n# EOF\n"),
    invalid("leading_space", " a 1\n# EOF\n"),
    invalid("leading_tab", "\ta 1\n# EOF\n"),
    // Separators.
    invalid("tab_before_value", "a\t1\n# EOF\n"),
    invalid("tab_before_timestamp", "a 1\t2\n# EOF\n"),
    laxer(
        "two_spaces_before_type",
        "# TYPE a  gauge\n# EOF\n",
        "the ABNF has exactly one space between the metric name and the type",
    ),
    laxer(
        "two_spaces_after_hash",
        "#  HELP a x\n# EOF\n",
        "the ABNF has exactly one space after #",
    ),
    valid("help_text_starting_with_a_space", "# HELP a  two spaces\n# EOF\n"),
    laxer(
        "two_spaces_before_exemplar",
        "# TYPE a counter\na_total 1  # {x=\"1\"} 1\n# EOF\n",
        "the ABNF has exactly one space before an exemplar's #",
    ),
    laxer(
        "blank_before_closing_brace",
        "a{x=\"1\" } 1\n# EOF\n",
        "the ABNF allows no blanks inside a label set",
    ),
    laxer(
        "blanks_around_equals",
        "a{x = \"1\"} 1\n# EOF\n",
        "the ABNF allows no blanks inside a label set",
    ),
    invalid("trailing_comma", "a{x=\"1\",} 1\n# EOF\n"),
    invalid("lone_comma", "a{,} 1\n# EOF\n"),
    // Names.
    valid("underscore_label", "a{_x=\"1\"} 1\n# EOF\n"),
    valid("underscore_metric", "_a 1\n# EOF\n"),
    laxer(
        "quoted_label_name",
        "a{\"my.label\"=\"1\"} 1\n# EOF\n",
        "quoted UTF-8 label names are a later extension; OpenMetrics 1.0's label-name is [a-zA-Z_][a-zA-Z0-9_]*",
    ),
    invalid("quoted_metric_name", "{\"my.metric\"} 1\n# EOF\n"),
    // Escapes.
    valid("raw_tab_in_label_value", "a{x=\"a\tb\"} 1\n# EOF\n"),
    valid("escaped_quote_in_label_value", "a{x=\"1\\\"\"} 1\n# EOF\n"),
    valid("escaped_quotes_in_help", "# HELP a \\\"quoted\\\"\n# EOF\n"),
    by_design("undefined_label_escape", "a{x=\"\\t\"} 1\n# EOF\n", UNDEFINED_ESCAPE),
    by_design("undefined_help_escape", "# HELP a x\\ty\n# EOF\n", UNDEFINED_ESCAPE),
    by_design(
        "unescaped_quote_in_help",
        "# HELP a say \"hi\"\n# EOF\n",
        UNESCAPED_HELP_QUOTE,
    ),
    laxer(
        "help_ending_in_backslash",
        "# HELP a x\\\n# EOF\n",
        "a lone backslash at the end of HELP text is no escaped-char of the ABNF",
    ),
    // Numbers.
    valid("leading_point", "a .5\n# EOF\n"),
    valid("trailing_point", "a 5.\n# EOF\n"),
    valid("negative_infinity_word", "a -infinity\n# EOF\n"),
    valid("capital_exponent", "a 1E3\n# EOF\n"),
    valid("negative_timestamp", "a 1 -1.5\n# EOF\n"),
    laxer(
        "signed_nan",
        "a +nan\n# EOF\n",
        "the ABNF's number is [sign] inf/infinity or an unsigned nan",
    ),
    laxer(
        "value_out_of_range",
        "a 1e400\n# EOF\n",
        "numbers must fit in a 64-bit float",
    ),
    // Metadata.
    valid("empty_unit_on_info", "# TYPE i info\n# UNIT i \ni_info 1\n# EOF\n"),
    invalid("unit_after_colon", "# UNIT b:ratio ratio\n# EOF\n"),
    invalid("unit_without_underscore", "# UNIT aseconds seconds\n# EOF\n"),
    invalid("non_ascii_unit", "# UNIT a_s \u{e9}\n# EOF\n"),
    by_design(
        "counter_named_total",
        "# TYPE a_total counter\na_total_total 1\n# EOF\n",
        "a counter family named with _total: the spec's names are without it (samples foo_total of family foo), and telemeter's encoder never writes one, so refusing it only catches encoder bugs",
    ),
    // Families and names.
    valid("gauge_named_total", "# TYPE a_total gauge\na_total 1\n# EOF\n"),
    valid("gauge_then_total", "# TYPE a gauge\na 1\na_total 2\n# EOF\n"),
    valid(
        "gaugehistogram_then_count",
        "# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_count 1\n# EOF\n",
    ),
    invalid(
        "clash_with_histogram_count",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n# TYPE h_count gauge\n# EOF\n",
    ),
    invalid("family_split", "a 1\nb 1\na 2\n# EOF\n"),
    invalid(
        "counter_split",
        "# TYPE a counter\na_total 1\nb 1\na_created 1\n# EOF\n",
    ),
    // Types.
    valid("le_on_counter", "# TYPE a counter\na_total{le=\"1\"} 1\n# EOF\n"),
    valid(
        "le_on_summary",
        "# TYPE s summary\ns_count{le=\"x\"} 1\ns_sum{le=\"x\"} 2\ns{le=\"x\",quantile=\"0.5\"} NaN\n# EOF\n",
    ),
    valid(
        "infinite_total_negative_created",
        "# TYPE a counter\na_total +Inf\na_created -1\n# EOF\n",
    ),
    invalid("negative_infinite_total", "# TYPE a counter\na_total -Inf\n# EOF\n"),
    laxer(
        "counter_without_total",
        "# TYPE a counter\na_created 1\n# EOF\n",
        "a counter MetricPoint must have a Total",
    ),
    laxer(
        "quantile_on_summary_count",
        "# TYPE s summary\ns_count{quantile=\"0.5\"} 0\n# EOF\n",
        "a summary Metric's label set must not have a quantile label",
    ),
    invalid("summary_count_not_integer", "# TYPE s summary\ns_count 1.5\n# EOF\n"),
    invalid("infinite_quantile", "# TYPE s summary\ns{quantile=\"+Inf\"} 1\n# EOF\n"),
    invalid(
        "infinite_bucket_value",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} +Inf\n# EOF\n",
    ),
    invalid(
        "same_bound_twice",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"1.0\"} 0\nh_bucket{le=\"+Inf\"} 0\n# EOF\n",
    ),
    invalid("lowercase_inf_bound", "# TYPE h histogram\nh_bucket{le=\"inf\"} 0\n# EOF\n"),
    invalid("empty_bound", "# TYPE h histogram\nh_bucket{le=\"\"} 0\n# EOF\n"),
    laxer(
        "bound_with_underscore",
        "# TYPE h histogram\nh_bucket{le=\"1_0\"} 0\nh_bucket{le=\"+Inf\"} 3\n# EOF\n",
        "le is a number in the ABNF's syntax; Python's float() also takes underscores",
    ),
    laxer(
        "bound_with_blank",
        "# TYPE h histogram\nh_bucket{le=\" 1\"} 0\nh_bucket{le=\"+Inf\"} 3\n# EOF\n",
        "le is a number in the ABNF's syntax; Python's float() also takes blanks",
    ),
    invalid("le_on_created", "# TYPE h histogram\nh_created{le=\"1\"} 1\n# EOF\n"),
    invalid(
        "gcount_without_gsum",
        "# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\n# EOF\n",
    ),
    // Exemplars.
    valid(
        "timestamp_and_exemplar_timestamp",
        "# TYPE a counter\na_total 1 1 # {} 1 1\n# EOF\n",
    ),
    invalid(
        "exemplar_extra_field",
        "# TYPE a counter\na_total 1 # {a=\"1\"} 1 1 1\n# EOF\n",
    ),
    invalid(
        "exemplar_trailing_space",
        "# TYPE a counter\na_total 1 # {} 1 \n# EOF\n",
    ),
    invalid("exemplar_without_value", "# TYPE a counter\na_total 1 # {}\n# EOF\n"),
    laxer(
        "exemplar_above_its_bucket",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {} 1.5\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
        "a bucket's exemplar value must be within the bucket",
    ),
    laxer(
        "nan_exemplar_in_bucket",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {} NaN\n# EOF\n",
        "a bucket's exemplar value must be within the bucket",
    ),
    // Metrics, points, timestamps.
    laxer(
        "repeated_sample",
        "a 1\na 1\n# EOF\n",
        "without timestamps a Metric has one MetricPoint, so a sample appears once",
    ),
    laxer(
        "repeated_sample_reordered_labels",
        "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n# EOF\n",
        "without timestamps a Metric has one MetricPoint, so a sample appears once",
    ),
    laxer(
        "repeated_bucket",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
        "bucket thresholds within a MetricPoint must be unique",
    ),
    laxer(
        "repeated_total",
        "# TYPE a counter\na_total 1\na_created 1\na_total 2\n# EOF\n",
        "without timestamps a Metric has one MetricPoint, with one Total",
    ),
    laxer(
        "repeated_state",
        "# TYPE st stateset\nst{st=\"a\"} 1\nst{st=\"a\"} 0\n# EOF\n",
        "a MetricPoint has one boolean per state",
    ),
    valid("points_with_timestamps", "# TYPE g gauge\ng 1 0\ng 2 0\ng 3 1\n# EOF\n"),
    valid(
        "histogram_points_with_timestamps",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 10\nh_count 1 10\nh_sum 1 10\nh_bucket{le=\"+Inf\"} 2 20\nh_count 2 20\nh_sum 3 20\n# EOF\n",
    ),
    invalid(
        "mixed_timestamps_in_a_point",
        "# TYPE c counter\nc_total 1 5\nc_created 0\n# EOF\n",
    ),
    invalid(
        "later_point_without_inf_bucket",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 10\nh_bucket{le=\"1\"} 1 20\n# EOF\n",
    ),
    invalid(
        "interleaved_points",
        "# TYPE foo_seconds summary\nfoo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\nfoo_seconds_sum{a=\"bb\"} 0 123\n# EOF\n",
    ),
    invalid(
        "interleaved_metrics",
        "# TYPE foo_seconds summary\nfoo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"ccc\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\n# EOF\n",
    ),
    laxer(
        "info_timestamps_backwards",
        "# TYPE i info\ni_info{a=\"1\"} 1 2\ni_info{a=\"1\"} 1 1\n# EOF\n",
        "a Metric's MetricPoints must have increasing timestamps; Python exempts info families",
    ),
    laxer(
        "info_label_set_repeated",
        "# TYPE i info\ni_info{a=\"1\"} 1\ni_info{a=\"2\"} 1\ni_info{a=\"1\"} 1\n# EOF\n",
        "a Metric's samples are contiguous and, without timestamps, appear once; Python keeps an info family's samples in one group and drops repeats",
    ),
    python_stricter(
        "info_metrics_with_and_without_timestamps",
        "# TYPE i info\ni_info{a=\"1\"} 1 1\ni_info{a=\"2\"} 1\n# EOF\n",
        "two Metrics (label sets) may differ in having timestamps; Python treats all samples of an info family as one group",
    ),
];

/// The OpenMetrics project's parser test suite
/// (github.com/OpenObservability/OpenMetrics, `tests/testdata/parsers/`,
/// Apache-2.0): each case's directory name, `shouldParse`, and `metrics`
/// file.
const SUITE: &[(&str, bool, &str)] = &[
    ("bad_blank_line", false, "a 1\n\n# EOF\n"),
    ("bad_clashing_names_0", false, "# TYPE a counter\n# TYPE a counter\n# EOF\n"),
    ("bad_clashing_names_1", false, "# TYPE a info\n# TYPE a counter\n# EOF\n"),
    ("bad_clashing_names_2", false, "# TYPE a_created gauge\n# TYPE a counter\n# EOF\n"),
    ("bad_counter_values_0", false, "# TYPE a counter\na_total NaN\n# EOF\n"),
    ("bad_counter_values_1", false, "# TYPE a counter\na_total -1\n# EOF\n"),
    ("bad_counter_values_10", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} NaN\n# EOF\n"),
    ("bad_counter_values_11", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} -1\na_gcount -1\n# EOF\n"),
    ("bad_counter_values_12", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} -1\n# EOF\n"),
    ("bad_counter_values_13", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gsum -1\n# EOF\n"),
    ("bad_counter_values_14", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gsum NaN\n# EOF\n"),
    ("bad_counter_values_15", false, "# TYPE a summary\na_sum NaN\n# EOF\n"),
    ("bad_counter_values_16", false, "# TYPE a summary\na_count NaN\n# EOF\n"),
    ("bad_counter_values_17", false, "# TYPE a summary\na_sum -1\n# EOF\n"),
    ("bad_counter_values_18", false, "# TYPE a summary\na_count -1\n# EOF\n"),
    ("bad_counter_values_19", false, "# TYPE a summary\na{quantile=\"0.5\"} -1\n# EOF\n"),
    ("bad_counter_values_2", false, "# TYPE a histogram\na_sum NaN\n# EOF\n"),
    ("bad_counter_values_3", false, "# TYPE a histogram\na_count NaN\n# EOF\n"),
    ("bad_counter_values_4", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} NaN\n# EOF\n"),
    ("bad_counter_values_5", false, "# TYPE a histogram\na_sum -1\n# EOF\n"),
    ("bad_counter_values_6", false, "# TYPE a histogram\na_count -1\n# EOF\n"),
    ("bad_counter_values_7", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} -1\n# EOF\n"),
    ("bad_counter_values_8", false, "# TYPE a histogram\na_bucket{le=\"-1.0\"} 1\na_bucket{le=\"+Inf\"} 2\na_sum -1\n# EOF\n"),
    ("bad_counter_values_9", false, "# TYPE a histogram\na_bucket{le=\"-1.0\"} 1\na_bucket{le=\"+Inf\"} 2\na_sum 1\n# EOF\n"),
    ("bad_exemplar_complex_chars", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {a=\"O\u{338}\u{346}\u{31b}\u{321}\u{327}\u{33b}\u{332}p\u{335}\u{310}\u{331}\u{330}\u{330}e\u{338}\u{30b}\u{34b}\u{35d}\u{33e}\u{344}\u{327}\u{31e}\u{32d}n\u{338}\u{308}\u{341}\u{30c}\u{309}\u{310}\u{320}\u{32f}\u{32d}\u{325}\u{320}M\u{335}\u{346}\u{31b}\u{30a}\u{346}\u{350}\u{31d}e\u{334}\u{35b}\u{30c}\u{35a}\u{35a}t\u{337}\u{34c}\u{315}\u{31a}\u{32b}\u{327}\u{35a}r\u{335}\u{30b}\u{31a}\u{355}\u{332}i\u{336}\u{35d}\u{30a}\u{30a}\u{314}\u{302}\u{324}\u{330}\u{328}\u{325}\u{33b}\u{32c}\u{329}c\u{338}\u{300}\u{35b}\u{35d}\u{315}\u{30a}\u{331}\u{316}s\u{337}\u{33d}\u{30c}\u{340}\u{301}\u{304}\u{327}789012345678901234567890123456789\"} 1 1\n# EOF\n"),
    ("bad_exemplar_timestamp_0", false, "# TYPE a counter\na_total 1 # {a=\"b\"} 0.5 NaN\n# EOF\n"),
    ("bad_exemplar_timestamp_1", false, "# TYPE a counter\na_total 1 # {a=\"b\"} 0.5 Inf\n# EOF\n"),
    ("bad_exemplar_timestamp_2", false, "# TYPE a counter\na_total 1 # {a=\"b\"} 0.5 -Inf\n# EOF\n"),
    ("bad_exemplars_0", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 #\n# EOF\n"),
    ("bad_exemplars_1", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1# {} 1\n# EOF\n"),
    ("bad_exemplars_10", false, "# TYPE a counter\na_total 1 1 # id=\"a\"} 1\n# EOF\n"),
    ("bad_exemplars_11", false, "# TYPE a counter\na_total 1 1 #id=\" # \"} 1\n# EOF\n"),
    ("bad_exemplars_12", false, "# TYPE a counter\na_total 1 1 id=\" # \"} 1\n# EOF\n"),
    ("bad_exemplars_2", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 #{} 1\n# EOF\n"),
    ("bad_exemplars_3", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {}1\n# EOF\n"),
    ("bad_exemplars_4", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {} 1 \n# EOF\n"),
    ("bad_exemplars_5", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {} 1 1 \n# EOF\n"),
    ("bad_exemplars_6", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {a=\"23456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"} 1 1\n# EOF\n"),
    ("bad_exemplars_7", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {} 0x1p-3\n# EOF\n"),
    ("bad_exemplars_8", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {} 1 0x1p-3\n# EOF\n"),
    ("bad_exemplars_9", false, "# TYPE a counter\na_total 1 1 # {id=\"a\"}  \n# EOF\n"),
    ("bad_exemplars_on_unallowed_metric_types_0", false, "# TYPE a gauge\na 1 # {a=\"b\"} 1\n# EOF\n"),
    ("bad_exemplars_on_unallowed_metric_types_1", false, "# TYPE a info\na_info 1 # {a=\"b\"} 1\n# EOF\n"),
    ("bad_exemplars_on_unallowed_metric_types_2", false, "# TYPE a stateset\na{a=\"b\"} 1 # {c=\"d\"} 1\n# EOF\n"),
    ("bad_exemplars_on_unallowed_samples_0", false, "# TYPE a histogram\na_sum 1 # {a=\"b\"} 0.5\n# EOF\n"),
    ("bad_exemplars_on_unallowed_samples_1", false, "# TYPE a gaugehistogram\na_sum 1 # {a=\"b\"} 0.5\n# EOF\n"),
    ("bad_exemplars_on_unallowed_samples_2", false, "# TYPE a_bucket gauge\na_bucket 1 # {a=\"b\"} 0.5\n# EOF\n"),
    ("bad_exemplars_on_unallowed_samples_3", false, "# TYPE a counter\na_created 1 # {a=\"b\"} 0.5\n# EOF\n"),
    ("bad_grouping_or_ordering_0", false, "# TYPE a histogram\na_sum{a=\"1\"} 0\na_bucket{a=\"2\",le=\"+Inf\"} 0\na_count{a=\"2\"} 0\na_sum{a=\"2\"} 0\na_bucket{a=\"1\",le=\"+Inf\"} 0\na_count{a=\"1\"} 0\n# EOF\n"),
    ("bad_grouping_or_ordering_1", false, "# TYPE a histogram\na_bucket{a=\"1\",le=\"1\"} 0\na_bucket{a=\"2\",le=\"+Inf\"\"} 0\na_bucket{a=\"1\",le=\"+Inf\"} 0\n# EOF\n"),
    ("bad_grouping_or_ordering_10", false, "# TYPE a gauge\na 0 0\na 0\n# EOF\n"),
    ("bad_grouping_or_ordering_2", false, "# TYPE a gaugehistogram\na_gsum{a=\"1\"} 0\na_gsum{a=\"2\"} 0\na_gcount{a=\"1\"} 0\n# EOF\n"),
    ("bad_grouping_or_ordering_3", false, "# TYPE a summary\nquantile{quantile=\"0\"} 0\na_sum{a=\"1\"} 0\nquantile{quantile=\"1\"} 0\n# EOF\n"),
    ("bad_grouping_or_ordering_4", false, "# TYPE a gauge\na 0 -1\na 0 -2\n# EOF\n"),
    ("bad_grouping_or_ordering_5", false, "# TYPE a gauge\na 0 -1\na 0 -1.1\n# EOF\n"),
    ("bad_grouping_or_ordering_6", false, "# TYPE a gauge\na 0 1\na 0 -1\n# EOF\n"),
    ("bad_grouping_or_ordering_7", false, "# TYPE a gauge\na 0 1.1\na 0 1\n# EOF\n"),
    ("bad_grouping_or_ordering_8", false, "# TYPE a gauge\na 0 1\na 0 0\n# EOF\n"),
    ("bad_grouping_or_ordering_9", false, "# TYPE a gauge\na 0\na 0 0\n# EOF\n"),
    ("bad_help_0", false, "# HELP\n# EOF\n"),
    ("bad_help_1", false, "# HELP \n# EOF\n"),
    ("bad_help_2", false, "# HELP a\n# EOF\n"),
    ("bad_help_3", false, "# HELP a\t\n# EOF\n"),
    ("bad_help_4", false, " # HELP a meh\n# EOF\n"),
    ("bad_histograms_0", false, "# TYPE a histogram\na_sum 1\n# EOF\n"),
    ("bad_histograms_1", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_sum 0\n# EOF\n"),
    ("bad_histograms_10", false, "# TYPE a histogram\na_bucket{le=\"1\"} 1\na_bucket{le=\"2\"} 1\na_bucket{le=\"+Inf\"} 0\n# EOF\n"),
    ("bad_histograms_11", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_count 1\n# EOF\n"),
    ("bad_histograms_12", false, "# TYPE a histogram\na_bucket{le=\"+INF\"} 0\n# EOF\n"),
    ("bad_histograms_13", false, "# TYPE a histogram\na_count 1\na_bucket{le=\"+Inf\"} 0\n# EOF\n"),
    ("bad_histograms_14", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 0\na_gcount 0\n# EOF\n"),
    ("bad_histograms_2", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_count 0\n# EOF\n"),
    ("bad_histograms_3", false, "# TYPE a histogram\na_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 0\na_sum 0\na_count 0\n# EOF\n"),
    ("bad_histograms_4", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\n#a_sum 0\n# EOF\n"),
    ("bad_histograms_5", false, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\n#a_count 0\n# EOF\n"),
    ("bad_histograms_6", false, "# TYPE a gaugehistogram\na_gsum 1\n# EOF\n"),
    ("bad_histograms_7", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gsum -1\na_gcount 1\n# EOF\n"),
    ("bad_histograms_8", false, "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 0\na_gsum 0\n# EOF\n"),
    ("bad_histograms_9", false, "# TYPE a histogram\na_bucket{le=\"2\"} 0\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 0\n# EOF\n"),
    ("bad_info_and_stateset_values_0", false, "# TYPE a info\na_info{foo=\"bar\"} 2\n# EOF\n"),
    ("bad_info_and_stateset_values_1", false, "# TYPE a stateset\na{a=\"bar\"} 2\n# EOF\n"),
    ("bad_invalid_labels_0", false, "a{1=\"1\"} 1\n# EOF\n"),
    ("bad_invalid_labels_1", false, "a{1=\"1\"}1\n# EOF\n"),
    ("bad_invalid_labels_2", false, "a{a=\"1\",a=\"1\"} 1\n# EOF\n"),
    ("bad_invalid_labels_3", false, "a{a=\"1\"b} 1\n# EOF\n"),
    ("bad_invalid_labels_4", false, "a{1=\" # \"} 1\n# EOF\n"),
    ("bad_invalid_labels_5", false, "a{a=\" # \",a=\" # \"} 1\n# EOF\n"),
    ("bad_invalid_labels_6", false, "a{a=\" # \"}1\n# EOF\n"),
    ("bad_invalid_labels_7", false, "a{a=\" # \",b=}1\n# EOF\n"),
    ("bad_invalid_labels_8", false, "a{a=\" # \"b}1\n# EOF\n"),
    ("bad_metadata", false, "# FOO a x\n# EOF\n"),
    ("bad_metadata_in_wrong_place_0", false, "# HELP a x\na 1\n# TYPE a gauge\n# EOF\n"),
    ("bad_metadata_in_wrong_place_1", false, "# TYPE a gauge\na 1\n# HELP a gauge\n# EOF\n"),
    ("bad_metadata_in_wrong_place_2", false, "# TYPE a_s gauge\na_s 1\n# UNIT a_s s\n# EOF\n"),
    ("bad_metric_names_0", false, "0a 1\n# EOF\n"),
    ("bad_metric_names_1", false, "a.b 1\n# EOF\n"),
    ("bad_metric_names_2", false, "a-b 1\n# EOF\n"),
    ("bad_missing_equal_or_label_value_0", false, "a{a} 1\n# EOF\n"),
    ("bad_missing_equal_or_label_value_1", false, "a{a\"value\"} 1\n# EOF\n"),
    ("bad_missing_equal_or_label_value_2", false, "a{a\"\"} 1\n# EOF\n"),
    ("bad_missing_equal_or_label_value_3", false, "a{a=} 1\n# EOF\n"),
    ("bad_missing_equal_or_label_value_4", false, "a{a=\"} 1\n# EOF\n"),
    ("bad_missing_or_extra_commas_0", false, "a{a=\"1\"b=\"2\"} 1\n# EOF\n"),
    ("bad_missing_or_extra_commas_1", false, "a{a=\"1\",,b=\"2\"} 1\n# EOF\n"),
    ("bad_missing_or_extra_commas_2", false, "a{a=\"1\",b=\"2\",} 1\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_0", false, "# TYPE a summary\na 0\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_1", false, "# TYPE a summary\na{quantile=\"-1\"} 0\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_2", false, "# TYPE a summary\na{quantile=\"foo\"} 0\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_3", false, "# TYPE a summary\na{quantile=\"1.01\"} 0\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_4", false, "# TYPE a summary\na{quantile=\"NaN\"} 0\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_5", false, "# TYPE a histogram\na_bucket 0\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_6", false, "# TYPE a gaugehistogram\na_bucket 0\n# EOF\n"),
    ("bad_missing_or_invalid_labels_for_a_type_7", false, "# TYPE a stateset\na 0\n# EOF\n"),
    ("bad_missing_or_wrong_quotes_on_label_value_0", false, "a{a=1} 1\n# EOF\n"),
    ("bad_missing_or_wrong_quotes_on_label_value_1", false, "a{a=\"1} 1\n# EOF\n"),
    ("bad_missing_or_wrong_quotes_on_label_value_2", false, "a{a='1'} 1\n# EOF\n"),
    ("bad_missing_value_0", false, "a\n# EOF\n"),
    ("bad_missing_value_1", false, "a \n# EOF\n"),
    ("bad_no_eof", false, ""),
    ("bad_repeated_metadata_0", false, "# HELP a \n# HELP a \n# EOF\n"),
    ("bad_repeated_metadata_1", false, "# HELP a x\n# HELP a x\n# EOF\n"),
    ("bad_repeated_metadata_2", false, "# TYPE a untyped\n# TYPE a untyped\n# EOF\n"),
    ("bad_repeated_metadata_3", false, "# UNIT a_s s\n# UNIT a_s s\n# EOF\n"),
    ("bad_stateset_info_values_0", false, "# TYPE a stateset\na 2\n# EOF\n"),
    ("bad_stateset_info_values_1", false, "# TYPE a info\na 2\n# EOF\n"),
    ("bad_stateset_info_values_2", false, "# TYPE a stateset\na 2.0\n# EOF\n"),
    ("bad_stateset_info_values_3", false, "# TYPE a info\na 2.0\n# EOF\n"),
    ("bad_text_after_eof_0", false, "a 1\n# EOF\nblah"),
    ("bad_text_after_eof_1", false, "a 1\n# EOFblah"),
    ("bad_timestamp_0", false, "a 1 z\n# EOF\n"),
    ("bad_timestamp_1", false, "a 1 1z\n# EOF\n"),
    ("bad_timestamp_2", false, "a 1 1_2\n# EOF\n"),
    ("bad_timestamp_3", false, "a 1 1.1.1\n# EOF\n"),
    ("bad_timestamp_4", false, "a 1 NaN\n# EOF\n"),
    ("bad_timestamp_5", false, "a 1 Inf\n# EOF\n"),
    ("bad_timestamp_6", false, "a 1  Inf\n# EOF\n"),
    ("bad_timestamp_7", false, "a 1 -Inf\n# EOF\n"),
    ("bad_timestamp_8", false, "a 1 0x1p-3\n# EOF\n"),
    ("bad_type_0", false, "# TYPE\n# EOF\n"),
    ("bad_type_1", false, "# TYPE \n# EOF\n"),
    ("bad_type_2", false, "# TYPE a\n# EOF\n"),
    ("bad_type_3", false, "# TYPE a\t\n# EOF\n"),
    ("bad_type_4", false, "# TYPE a meh\n# EOF\n"),
    ("bad_type_5", false, "# TYPE a meh \n# EOF\n"),
    ("bad_type_6", false, "# TYPE a gauge \n# EOF\n"),
    ("bad_type_7", false, "# TYPE a untyped\n# EOF\n"),
    ("bad_unit_0", false, "# UNIT\n# EOF\n"),
    ("bad_unit_1", false, "# UNIT \n# EOF\n"),
    ("bad_unit_2", false, "# UNIT a\n# EOF\n"),
    ("bad_unit_3", false, "# UNIT a\t\n# EOF\n"),
    ("bad_unit_4", false, "# UNIT a seconds\n# EOF\n"),
    ("bad_unit_5", false, "# UNIT a_seconds seconds \n# EOF\n"),
    ("bad_unit_6", false, "# TYPE x_u info\n# UNIT x_u u\n# EOF\n"),
    ("bad_unit_7", false, "# TYPE x_u stateset\n# UNIT x_u u\n# EOF\n"),
    ("bad_value_0", false, "a a\n# EOF\n"),
    ("bad_value_1", false, "a  1\n# EOF\n"),
    ("bad_value_10", false, "a 0X1\n# EOF\n"),
    ("bad_value_11", false, "a 0o1\n# EOF\n"),
    ("bad_value_12", false, "a 0O1\n# EOF\n"),
    ("bad_value_2", false, "a 1\t\n# EOF\n"),
    ("bad_value_3", false, "a 1 \n# EOF\n"),
    ("bad_value_4", false, "a 1_2\n# EOF\n"),
    ("bad_value_5", false, "a 0x1p-3\n# EOF\n"),
    ("bad_value_6", false, "a 0x1P-3\n# EOF\n"),
    ("bad_value_7", false, "a 0b1\n# EOF\n"),
    ("bad_value_8", false, "a 0B1\n# EOF\n"),
    ("bad_value_9", false, "a 0x1\n# EOF\n"),
    ("counter_exemplars", true, "# TYPE a counter\n# HELP a help\na_total 0 123 # {a=\"b\"} 0.5\n# EOF\n"),
    ("counter_exemplars_empty_brackets", true, "# TYPE a counter\n# HELP a help\na_total{} 0 123 # {a=\"b\"} 0.5\n# EOF\n"),
    ("counter_unit", true, "# HELP cc_seconds A counter\n# TYPE cc_seconds counter\n# UNIT cc_seconds seconds\ncc_seconds_total 1.0\ncc_seconds_created 123.456\n# EOF\n"),
    ("duplicate_timestamps_0", true, "# TYPE a gauge\n# HELP a help\na{a=\"1\",foo=\"bar\"} 1 0.0000000000\na{a=\"1\",foo=\"bar\"} 2 0.0000000001\na{a=\"1\",foo=\"bar\"} 3 0.0000000010\na{a=\"2\",foo=\"bar\"} 4 0.0000000000\na{a=\"2\",foo=\"bar\"} 5 0.0000000001\n# EOF\n"),
    ("duplicate_timestamps_1", true, "# TYPE a gauge\n# HELP a help\na{a=\"1\",foo=\"bar\"} 1 0\na{a=\"1\",foo=\"bar\"} 2 0\na{a=\"1\",foo=\"bar\"} 3 0\na{a=\"2\",foo=\"bar\"} 4 0\na{a=\"2\",foo=\"bar\"} 5 0\n# EOF\n"),
    ("empty_brackets", true, "# TYPE a counter\n# HELP a help\na_total{} 1\n# EOF\n"),
    ("empty_help", true, "# TYPE a counter\n# HELP a \na_total 1\n# EOF\n"),
    ("empty_label", true, "# TYPE a counter\n# HELP a help\na_total{foo=\"bar\"} 1\na_total{foo=\"\"} 2\n# EOF\n"),
    ("empty_metadata", true, "# HELP a \n# UNIT a \n# EOF\n"),
    ("escaping", true, "# TYPE a counter\n# HELP a he\\n\\\\l\\tp\na_total{foo=\"b\\\"a\\nr\"} 1\na_total{foo=\"b\\\\a\\z\"} 2\na_total{foo=\"b\\\"a\\nr # \"} 3\na_total{foo=\"b\\\\a\\z # \"} 4\n# EOF\n"),
    ("exemplars_wide_chars", true, "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 # {a=\"\u{2603}345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678\"} 1 1\n# EOF\n"),
    ("exemplars_with_hash_in_label_values", true, "# TYPE a histogram\n# HELP a help\na_bucket{le=\"1.0\",foo=\"bar # \"} 0 # {a=\"b\",foo=\"bar # bar\"} 0.5\na_bucket{le=\"2.0\",foo=\"bar # \"} 2 # {a=\"c\",foo=\"bar # bar\"} 0.5\na_bucket{le=\"+Inf\",foo=\"bar # \"} 3 # {a=\"d\",foo=\"bar # bar\"} 4\n# EOF\n"),
    ("float_gauge", true, "# TYPE a gauge\n# HELP a help\na 1.2\n# EOF\n"),
    ("gaugehistogram_exemplars", true, "# TYPE a gaugehistogram\n# HELP a help\na_bucket{le=\"1.0\"} 0 123 # {a=\"b\"} 0.5\na_bucket{le=\"2.0\"} 2 123 # {a=\"c\"} 0.5\na_bucket{le=\"+Inf\"} 3 123 # {a=\"d\"} 4 123\n# EOF\n"),
    ("hash_in_label_value", true, "# TYPE a counter\n# HELP a help\na_total{foo=\"foo # bar\"} 1\na_total{foo=\"} foo # bar # \"} 1\n# EOF\n"),
    ("help_escaping", true, "# TYPE a0 counter\n# HELP a0 foo\na0_total{foo=\"bar\"} 1\n# TYPE a1 counter\n# HELP a1 \\foo\na1_total{foo=\"bar\"} 1\n# TYPE a2 counter\n# HELP a2 \\\\foo\na2_total{foo=\"bar\"} 1\n# TYPE a3 counter\n# HELP a3 foo\\\\\na3_total{foo=\"bar\"} 1\n# TYPE a4 counter\n# HELP a4 \\\\\na4_total{foo=\"bar\"} 1\n# TYPE a5 counter\n# HELP a5 \\n\na5_total{foo=\"bar\"} 1\n# TYPE a6 counter\n# HELP a6 \\\\n\na6_total{foo=\"bar\"} 1\n# TYPE a7 counter\n# HELP a7 \\\\\\n\na7_total{foo=\"bar\"} 1\n# TYPE a8 counter\n# HELP a8 \\\"\na8_total{foo=\"bar\"} 1\n# TYPE a9 counter\n# HELP a9 \\\\\"\na9_total{foo=\"bar\"} 1\n# EOF\n"),
    ("histogram_exemplars", true, "# TYPE a histogram\n# HELP a help\na_bucket{le=\"1.0\"} 0 # {a=\"b\"} 0.5\na_bucket{le=\"2.0\"} 2 # {a=\"c\"} 0.5\na_bucket{le=\"+Inf\"} 3 # {a=\"2345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678\"} 4 123\n# EOF\n"),
    ("histogram_noncanonical", true, "# TYPE a histogram\n# HELP a help\na_bucket{le=\"0\"} 0\na_bucket{le=\"0.00000000001\"} 0\na_bucket{le=\"0.0000000001\"} 0\na_bucket{le=\"1e-04\"} 0\na_bucket{le=\"1.1e-4\"} 0\na_bucket{le=\"1.1e-3\"} 0\na_bucket{le=\"1.1e-2\"} 0\na_bucket{le=\"1\"} 0\na_bucket{le=\"1e+05\"} 0\na_bucket{le=\"10000000000\"} 0\na_bucket{le=\"100000000000.0\"} 0\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 2\n# EOF\n"),
    ("info_timestamps", true, "# TYPE a info\n# HELP a help\na_info{a=\"1\",foo=\"bar\"} 1 1\na_info{a=\"2\",foo=\"bar\"} 1 0\n# EOF\n"),
    ("label_escaping", true, "# TYPE a0 counter\n# HELP a0 help\na0_total{foo=\"foo\",bar=\"baz\"} 1\n# TYPE a1 counter\n# HELP a1 help\na1_total{foo=\"\\foo\",bar=\"baz\"} 1\n# TYPE a2 counter\n# HELP a2 help\na2_total{foo=\"\\\\foo\",bar=\"baz\"} 1\n# TYPE a3 counter\n# HELP a3 help\na3_total{foo=\"foo\\\\\",bar=\"baz\"} 1\n# TYPE a4 counter\n# HELP a4 help\na4_total{foo=\"\\\\\",bar=\"baz\"} 1\n# TYPE a5 counter\n# HELP a5 help\na5_total{foo=\"\\n\",bar=\"baz\"} 1\n# TYPE a6 counter\n# HELP a6 help\na6_total{foo=\"\\\\n\",bar=\"baz\"} 1\n# TYPE a7 counter\n# HELP a7 help\na7_total{foo=\"\\\\\\n\",bar=\"baz\"} 1\n# TYPE a8 counter\n# HELP a8 help\na8_total{foo=\"\\\"\",bar=\"baz\"} 1\n# TYPE a9 counter\n# HELP a9 help\na9_total{foo=\"\\\\\\\"\",bar=\"baz\"} 1\n# EOF\n"),
    ("labels_and_infinite", true, "# TYPE a gauge\n# HELP a help\na{foo=\"bar\"} +Inf\na{foo=\"baz\"} -Inf\n# EOF\n"),
    ("labels_with_curly_braces", true, "# TYPE a counter\n# HELP a help\na_total{foo=\"bar\",bar=\"b{a}z\"} 1\n# EOF\n"),
    ("leading_zeros_float_gauge", true, "# TYPE a gauge\n# HELP a help\na 0000000000000000000000000000000000000000001.2e-1\n# EOF\n"),
    ("leading_zeros_simple_gauge", true, "# TYPE a gauge\n# HELP a help\na 0000000000000000000000000000000000000000001\n# EOF\n"),
    ("nan", true, "a NaN\n# EOF\n"),
    ("nan_gauge", true, "# TYPE a gauge\n# HELP a help\na NaN\n# EOF\n"),
    ("negative_bucket_gaugehistogram", true, "# TYPE a gaugehistogram\n# HELP a help\na_bucket{le=\"-1.0\"} 1\na_bucket{le=\"1.0\"} 2\na_bucket{le=\"+Inf\"} 3\na_gcount 3\na_gsum -5\n# EOF\n"),
    ("negative_bucket_histogram", true, "# TYPE a histogram\n# HELP a help\na_bucket{le=\"-1.0\"} 0\na_bucket{le=\"1.0\"} 1\na_bucket{le=\"+Inf\"} 3\n# EOF\n"),
    ("no_metadata", true, "a 1\n# EOF\n"),
    ("no_newline_after_eof", true, "# TYPE a gauge\n# HELP a help\na 1\n# EOF"),
    ("null_byte", true, "# TYPE a counter\n# HELP a he\0lp\n# EOF\n"),
    ("roundtrip", true, "# HELP go_gc_duration_seconds A summary of the GC invocation durations.\n# TYPE go_gc_duration_seconds summary\ngo_gc_duration_seconds{quantile=\"0.0\"} 0.013300656000000001\ngo_gc_duration_seconds{quantile=\"0.25\"} 0.013638736\ngo_gc_duration_seconds{quantile=\"0.5\"} 0.013759906\ngo_gc_duration_seconds{quantile=\"0.75\"} 0.013962066\ngo_gc_duration_seconds{quantile=\"1.0\"} 0.021383540000000003\ngo_gc_duration_seconds_sum 56.12904785\ngo_gc_duration_seconds_count 7476.0\n# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines 166.0\n# HELP prometheus_local_storage_indexing_batch_duration_milliseconds Quantiles for batch indexing duration in milliseconds.\n# TYPE prometheus_local_storage_indexing_batch_duration_milliseconds summary\nprometheus_local_storage_indexing_batch_duration_milliseconds{quantile=\"0.5\"} NaN\nprometheus_local_storage_indexing_batch_duration_milliseconds{quantile=\"0.9\"} NaN\nprometheus_local_storage_indexing_batch_duration_milliseconds{quantile=\"0.99\"} NaN\nprometheus_local_storage_indexing_batch_duration_milliseconds_sum 871.5665949999999\nprometheus_local_storage_indexing_batch_duration_milliseconds_count 229.0\n# HELP process_cpu_seconds Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 29323.4\n# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes 2.478268416e+09\n# HELP prometheus_build_info A metric with a constant '1' value labeled by version, revision, and branch from which Prometheus was built.\n# TYPE prometheus_build_info gauge\nprometheus_build_info{branch=\"HEAD\",revision=\"ef176e5\",version=\"0.16.0rc1\"} 1.0\n# HELP prometheus_local_storage_chunk_ops The total number of chunk operations by their type.\n# TYPE prometheus_local_storage_chunk_ops counter\nprometheus_local_storage_chunk_ops_total{type=\"clone\"} 28.0\nprometheus_local_storage_chunk_ops_total{type=\"create\"} 997844.0\nprometheus_local_storage_chunk_ops_total{type=\"drop\"} 1.345758e+06\nprometheus_local_storage_chunk_ops_total{type=\"load\"} 1641.0\nprometheus_local_storage_chunk_ops_total{type=\"persist\"} 981408.0\nprometheus_local_storage_chunk_ops_total{type=\"pin\"} 32662.0\nprometheus_local_storage_chunk_ops_total{type=\"transcode\"} 980180.0\nprometheus_local_storage_chunk_ops_total{type=\"unpin\"} 32662.0\n# HELP foo histogram Testing histogram buckets\n# TYPE foo histogram\nfoo_bucket{le=\"0.0\"} 0.0\nfoo_bucket{le=\"1e-05\"} 0.0\nfoo_bucket{le=\"0.0001\"} 0.0\nfoo_bucket{le=\"0.1\"} 8.0\nfoo_bucket{le=\"1.0\"} 10.0\nfoo_bucket{le=\"10.0\"} 17.0\nfoo_bucket{le=\"100000.0\"} 17.0\nfoo_bucket{le=\"1e+06\"} 17.0\nfoo_bucket{le=\"1.55555555555552e+06\"} 17.0\nfoo_bucket{le=\"1e+23\"} 17.0\nfoo_bucket{le=\"+Inf\"} 17.0\nfoo_count 17.0\nfoo_sum 324789.3\nfoo_created 1.520430000123e+09\n# HELP bar histogram Testing with labels\n# TYPE bar histogram\nbar_bucket{a=\"b\",le=\"+Inf\"} 0.0\nbar_bucket{a=\"c\",le=\"+Inf\"} 0.0\n# EOF\n"),
    ("simple_counter", true, "# TYPE a counter\n# HELP a help\na_total 1\n# EOF\n"),
    ("simple_gauge", true, "# TYPE a gauge\n# HELP a help\na 1\n# EOF\n"),
    ("simple_gaugehistogram", true, "# TYPE a gaugehistogram\n# HELP a help\na_bucket{le=\"1.0\"} 0\na_bucket{le=\"+Inf\"} 3\na_gcount 3\na_gsum 2\n# EOF\n"),
    ("simple_histogram", true, "# TYPE a histogram\n# HELP a help\na_bucket{le=\"1.0\"} 0\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 2\n# EOF\n"),
    ("simple_stateset", true, "# TYPE a stateset\n# HELP a help\na{a=\"bar\"} 0\na{a=\"foo\"} 1.0\n# EOF\n"),
    ("simple_summary", true, "# TYPE a summary\n# HELP a help\na_count 1\na_sum 2\n# EOF\n"),
    ("summary_quantiles", true, "# TYPE a summary\n# HELP a help\na_count 1\na_sum 2\na{quantile=\"0.5\"} 0.7\na{quantile=\"1\"} 0.8\n# EOF\n"),
    ("timestamps", true, "# TYPE a counter\n# HELP a help\na_total{foo=\"1\"} 1 000\na_total{foo=\"2\"} 1 0.0\na_total{foo=\"3\"} 1 1.1\na_total{foo=\"4\"} 1 12345678901234567890.1234567890\na_total{foo=\"5\"} 1 1.5e3\n# TYPE b counter\n# HELP b help\nb_total 2 1234567890\n# EOF\n"),
    ("type_help_switched", true, "# HELP a help\n# TYPE a counter\na_total 1\n# EOF\n"),
    ("uint64_counter", true, "# TYPE a counter\n# HELP a help\na_total 9223372036854775808\n# EOF\n"),
    ("unit_gauge", true, "# TYPE a_seconds gauge\n# UNIT a_seconds seconds\n# HELP a_seconds help\na_seconds 1\n# EOF\n"),
    ("untyped", true, "# HELP redis_connected_clients Redis connected clients\n# TYPE redis_connected_clients unknown\nredis_connected_clients{instance=\"rough-snowflake-web\",port=\"6380\"} 10.0\nredis_connected_clients{instance=\"rough-snowflake-web\",port=\"6381\"} 12.0\n# EOF\n"),
];

/// Every case, suite first, with our verdict and Python's relation to it.
fn all_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = SUITE
        .iter()
        .map(|&(name, should_parse, body)| {
            let deviation = SUITE_DEVIATIONS
                .iter()
                .find(|(deviant, _)| *deviant == name)
                .map(|&(_, python)| python);
            match deviation {
                Some(python) => Case {
                    name,
                    body,
                    valid: false,
                    python,
                },
                None => Case {
                    name,
                    body,
                    valid: should_parse,
                    python: Py::Agrees,
                },
            }
        })
        .collect();
    cases.extend(CASES.iter().map(|case| Case { ..*case }));
    cases
}

impl Clone for Case {
    fn clone(&self) -> Case {
        Case { ..*self }
    }
}

#[test]
fn suite_is_complete_and_names_are_unique() {
    assert_eq!(SUITE.len(), 211);
    let mut names: Vec<&str> = all_cases().iter().map(|case| case.name).collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "duplicate case names");
    for (name, _) in SUITE_DEVIATIONS {
        let should_parse = SUITE.iter().find(|(n, _, _)| n == name).map(|c| c.1);
        assert_eq!(should_parse, Some(true), "{name}");
    }
}

#[test]
fn verdicts_match_the_suite_and_the_rules() {
    let mut wrong = Vec::new();
    for case in all_cases() {
        let result = parse(case.body);
        if result.is_ok() != case.valid {
            wrong.push(format!(
                "{}: expected {}, got {:?}\n  body: {:?}",
                case.name,
                if case.valid { "valid" } else { "invalid" },
                result.map(|_| ()).map_err(|e| e.to_string()),
                case.body
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn escapes_are_the_only_suite_cases_refused() {
    for name in ["escaping", "help_escaping", "label_escaping"] {
        let body = SUITE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|c| c.2)
            .unwrap_or_default();
        let e = parse(body).unwrap_err();
        assert!(
            matches!(
                e.kind,
                ParseErrorKind::OmInvalidHelpEscape { .. }
                    | ParseErrorKind::InvalidLabelEscape { .. }
                    | ParseErrorKind::UnescapedQuoteInHelp
            ),
            "{name}: {e}"
        );
        // Written as the spec prefers (`\z` as `\\z`, `"` in HELP as
        // `\"`), the same body parses.
        let fixed = escape_as_preferred(body);
        assert!(parse(&fixed).is_ok(), "{name}: {:?}", parse(&fixed));
    }
}

/// `body` with each backslash that starts no `\\`, `\"` or `\n` escape
/// doubled, and each unescaped `"` in HELP text escaped: what the spec
/// prefers, and what our parser requires.
fn escape_as_preferred(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        let help = line.starts_with("# HELP ");
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&next @ ('\\' | '"' | 'n')) => {
                        out.push(c);
                        out.push(next);
                        chars.next();
                    }
                    _ => out.push_str("\\\\"),
                },
                '"' if help => out.push_str("\\\""),
                c => out.push(c),
            }
        }
    }
    out
}

#[test]
fn suite_bodies_parse_to_the_expected_structure() {
    let body = |name: &str| {
        SUITE
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|c| c.2)
            .unwrap_or_default()
    };
    let set = parse(body("roundtrip")).unwrap();
    assert_eq!(set.families.len(), 9);
    let foo = set.family("foo").unwrap();
    assert_eq!(foo.kind, OmType::Histogram);
    assert_eq!(
        foo.help.as_deref(),
        Some("histogram Testing histogram buckets")
    );
    assert_eq!(
        foo.find("foo_bucket", &[("le", "1.55555555555552e+06")])
            .unwrap()
            .value,
        17.0
    );
    let ops = set.family("prometheus_local_storage_chunk_ops").unwrap();
    assert_eq!(ops.kind, OmType::Counter);
    assert_eq!(
        ops.find(
            "prometheus_local_storage_chunk_ops_total",
            &[("type", "drop")]
        )
        .unwrap()
        .value,
        1.345758e6
    );

    let set = parse(body("exemplars_wide_chars")).unwrap();
    let exemplar = set.families[0].samples[0].exemplar.as_ref().unwrap();
    let length: usize = exemplar
        .labels
        .iter()
        .map(|(k, v)| k.chars().count() + v.chars().count())
        .sum();
    assert_eq!(length, 128);

    let set = parse(body("timestamps")).unwrap();
    let a = set.family("a").unwrap();
    assert_eq!(
        a.find("a_total", &[("foo", "5")]).unwrap().timestamp,
        Some(1500.0)
    );
    let set = parse(body("null_byte")).unwrap();
    assert_eq!(set.families[0].help.as_deref(), Some("he\0lp"));
    let set = parse(body("empty_metadata")).unwrap();
    assert_eq!(
        (set.families[0].help.as_ref(), set.families[0].unit.as_ref()),
        (None, None)
    );
}

/// The fuzz target's properties (no panic; `parse` and `parse_bytes`
/// agree; an accepted body re-rendered parses to the same data) on every
/// case and on deterministic random mutations of each.
#[test]
fn fuzz_target_holds_on_cases_and_their_mutations() {
    const INTERESTING: &[u8] = b" \t\"\\{},=#\n\r\xff\xe2a0.-+e_\x00";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        usize::try_from(r >> 33).unwrap_or(0) % bound.max(1)
    };
    let mut accepted = 0;
    for case in all_cases() {
        assert_eq!(
            targets::parse_openmetrics_target(case.body.as_bytes()),
            case.valid,
            "{}",
            case.name
        );
        for _ in 0..150 {
            let mut body = case.body.as_bytes().to_vec();
            for _ in 0..=next(3) {
                let at = next(body.len() + 1);
                let byte = INTERESTING
                    .get(next(INTERESTING.len()))
                    .copied()
                    .unwrap_or(b' ');
                match next(3) {
                    0 if at < body.len() => body[at] = byte,
                    1 if at < body.len() => {
                        body.remove(at);
                    }
                    _ => body.insert(at, byte),
                }
            }
            if targets::parse_openmetrics_target(&body) {
                accepted += 1;
            }
        }
    }
    // Some mutations stay valid, so the re-render check runs on them.
    assert!(
        accepted > 1000,
        "only {accepted} mutated bodies were accepted"
    );
}

// ---------------------------------------------------------------------------
// The Python reference parser
// ---------------------------------------------------------------------------

/// The Python interpreter with prometheus_client, or `None` (with the
/// reason printed) when there is none and `CI` is not set.
fn python() -> Option<String> {
    let path = std::env::var("TELEMETER_PY_OM").unwrap_or_else(|_| "/tmp/pyv/bin/python".into());
    let probe = Command::new(&path)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if probe.is_ok_and(|status| status.success()) {
        return Some(path);
    }
    let reason = format!(
        "{path} cannot import prometheus_client.openmetrics.parser (set TELEMETER_PY_OM to a Python with prometheus_client installed)"
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "the Python cross-check is required in CI: {reason}"
    );
    println!("skipping the Python cross-check: {reason}");
    None
}

/// The command of the cross-check, for one body on stdin: it exits with
/// success exactly when the Python parser accepts the body.
const PY_ONE: &str = "import sys; from prometheus_client.openmetrics.parser import text_string_to_metric_families as p; list(p(sys.stdin.read()))";

/// The same parse for many bodies in one process (one per line, hex
/// encoded); prints 1 (accepted) or 0 (refused) per body.
const PY_MANY: &str = "
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as p
for line in sys.stdin:
    body = bytes.fromhex(line.strip()).decode('utf-8')
    try:
        list(p(body))
        print('1')
    except Exception:
        print('0')
";

/// Runs `script` under `python` with `input` on stdin; returns whether it
/// succeeded and its stdout.
fn run_python(python: &str, script: &str, input: &str) -> (bool, String) {
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python");
    let mut stdin = child.stdin.take().expect("python stdin");
    let input = input.to_owned();
    // Write from a thread: the child's output could fill its pipe first.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("run python");
    writer.join().expect("writer").expect("write to python");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[test]
fn python_parser_agrees() {
    let Some(python) = python() else {
        return;
    };
    let cases = all_cases();
    let input: String = cases
        .iter()
        .map(|case| hex(case.body.as_bytes()) + "\n")
        .collect();
    let (ok, stdout) = run_python(&python, PY_MANY, &input);
    assert!(ok, "the Python batch failed");
    let verdicts: Vec<bool> = stdout.lines().map(|line| line == "1").collect();
    assert_eq!(verdicts.len(), cases.len(), "python output: {stdout}");

    let mut wrong = Vec::new();
    for (case, &python_valid) in cases.iter().zip(&verdicts) {
        let ours = parse(case.body).is_ok();
        assert_eq!(ours, case.valid, "{}: our verdict", case.name);
        match case.python {
            Py::Agrees if python_valid != ours => wrong.push(format!(
                "{}: we say {}, Python says {}\n  body: {:?}",
                case.name,
                if ours { "valid" } else { "invalid" },
                if python_valid { "valid" } else { "invalid" },
                case.body
            )),
            // Documented differences: only our verdict is asserted (above).
            // Report any that Python no longer shows, so the
            // documentation can be updated.
            Py::Agrees => {}
            _ if python_valid != case.python_valid() => println!(
                "note: {} is documented as a difference, but Python now agrees with us",
                case.name
            ),
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn python_one_body_command() {
    let Some(python) = python() else {
        return;
    };
    let (accepted, _) = run_python(&python, PY_ONE, "# TYPE a counter\na_total 1\n# EOF\n");
    assert!(accepted);
    assert!(parse("# TYPE a counter\na_total 1\n# EOF\n").is_ok());
    let (accepted, _) = run_python(&python, PY_ONE, "# TYPE a counter\na_total -1\n# EOF\n");
    assert!(!accepted);
    assert!(parse("# TYPE a counter\na_total -1\n# EOF\n").is_err());
}
