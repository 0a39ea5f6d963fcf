//! anycastd: a userspace DPDK dataplane for anycast edge nodes.
//!
//! Layers (arrows point down only): [`dpdk`] wraps the raw `ffi` crate; [`packet`] holds the
//! buffer trait, header views and checksums with no DPDK types; [`answer`] and [`forward`] are pure
//! functions of (packet, snapshot, worker state) → [`verdict::Verdict`]; [`worker`] is the burst
//! loop gluing them together; [`config`] parses and validates the TOML config.
pub mod answer;
pub mod config;
pub mod control;
pub mod dpdk;
pub mod exception;
pub mod forward;
#[cfg(test)]
mod mutate;
pub mod packet;
pub mod pipeline;
pub mod runtime;
pub mod snapshot;
pub mod stats;
pub mod stats_view;
pub mod testutil;
pub mod verdict;
pub mod worker;
