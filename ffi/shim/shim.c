/* anycastd C shim: DPDK implements these as static inline, so Rust cannot link to them directly.
 * Each wrapper is a one-line call; the Rust side calls them once per burst or per mbuf. */
#include <rte_config.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include "shim.h"

uint16_t anyc_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t anyc_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *anyc_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int anyc_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void anyc_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
char *anyc_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *anyc_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
char *anyc_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
int anyc_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
unsigned anyc_lcore_id(void) { return rte_lcore_id(); }
int anyc_errno(void) { return rte_errno; }
uint64_t anyc_tsc_cycles(void) { return rte_get_tsc_cycles(); }
unsigned anyc_mempool_avail_count(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }

/* LLVM's profile runtime, linked only into builds made with -Cprofile-generate or
 * -Cinstrument-coverage; weak, so the symbol is NULL in every other build. */
extern int __llvm_profile_write_file(void) __attribute__((weak));

/* Writes the profile counters of an instrumented build (its atexit handler would, but the
 * dataplane ends with _exit). Returns -1 when the build is not instrumented, else the
 * runtime's result (0 on success). */
int anyc_write_llvm_profile(void)
{
	return __llvm_profile_write_file ? __llvm_profile_write_file() : -1;
}
