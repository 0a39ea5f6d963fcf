-- Replays the pcap given to pktgen with -s (arp.pcap, dns.pcap from anycastd-gen --pcap) at
-- ANYC_RATE percent and reports what came back. Start pktgen with `-s 0:dns.pcap` and
-- `-f bench/pktgen/pcap.lua`.
local c = dofile("bench/pktgen/common.lua")
pktgen.set(c.port, "rate", c.rate)
pktgen.set(c.port, "pcap", "on")
c.run("pcap " .. (os.getenv("ANYC_PROFILE") or ""))
