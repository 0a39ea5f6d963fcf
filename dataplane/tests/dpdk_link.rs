//! The binary is linked to DPDK as `anycastd --version` says: DPDK's EAL library among its
//! dependencies when linked to the shared libraries (the default), none when built with
//! `ANYCASTD_DPDK_LINK=static` (`ci/test` builds and runs this test both ways).
mod common;

use std::process::Command;

#[test]
fn version_names_the_linkage_ldd_shows() {
    let out = Command::new(common::anycastd())
        .arg("--version")
        .output()
        .expect("run anycastd --version");
    assert!(out.status.success(), "{out:?}");
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(version.contains("(DPDK 2"), "{version}");
    let shared = match (
        version.contains("linked static)"),
        version.contains("linked shared)"),
    ) {
        (true, false) => false,
        (false, true) => true,
        _ => panic!("--version names no linkage: {version}"),
    };
    let ldd = Command::new("ldd")
        .arg(common::anycastd())
        .output()
        .expect("run ldd");
    let deps = String::from_utf8_lossy(&ldd.stdout).into_owned();
    let eal = deps
        .lines()
        .any(|l| l.trim_start().starts_with("librte_eal.so"));
    assert_eq!(eal, shared, "{version}{deps}");
}
