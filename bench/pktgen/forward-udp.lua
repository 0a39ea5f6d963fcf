-- UDP to the forward VIP port 443 from 65536 sources (see forward-tcp.lua).
local c = dofile("bench/pktgen/common.lua")
c.range_sources("udp", 443, "100.64.0.0", "100.64.255.255")
c.run("forward-udp")
