#!/usr/bin/python3
"""Decodes anycastd's encapsulated output with scapy (not the code that made it) and checks it
against the input: outer headers, byte-identical inner packets, valid checksums.

usage: check_encap.py IN.pcap OUT.pcap EXPECT.json
EXPECT.json: {"port_mac": "..", "cases": [{"input": i, "kind": "ipip"|"gue", "backend": ip,
              "backend_mac": mac, "outer_src": ip, "gue_port": n}]}
Prints one line per case and exits 1 on the first mismatch."""
import json
import sys

from scapy.all import GRE, IP, UDP, Ether, IPv6, Raw, rdpcap, raw  # noqa: F401

inp, out, expect = rdpcap(sys.argv[1]), rdpcap(sys.argv[2]), json.load(open(sys.argv[3]))


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def inner_ip_bytes(frame):
    e = Ether(raw(frame))
    return raw(e.payload)[: (e.payload.len if IP in e and e.type == 0x0800 else 40 + e.payload.plen)]


def outer_checksums_ok(pkt):
    if IP in pkt:
        ip = pkt[IP]
        again = IP(raw(ip))
        del again.chksum
        if IP(raw(again)).chksum != ip.chksum:
            return False
    if UDP in pkt and pkt[UDP].chksum not in (0, None):
        u = pkt[UDP]
        again = pkt.copy()
        del again[UDP].chksum
        if (IPv6 in again and again[IPv6].nh == 17) or IP in again:
            rebuilt = again.__class__(raw(again))
            if rebuilt[UDP].chksum != u.chksum:
                return False
    return True


encapsulated = []
for f in out:
    e = Ether(raw(f))
    if e.type == 0x0806:
        continue  # ARP requests for backends
    if IPv6 in e and e[IPv6].nh == 58:
        continue  # neighbour solicitations
    encapsulated.append(e)

if len(encapsulated) != len(expect["cases"]):
    fail(f"{len(encapsulated)} encapsulated packets, want {len(expect['cases'])}")

for case, e in zip(expect["cases"], encapsulated):
    want_inner = inner_ip_bytes(inp[case["input"]])
    if e.src.lower() != expect["port_mac"] or e.dst.lower() != case["backend_mac"]:
        fail(f"case {case}: MACs {e.src} -> {e.dst}")
    outer = e.payload
    v6 = e.type == 0x86DD
    if (outer.src, outer.dst) != (case["outer_src"], case["backend"]):
        fail(f"case {case}: outer {outer.src} -> {outer.dst}")
    ttl = outer.hlim if v6 else outer.ttl
    if ttl != 64:
        fail(f"case {case}: outer ttl {ttl}")
    proto = outer.nh if v6 else outer.proto
    body = raw(outer.payload)
    if case["kind"] == "ipip":
        inner_is_v6 = want_inner[0] >> 4 == 6
        if proto != (41 if inner_is_v6 else 4):
            fail(f"case {case}: outer protocol {proto}")
        got_inner = body
    else:
        if proto != 17 or UDP not in outer:
            fail(f"case {case}: not UDP")
        u = outer[UDP]
        if u.dport != case["gue_port"] or not 49152 <= u.sport <= 65535:
            fail(f"case {case}: GUE ports {u.sport}->{u.dport}")
        gue = raw(u.payload)[:4]
        inner_proto = 41 if want_inner[0] >> 4 == 6 else 4
        if gue[0] >> 6 != 0 or gue[1] != inner_proto:
            fail(f"case {case}: GUE header {gue.hex()}")
        if u.len != 8 + 4 + len(want_inner):
            fail(f"case {case}: UDP length {u.len}")
        got_inner = raw(u.payload)[4:]
    if got_inner != want_inner:
        fail(f"case {case}: inner packet differs\n got {got_inner.hex()}\nwant {want_inner.hex()}")
    if not outer_checksums_ok(e):
        fail(f"case {case}: outer checksum invalid")
    print(f"ok {case['kind']} {'v6' if v6 else 'v4'} outer {outer.src}->{outer.dst} inner {len(got_inner)} bytes identical")
print(f"{len(encapsulated)} encapsulated packets verified by scapy")
