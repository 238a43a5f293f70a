//! The `ocipull` command-line tool.
fn main() {}
