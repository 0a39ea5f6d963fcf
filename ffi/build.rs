//! Finds system DPDK with pkg-config, compiles the C shim and generates tightly allowlisted bindings.
//!
//! DPDK's shared libraries are linked by default (EAL then loads the drivers from DPDK's plugin
//! directory, and `-d` can add others). `ANYCASTD_DPDK_LINK=static` links its archives instead
//! (`pkg-config --static`, every driver whole): a binary that needs no DPDK shared library.
use std::env;
use std::path::PathBuf;

const MIN_DPDK: &str = "22.11";

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/wrapper.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=ANYCASTD_DPDK_LINK");

    let statik = match env::var("ANYCASTD_DPDK_LINK").as_deref() {
        Ok("static") => true,
        Ok("shared") | Err(_) => false,
        Ok(other) => {
            eprintln!(
                "\nerror: ANYCASTD_DPDK_LINK={other:?}: use \"shared\" (default) or \"static\"\n"
            );
            std::process::exit(1);
        }
    };
    let dpdk = match pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .cargo_metadata(!statik)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(err) => {
            eprintln!(
                "\nerror: DPDK >= {MIN_DPDK} was not found with pkg-config ({err}).\n\
                 Install it with: apt-get install dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev\n\
                 (or set PKG_CONFIG_PATH to the directory holding libdpdk.pc)\n"
            );
            std::process::exit(1);
        }
    };

    if statik {
        link_static(&dpdk.link_paths);
    }
    println!("cargo:rustc-env=ANYCASTD_DPDK_VERSION={}", dpdk.version);
    println!(
        "cargo:rustc-env=ANYCASTD_DPDK_LINKED={}",
        if statik { "static" } else { "shared" }
    );

    // pkg-config's cflags carry -include rte_config.h and -march; pass them to cc and clang alike.
    let cflags: Vec<String> = pkg_config::get_variable("libdpdk", "cflags")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_else(|| {
            let out = std::process::Command::new("pkg-config")
                .args(["--cflags", "libdpdk"])
                .output()
                .expect("pkg-config --cflags libdpdk");
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        });

    let mut build = cc::Build::new();
    build.file("shim/shim.c").warnings(false).opt_level(3);
    for path in &dpdk.include_paths {
        build.include(path);
    }
    for flag in &cflags {
        if !flag.starts_with("-I") {
            build.flag(flag);
        }
    }
    build.compile("anycastd_shim");

    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut bindings = bindgen::Builder::default()
        .header("shim/wrapper.h")
        .clang_macro_fallback()
        // Keep the fallback's precompiled header out of the source tree (and away from other
        // builds of this crate running at the same time).
        .clang_macro_fallback_build_dir(&out_dir)
        .layout_tests(false)
        .derive_default(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        // Packed 22.11 types Rust rejects; keep them opaque.
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .allowlist_function("anyc_.*")
        .allowlist_function("rte_eal_(init|cleanup|process_type)")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_lcore_count")
        .allowlist_function("rte_thread_(register|unregister)")
        .allowlist_function("rte_get_tsc_hz")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_pktmbuf_free_bulk")
        .allowlist_function("rte_mempool_(free|in_use_count|avail_count)")
        .allowlist_function("rte_eth_dev_(configure|start|stop|close|info_get|count_avail|get_port_by_name|get_name_by_port|socket_id|set_mtu|adjust_nb_rx_tx_desc|rss_hash_conf_get)")
        .allowlist_function("rte_eth_(rx|tx)_queue_setup")
        .allowlist_function("rte_eth_(promiscuous_enable|allmulticast_enable|macaddr_get|link_get_nowait|stats_get|stats_reset)")
        .allowlist_function("rte_eth_xstats_(get|get_names|reset)")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_mempool")
        .allowlist_type("rte_eth_(conf|dev_info|stats|link|xstat|xstat_name|rxconf|txconf|rss_conf)")
        .allowlist_type("rte_ether_addr")
        .allowlist_var("RTE_ETH_(RSS|RX_OFFLOAD|TX_OFFLOAD|MQ_RX|MQ_TX|LINK)_.*")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_MBUF_DEFAULT_(BUF_SIZE|DATAROOM)")
        .allowlist_var("RTE_ETHER_MTU")
        .allowlist_var("RTE_MAX_LCORE")
        .allowlist_var("RTE_MBUF_F_.*")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("SOCKET_ID_ANY")
        .clang_arg("-Ishim");
    for path in &dpdk.include_paths {
        bindings = bindings.clang_arg(format!("-I{}", path.display()));
    }
    for flag in &cflags {
        if flag.starts_with("-I")
            || flag == "-include"
            || flag.ends_with(".h")
            || flag.starts_with("-D")
        {
            bindings = bindings.clang_arg(flag.clone());
        }
    }
    let bindings = bindings
        .generate()
        .expect("bindgen failed on the DPDK headers (is libclang-dev installed?)");
    let out = out_dir.join("bindings.rs");
    bindings.write_to_file(out).expect("write bindings.rs");
}

/// Emits the link directives of `pkg-config --static --libs libdpdk`: each DPDK archive inside
/// its `--whole-archive` group whole (drivers register themselves from constructors nothing
/// else references), the shared `-lrte_*` duplicates left out, and the system libraries it
/// names that the C compiler finds (Debian's `libdpdk.pc` names `-lsystemd`, which no linked
/// driver uses and whose `-dev` package is often absent). `dirs`: pkg-config's library paths.
fn link_static(dirs: &[PathBuf]) {
    let out = std::process::Command::new("pkg-config")
        .args(["--static", "--libs", "libdpdk"])
        .output()
        .expect("pkg-config --static --libs libdpdk");
    if !out.status.success() {
        eprintln!(
            "\nerror: pkg-config --static --libs libdpdk failed: {}\n\
             (leave ANYCASTD_DPDK_LINK unset to link DPDK's shared libraries)\n",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        std::process::exit(1);
    }
    let libs = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut whole = false;
    for t in libs.split_whitespace() {
        if t == "-Wl,--whole-archive" {
            whole = true;
        } else if t == "-Wl,--no-whole-archive" {
            whole = false;
        } else if let Some(dir) = t.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(archive) = t.strip_prefix("-l:") {
            let kind = if whole {
                "static:+whole-archive,-bundle,+verbatim"
            } else {
                "static:-bundle,+verbatim"
            };
            println!("cargo:rustc-link-lib={kind}={archive}");
        } else if let Some(name) = t.strip_prefix("-l") {
            if name.starts_with("rte_") {
                continue; // the shared twin of an archive already linked
            }
            if has_library(name) {
                println!("cargo:rustc-link-lib=dylib={name}");
            } else {
                println!("cargo:warning=DPDK's static link names -l{name}, not found: left out");
            }
        }
    }
    for d in dirs {
        println!("cargo:rustc-link-search=native={}", d.display());
    }
}

/// True when the C compiler's driver finds `lib<name>.so` or `lib<name>.a` (it prints the bare
/// name back when it does not).
fn has_library(name: &str) -> bool {
    let cc = cc::Build::new().get_compiler();
    ["so", "a"].iter().any(|ext| {
        let file = format!("lib{name}.{ext}");
        std::process::Command::new(cc.path())
            .arg(format!("-print-file-name={file}"))
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() != file)
    })
}
