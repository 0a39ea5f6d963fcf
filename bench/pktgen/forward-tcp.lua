-- TCP to the forward VIP port 80 from 65536 source addresses × 63977 source ports (the range
-- walks one tuple per packet, so every packet of the first pass opens a new flow). anycastd
-- encapsulates to the backends; count them on the backend side or with IPIP reflected back.
local c = dofile("bench/pktgen/common.lua")
c.range_sources("tcp", 80, "100.64.0.0", "100.64.255.255")
c.run("forward-tcp")
