//! The metric names a PromQL expression reads, and the metric names a Prometheus text scrape
//! has: enough to check that every alert rule and dashboard panel reads metrics that exist
//! (`services/framelog/tests/observability_rules.rs`).
//!
//! A small tokenizer, not a parser: string literals, label matchers (`{...}`), ranges
//! (`[...]`) and the label lists of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`
//! are skipped; an identifier followed by `(` is a function; keywords and numbers are dropped.
//! What is left is a metric name.

use std::collections::BTreeSet;

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "atan2",
    "inf",
    "nan",
    // Aggregation operators, which may stand before `by (...)` instead of `(`.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Skips from `open` (at `i`) to its matching `close`, honouring string literals.
fn skip_group(chars: &[char], mut i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = skip_string(chars, i),
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The index of the closing quote of the string starting at `i`.
fn skip_string(chars: &[char], i: usize) -> usize {
    let q = chars[i];
    let mut j = i + 1;
    while j < chars.len() && chars[j] != q {
        if chars[j] == '\\' && q != '`' {
            j += 1;
        }
        j += 1;
    }
    j
}

/// The metric names `expr` reads.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i) + 1;
        } else if c == '{' {
            i = skip_group(&chars, i, '{', '}');
        } else if c == '[' {
            i = skip_group(&chars, i, '[', ']');
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // A number (1e3, 0.9, 5m in an offset): digits and the identifier chars glued to it.
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                if chars.get(next) == Some(&'(') {
                    i = skip_group(&chars, next, '(', ')');
                }
            } else if KEYWORDS.contains(&lower.as_str()) || chars.get(next) == Some(&'(') {
                // A keyword or a function call: its arguments are scanned on.
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The sample names of a Prometheus text exposition (`_bucket`, `_sum`, `_count`, `_total`
/// as exposed).
pub fn scrape_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &str) -> Vec<String> {
        metric_names(e).into_iter().collect()
    }

    #[test]
    fn functions_keywords_labels_and_ranges_are_not_metric_names() {
        let e = r#"sum by (route) (rate(framelog_http_requests_total{status=~"5..", route!="a{b}"}[5m])) / sum by (route) (rate(framelog_http_requests_total[$__rate_interval])) > 0.05"#;
        assert_eq!(names(e), ["framelog_http_requests_total"]);
    }

    #[test]
    fn both_sides_of_a_binary_operator_and_histograms_are_read() {
        let e = "max by (stream) (a_bytes) / max by (stream) (a_max_bytes > 0) > 0.9 or on (x) group_left (y) c unless d";
        assert_eq!(names(e), ["a_bytes", "a_max_bytes", "c", "d"]);
        let e = "histogram_quantile(0.95, sum by (route, le) (rate(x_seconds_bucket[5m])))";
        assert_eq!(names(e), ["x_seconds_bucket"]);
    }

    #[test]
    fn numbers_durations_and_strings_are_skipped() {
        assert_eq!(
            names(r#"x offset 5m > 1e3 and label_replace(y, "dst", "$1", "src", "(.*)")"#),
            ["x", "y"]
        );
    }

    #[test]
    fn a_scrape_lists_its_sample_names() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\nb 1\nh_bucket{le=\"+Inf\"} 2\n# EOF\n";
        let got: Vec<String> = scrape_names(text).into_iter().collect();
        assert_eq!(got, ["a_total", "b", "h_bucket"]);
    }
}
