//! DNS answer-path benchmarks (filled in below).
fn main() {}
