//! `cargo xtask demo`: an end-to-end demonstration of a pull.

/// Runs the demo.
///
/// Placeholder: the demo needs the pull client and is written together with it.
pub fn run(_args: &[String]) -> crate::Result {
    Err("demo arrives with the client".into())
}
