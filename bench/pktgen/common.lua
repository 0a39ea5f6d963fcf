-- Shared settings for the anycastd Pktgen-DPDK scripts. Override with environment variables:
--   ANYC_PORT      pktgen port facing anycastd (default "0")
--   ANYC_DUT_MAC   MAC of anycastd's NIC (required on real NICs)
--   ANYC_RATE      percent of line rate (default 100)
--   ANYC_SIZE      frame size incl. FCS (default 64)
--   ANYC_SECONDS   seconds of traffic (default 30)
-- The forward VIP matches bench/configs/anycastd.toml: 203.0.113.80 (TCP 80, UDP 443).
-- Loaded by the profile scripts with `dofile(dir .. "common.lua")`, `dir` being their own
-- directory, so pktgen can be started from any directory. Needs nothing from Pktgen's own
-- Lua files (its Pktgen.lua is found only from pktgen's source directory).

local M = {}

local function printf(...)
    io.write(string.format(...))
    io.flush()
end

M.port = os.getenv("ANYC_PORT") or "0"
M.dut_mac = os.getenv("ANYC_DUT_MAC") or "02:00:00:00:00:01"
M.rate = tonumber(os.getenv("ANYC_RATE") or "100")
M.size = tonumber(os.getenv("ANYC_SIZE") or "64")
M.seconds = tonumber(os.getenv("ANYC_SECONDS") or "30")
M.fwd_vip = "203.0.113.80"

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
    -- portStats gives the counters pktgen's timer last copied, once a second: wait for a copy
    -- made after the last frames came back.
    pktgen.delay(2000)
    local s = pktgen.portStats(p, "port")[tonumber(p)]
    local tx, rx = s.opackets, s.ipackets
    printf("anycastd %s: sent %d, received %d (%.3f / %.3f Mpps), loss %.2f%%\n", name, tx, rx,
        tx / M.seconds / 1e6, rx / M.seconds / 1e6, tx > 0 and (1 - rx / tx) * 100 or 0)
end

return M
