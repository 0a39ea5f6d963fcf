/* anycastd C shim: exported wrappers for DPDK's static inline functions. */
#ifndef ANYCASTD_SHIM_H
#define ANYCASTD_SHIM_H
#include <stdint.h>
#include <rte_mbuf.h>

uint16_t anyc_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t anyc_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *anyc_pktmbuf_alloc(struct rte_mempool *mp);
int anyc_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void anyc_pktmbuf_free(struct rte_mbuf *m);
char *anyc_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *anyc_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
char *anyc_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int anyc_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
unsigned anyc_lcore_id(void);
int anyc_errno(void);
uint64_t anyc_tsc_cycles(void);
unsigned anyc_mempool_avail_count(const struct rte_mempool *mp);
int anyc_write_llvm_profile(void);
#endif
