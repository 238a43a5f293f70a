//! [`MirrorError`]: what is wrong with a mirror configuration, or a reference it refuses.

use std::path::PathBuf;

use ocipull_spec::Reference;

/// Where in a configuration file a setting is: the file and, when known, the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// The line, from 1.
    pub line: Option<usize>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Shows `origin: ` before a message when there is one.
fn at(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map(|o| format!("{o}: "))
        .unwrap_or_default()
}

/// A mirror configuration that cannot be used, or a reference it refuses. Each variant names
/// the file, line or key and the value at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// A configuration file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A configuration file is not valid TOML, or a key has a value of the wrong type.
    #[error("{}{message}", at(origin))]
    Syntax {
        /// Where.
        origin: Option<Origin>,
        /// The parser's message (names the key).
        message: String,
    },
    /// A key has a value this client does not accept.
    #[error("{}{key} = {value:?}: {reason}", at(origin))]
    InvalidValue {
        /// Where.
        origin: Option<Origin>,
        /// The key, e.g. `registry.mirror.location`.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// An endpoint URL or location is not usable.
    #[error("{}invalid endpoint {value:?}: {reason}", at(origin))]
    InvalidEndpoint {
        /// The URL or location given.
        value: String,
        /// What is wrong.
        reason: String,
        /// Where, when it came from a file.
        origin: Option<Origin>,
    },
    /// The reference's registry is blocked (registries.conf `blocked = true`); no request
    /// was sent.
    #[error(
        "{}pulling {reference} is blocked by the registries configuration",
        at(origin)
    )]
    Blocked {
        /// The reference refused.
        reference: Box<Reference>,
        /// The `[[registry]]` table that blocks it.
        origin: Option<Origin>,
    },
}

impl MirrorError {
    /// The error with `origin` filled in where none was known.
    pub(crate) fn at_origin(mut self, new: Origin) -> MirrorError {
        match &mut self {
            MirrorError::Syntax { origin, .. }
            | MirrorError::InvalidValue { origin, .. }
            | MirrorError::InvalidEndpoint { origin, .. }
            | MirrorError::Blocked { origin, .. } => {
                origin.get_or_insert(new);
            }
            MirrorError::Read { .. } => {}
        }
        self
    }
}
