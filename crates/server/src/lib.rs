//! A pull-only OCI registry server (filled by its own issue).
#![forbid(unsafe_code)]
