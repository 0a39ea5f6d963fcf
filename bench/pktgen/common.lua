-- Shared settings for the anycastd Pktgen-DPDK scripts. Override with environment variables:
--   ANYC_PORT      pktgen port facing anycastd (default "0")
--   ANYC_DUT_MAC   MAC of anycastd's NIC (required on real NICs)
--   ANYC_SRC_IP    generator address on the port's subnet, with prefix (default 198.51.100.2/24)
--   ANYC_RATE      percent of line rate (default 100)
--   ANYC_SIZE      frame size incl. FCS (default 64)
--   ANYC_SECONDS   seconds of traffic (default 30)
-- Addresses match bench/configs/anycastd.toml: echo VIP 203.0.113.10, DNS VIP 203.0.113.53,
-- forward VIP 203.0.113.80 (TCP 80, UDP 443).
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;../?.lua"
require "Pktgen"

local M = {}
M.port = os.getenv("ANYC_PORT") or "0"
M.dut_mac = os.getenv("ANYC_DUT_MAC") or "02:00:00:00:00:01"
M.src_ip = os.getenv("ANYC_SRC_IP") or "198.51.100.2/24"
M.rate = tonumber(os.getenv("ANYC_RATE") or "100")
M.size = tonumber(os.getenv("ANYC_SIZE") or "64")
M.seconds = tonumber(os.getenv("ANYC_SECONDS") or "30")
M.echo_vip = "203.0.113.10"
M.dns_vip = "203.0.113.53"
M.fwd_vip = "203.0.113.80"

-- Common single-stream setup.
function M.setup(proto, dst_ip, sport, dport)
    pktgen.set_mac(M.port, "dst", M.dut_mac)
    pktgen.set_ipaddr(M.port, "src", M.src_ip)
    pktgen.set_ipaddr(M.port, "dst", dst_ip)
    pktgen.set_proto(M.port, proto)
    pktgen.set(M.port, "size", M.size)
    pktgen.set(M.port, "rate", M.rate)
    if sport then pktgen.set(M.port, "sport", sport) end
    if dport then pktgen.set(M.port, "dport", dport) end
end

-- Sources over a range (forward profiles): src IPs min..max and source ports 1024..65000.
function M.range_sources(proto, dport, src_min, src_max)
    local p = M.port
    pktgen.range.dst_mac(p, "start", M.dut_mac)
    pktgen.range.dst_ip(p, "start", M.fwd_vip)
    pktgen.range.dst_ip(p, "inc", "0.0.0.0")
    pktgen.range.dst_ip(p, "min", M.fwd_vip)
    pktgen.range.dst_ip(p, "max", M.fwd_vip)
    pktgen.range.src_ip(p, "start", src_min)
    pktgen.range.src_ip(p, "inc", "0.0.0.1")
    pktgen.range.src_ip(p, "min", src_min)
    pktgen.range.src_ip(p, "max", src_max)
    pktgen.range.dst_port(p, "start", dport)
    pktgen.range.dst_port(p, "inc", 0)
    pktgen.range.dst_port(p, "min", dport)
    pktgen.range.dst_port(p, "max", dport)
    pktgen.range.src_port(p, "start", 1024)
    pktgen.range.src_port(p, "inc", 1)
    pktgen.range.src_port(p, "min", 1024)
    pktgen.range.src_port(p, "max", 65000)
    pktgen.range.ip_proto(p, proto)
    pktgen.range.pkt_size(p, "start", M.size)
    pktgen.range.pkt_size(p, "inc", 0)
    pktgen.range.pkt_size(p, "min", M.size)
    pktgen.range.pkt_size(p, "max", M.size)
    pktgen.set(p, "rate", M.rate)
    pktgen.set_range(p, "on")
end

-- Runs for M.seconds, then prints offered and received packets and Mpps.
function M.run(name)
    local p = M.port
    pktgen.clr()
    pktgen.start(p)
    pktgen.delay(M.seconds * 1000)
    pktgen.stop(p)
    pktgen.delay(500)
    local s = pktgen.portStats(p, "port")[tonumber(p)]
    local tx, rx = s.opackets, s.ipackets
    printf("anycastd %s: sent %d, received %d (%.3f / %.3f Mpps), loss %.2f%%\n", name, tx, rx,
        tx / M.seconds / 1e6, rx / M.seconds / 1e6, tx > 0 and (1 - rx / tx) * 100 or 0)
end

return M
