//! A pull client for OCI registries (filled by its own issue).
#![forbid(unsafe_code)]
