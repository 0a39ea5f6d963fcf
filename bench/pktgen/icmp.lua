-- ICMP echo requests to the echo VIP; anycastd answers every one.
local c = dofile("bench/pktgen/common.lua")
c.setup("icmp", c.echo_vip)
c.run("icmp")
