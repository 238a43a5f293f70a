//! [`CredentialError`]: why no credentials could be looked up.
//!
//! # Security
//!
//! No variant holds a secret: file contents and a helper's output are never quoted, only
//! where and why they are wrong.

use std::path::PathBuf;
use std::time::Duration;

/// Why a [`CredentialSource`](super::CredentialSource) could not say which credentials to
/// use. Each variant names the file or the helper and the registry, and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// A credentials file (Docker's `config.json`, a containers `auth.json`) could not be
    /// read or parsed.
    #[error("{path}: {reason}; fix or remove the file")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the file's content).
        reason: String,
    },

    /// A configuration names a helper whose name cannot be a program name (empty, or with
    /// a `/`): it is not run.
    #[error(
        "the credential helper name {name:?} for {registry} is not a program name; fix credsStore or credHelpers"
    )]
    InvalidHelperName {
        /// The name as configured.
        name: String,
        /// The registry it was configured for.
        registry: String,
    },

    /// The helper program is not in any directory of the helper search path.
    #[error(
        "credential helper {helper} for {registry} is not installed (searched {searched}); install it or remove it from credsStore/credHelpers"
    )]
    HelperNotFound {
        /// The program, `docker-credential-<name>`.
        helper: String,
        /// The registry credentials were asked for.
        registry: String,
        /// The directories searched, `:`-separated.
        searched: String,
    },

    /// The helper could not be started, or talking to it failed.
    #[error("credential helper {helper} for {registry} could not be run: {source}")]
    HelperIo {
        /// The program.
        helper: String,
        /// The registry.
        registry: String,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The helper exited unsuccessfully for another reason than "credentials not found".
    #[error(
        "credential helper {helper} failed for {registry} ({status}); run `echo {registry} | {helper} get` to see why"
    )]
    HelperFailed {
        /// The program.
        helper: String,
        /// The registry.
        registry: String,
        /// How it exited (`exit status: 1`, `signal: 9`).
        status: String,
    },

    /// The helper did not finish within the timeout; it was killed.
    #[error(
        "credential helper {helper} for {registry} did not answer within {timeout:?} and was stopped; check that it does not wait for input (a locked keychain, a passphrase prompt)"
    )]
    HelperTimeout {
        /// The program.
        helper: String,
        /// The registry.
        registry: String,
        /// The timeout.
        timeout: Duration,
    },

    /// The helper printed more than the output limit; it was stopped.
    #[error(
        "credential helper {helper} for {registry} printed more than {limit} bytes; it is not a docker-credential-helpers program"
    )]
    HelperOutputTooLarge {
        /// The program.
        helper: String,
        /// The registry.
        registry: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// The helper exited successfully but its output is not the protocol's JSON
    /// `{"ServerURL", "Username", "Secret"}`.
    #[error(
        "credential helper {helper} for {registry} printed no credentials the docker-credential-helpers protocol allows: {reason}"
    )]
    HelperOutput {
        /// The program.
        helper: String,
        /// The registry.
        registry: String,
        /// What is wrong (never the output).
        reason: String,
    },
}
