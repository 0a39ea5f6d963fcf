-- TCP to the forward VIP port 80 from a range of sources (100.64.0.0/16, ports 1024..65000,
-- both stepping by one per packet): anycastd takes each new tuple's first packet as a new flow
-- (pktgen's TCP flags are ACK: a flow picked up mid-stream) and encapsulates to a backend.
-- Pktgen 23.06.1 builds a range's packets into its transmit mbufs once, so the tuples repeat
-- after that pool (24,576 mbufs): 24,576 flows, then hits. Forwarded packets come back to
-- pktgen (the backends are off-link, reached through the sender's MAC).
local c = dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "common.lua")
c.range_sources("tcp", 80, "100.64.0.0", "100.64.255.255")
c.run("forward-tcp")
