//! The repository's error type.

use std::path::PathBuf;

/// Errors of profile repositories. Every variant names the file, profile
/// name or URL it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Reading or writing a profile failed.
    #[error(transparent)]
    Profile(#[from] profile_runtime::Error),
    /// A profile name (or symlink target) is not acceptable.
    #[error("invalid profile name {name:?}: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// No profile of that name (or GUID, or banner) was found.
    #[error("profile {name:?} not found in {searched}")]
    NotFound {
        /// What was looked up.
        name: String,
        /// Where it was looked for.
        searched: String,
    },
    /// A symlink cannot be resolved (dangling, cyclic, too long a chain).
    #[error("symlink {name:?}: {message}")]
    Symlink {
        /// The symlink's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The entry exists and replacing it was not asked for.
    #[error("{name:?} already exists in {repo} (use --overwrite to replace it)")]
    Exists {
        /// The profile name.
        name: String,
        /// The repository.
        repo: PathBuf,
    },
    /// A malformed inventory, state or cache file.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An HTTP request failed.
    #[error("{url}: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A build configuration file is invalid.
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Any other refusal, with its reason.
    #[error("{0}")]
    Other(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_name(name: &str, reason: impl Into<String>) -> Self {
        Error::BadName {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn format(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Whether this error says "not found" (so a search can go on to the
    /// next repository).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}
