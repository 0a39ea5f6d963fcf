-- UDP to the forward VIP port 443 from the same range of sources as forward-tcp.lua (24,576
-- distinct tuples with Pktgen 23.06.1).
local c = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "common.lua")
c.range_sources("udp", 443, "100.64.0.0", "100.64.255.255")
c.run("forward-udp")
