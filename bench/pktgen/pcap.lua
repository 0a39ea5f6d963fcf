-- Replays the pcap given to pktgen with `-s 0:<file>` (frames from `anycastd-gen --pcap`: the
-- icmp, dns, arp and flood profiles) at ANYC_RATE percent and reports what came back, named
-- after ANYC_PROFILE. Pktgen sends the file's frames in a loop.
local c = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "common.lua")
pktgen.set(c.port, "rate", c.rate)
pktgen.pcap(c.port, "on")
c.run(os.getenv("ANYC_PROFILE") or "pcap")
