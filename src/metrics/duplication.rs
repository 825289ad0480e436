//! Code duplication, measured from the project's own source files (embedded at build time).
//!
//! Lambda's cost is not only CPU: every query is written twice, in two paradigms, and every
//! logic change must be made twice and kept in agreement. These figures come from reading the
//! files that implement the queries for each architecture — not from a table someone typed:
//!
//! - **implementations per query**: how many of the architecture's logic files handle it
//!   (a file handles a query when it names the query's `QueryKind` variant);
//! - **logic lines**: code lines (no blanks, comments or tests) in those files;
//! - **places to edit for a logic change**: files that would change if one query changed;
//! - **batch/speed similarity**: for architectures with two implementations, the Jaccard
//!   similarity of their token trigrams (identifiers kept): 1 means copy-paste, near 0 means
//!   the same logic written in two different idioms — harder to keep in agreement by eye.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::query::QueryKind;

/// A source file embedded at build time.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile {
    /// Path from the crate root.
    pub path: &'static str,
    /// Its text.
    pub text: &'static str,
}

const POLARS_BATCH: SourceFile = SourceFile {
    path: "src/batch/lambda_polars.rs",
    text: include_str!("../batch/lambda_polars.rs"),
};
const SPEED_OPERATORS: SourceFile =
    SourceFile { path: "src/speed/operators.rs", text: include_str!("../speed/operators.rs") };
const UNIFIED: SourceFile = SourceFile {
    path: "src/query/unified/definitions.rs",
    text: include_str!("../query/unified/definitions.rs"),
};

/// The files holding each architecture's query logic (the plumbing they share is not counted).
pub fn logic_files(architecture: &str) -> &'static [SourceFile] {
    match architecture {
        "lambda" => &[POLARS_BATCH, SPEED_OPERATORS],
        "lambda-unified" => &[UNIFIED],
        "kappa" => &[SPEED_OPERATORS],
        "batch-lake" | "streaming-lake" => &[POLARS_BATCH],
        _ => &[],
    }
}

/// Duplication figures of one architecture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplication {
    /// Files holding query logic.
    pub logic_files: Vec<&'static str>,
    /// Per query name, how many files implement it.
    pub implementations_per_query: BTreeMap<&'static str, usize>,
    /// Code lines in the logic files.
    pub logic_lines: usize,
    /// Files to edit when one query's logic changes (the most over queries).
    pub places_to_edit_for_logic_change: usize,
    /// Token-trigram Jaccard similarity of the two implementations, when there are two.
    pub batch_speed_similarity: Option<f64>,
}

/// Lines of code: not blank, not only a comment, and not in the `#[cfg(test)]` module.
pub fn code_lines(text: &str) -> usize {
    let body = text.split("#[cfg(test)]").next().unwrap_or(text);
    body.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("//") && !l.starts_with("/*") && !l.starts_with('*')
        })
        .count()
}

fn variant(kind: QueryKind) -> &'static str {
    match kind {
        QueryKind::KeyWindowCount => "KeyWindowCount",
        QueryKind::CampaignWindowCount => "CampaignWindowCount",
        QueryKind::KeySum => "KeySum",
        QueryKind::DistinctUsers => "DistinctUsers",
    }
}

/// Identifier and punctuation tokens of the code (comments and tests removed).
fn tokens(text: &str) -> Vec<String> {
    let body = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = Vec::new();
    for line in body.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut word = String::new();
        for ch in code.chars() {
            if ch.is_alphanumeric() || ch == '_' {
                word.push(ch);
            } else {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                if !ch.is_whitespace() {
                    out.push(ch.to_string());
                }
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
    }
    out
}

/// Jaccard similarity of the token trigrams of two texts.
pub fn similarity(a: &str, b: &str) -> f64 {
    let grams =
        |t: &str| -> BTreeSet<String> { tokens(t).windows(3).map(|w| w.join(" ")).collect() };
    let (ga, gb) = (grams(a), grams(b));
    let union = ga.union(&gb).count();
    if union == 0 {
        return 0.0;
    }
    let shared = ga.intersection(&gb).count() as f64 / union as f64;
    (shared * 1000.0).round() / 1000.0
}

/// The duplication figures of `architecture`, read from the embedded source.
pub fn measure(architecture: &str) -> Duplication {
    let files = logic_files(architecture);
    let implementations_per_query: BTreeMap<&'static str, usize> = QueryKind::ALL
        .iter()
        .map(|k| {
            let pattern = format!("QueryKind::{}", variant(*k));
            (k.name(), files.iter().filter(|f| f.text.contains(&pattern)).count())
        })
        .collect();
    Duplication {
        logic_files: files.iter().map(|f| f.path).collect(),
        logic_lines: files.iter().map(|f| code_lines(f.text)).sum(),
        places_to_edit_for_logic_change: implementations_per_query
            .values()
            .copied()
            .max()
            .unwrap_or(0),
        batch_speed_similarity: match files {
            [a, b] => Some(similarity(a.text, b.text)),
            _ => None,
        },
        implementations_per_query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lines_skip_comments_blanks_and_tests() {
        let text =
            "// c\n\nfn a() {}\n/// doc\nlet x = 1;\n#[cfg(test)]\nmod tests { fn t() {} }\n";
        assert_eq!(code_lines(text), 2);
    }

    #[test]
    fn similarity_is_one_for_copies_and_low_for_different_code() {
        let a = "fn count(e: &Event) { map.entry(e.key).or_insert(0) += 1; }";
        assert_eq!(similarity(a, a), 1.0);
        let b = "df.lazy().group_by([col(\"key\")]).agg([len()]).collect()";
        assert!(similarity(a, b) < 0.1);
    }

    #[test]
    fn lambda_writes_each_query_twice_kappa_once() {
        let lambda = measure("lambda");
        let kappa = measure("kappa");
        assert_eq!(lambda.logic_files.len(), 2);
        assert_eq!(kappa.places_to_edit_for_logic_change, 1);
        assert!(lambda.logic_lines > kappa.logic_lines);
    }
}
