//! Scenario errors that name the file, the line and the field.
//!
//! Every variant renders as one line, `file:line:column: field `x.y`: what is wrong`, the
//! format compilers use, so editors and terminals can jump straight to the spot.

use std::fmt;
use std::path::{Path, PathBuf};

/// A scenario file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read scenario file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// The file holds bytes no text TOML file can hold (invalid UTF-8, NUL, control bytes):
    /// most likely a binary file passed by mistake.
    #[error(
        "{}byte 0x{byte:02x} at offset {offset}: {message}; {} is not a text TOML file",
        Location::new(path, *line, Some(*column), None),
        path.display()
    )]
    NotText {
        /// The file.
        path: PathBuf,
        /// 1-based line of the bad byte.
        line: usize,
        /// 1-based column of the bad byte, counted in bytes (the line is not valid text).
        column: usize,
        /// 0-based byte offset of the bad byte in the file.
        offset: usize,
        /// The bad byte.
        byte: u8,
        /// What is wrong with it.
        message: String,
    },

    /// The file has no settings at all (empty, blank or only comments).
    #[error(
        "{}the scenario file is empty; expected at least `name`, `seed`, `architectures`, \
         `duration_ms`, a `[workload]` table and a `[[queries]]` table",
        Location::new(path, *line, None, None)
    )]
    Empty {
        /// The file.
        path: PathBuf,
        /// Always 1: an empty file has nowhere else to point.
        line: usize,
    },

    /// The text is not TOML, or is TOML that does not fit the scenario's shape (wrong type,
    /// unknown field, missing field, duplicate key).
    #[error("{}{message}", Location::new(path, *line, *column, field.as_deref()))]
    Toml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column in characters, when known.
        column: Option<usize>,
        /// Dotted path of the field, e.g. `workload.rate_per_sec`, when known.
        field: Option<String>,
        /// The TOML parser's explanation.
        message: String,
    },

    /// The TOML is well formed but a value is out of range or not allowed.
    #[error("{}{message}", Location::new(path, *line, *column, field.as_deref()))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the field (or of its table when the field is not written out).
        line: usize,
        /// 1-based column in characters, when known.
        column: Option<usize>,
        /// Dotted path of the field, e.g. `workload.partitions`.
        field: Option<String>,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl ScenarioError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScenarioError::Read { path, .. }
            | ScenarioError::NotText { path, .. }
            | ScenarioError::Empty { path, .. }
            | ScenarioError::Toml { path, .. }
            | ScenarioError::Invalid { path, .. } => path,
        }
    }

    /// The 1-based line the error points at, if it points anywhere.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScenarioError::Read { .. } => None,
            ScenarioError::NotText { line, .. }
            | ScenarioError::Empty { line, .. }
            | ScenarioError::Toml { line, .. }
            | ScenarioError::Invalid { line, .. } => Some(*line),
        }
    }

    /// The dotted path of the field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ScenarioError::Toml { field, .. } | ScenarioError::Invalid { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }
}

/// Renders the `file:line:column: field `x`: ` prefix shared by the located variants.
struct Location<'a> {
    path: &'a Path,
    line: usize,
    column: Option<usize>,
    field: Option<&'a str>,
}

impl<'a> Location<'a> {
    fn new(path: &'a Path, line: usize, column: Option<usize>, field: Option<&'a str>) -> Self {
        Location { path, line, column, field }
    }
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = self.field {
            write!(f, "field `{field}`: ")?;
        }
        Ok(())
    }
}
