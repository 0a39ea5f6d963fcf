//! Finds system DPDK with pkg-config, compiles the C shim and generates tightly allowlisted bindings.
use std::env;
use std::path::PathBuf;

const MIN_DPDK: &str = "22.11";

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/wrapper.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
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
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
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
