-- Random sources: TCP to the forward VIP port 80 with the source address and port randomised
-- per packet (pktgen's random bitfields), the SYN-flood shape of traffic.
local c = dofile("bench/pktgen/common.lua")
c.setup("tcp", c.fwd_vip, 1024, 80)
-- Randomise the low 22 bits of the source address (offset 26) and the source port (offset 34).
pktgen.set(c.port, "random", "on")
pktgen.rnd(c.port, 0, 26, "..........XXXXXXXXXXXXXXXXXXXXXX")
pktgen.rnd(c.port, 1, 34, "XXXXXXXXXXXXXXXX................")
c.run("flood")
