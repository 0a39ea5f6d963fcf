//! Turning a query frame around into its response: Ethernet, IP and UDP headers rewritten with
//! fixed-size moves, and the UDP checksum built from sums the caller already has (the message's
//! own, the addresses', the ports') instead of reading the response again.
//!
//! Swapping the addresses or the ports does not change their one's-complement sum, so the
//! checksum of the response can be computed before the headers are turned around.
use crate::packet::checksum;
use crate::packet::parse::IPPROTO_UDP;
use crate::packet::{IpMeta, PacketBuffer};

/// TTL / hop limit of our responses.
pub const REPLY_TTL: u8 = 64;

/// Fixed-size view of `N` bytes at `at`.
#[inline(always)]
fn array<const N: usize>(frame: &[u8], at: usize) -> Option<&[u8; N]> {
    frame.get(at..at + N)?.try_into().ok()
}

/// Fixed-size writable view of `N` bytes at `at`.
#[inline(always)]
fn array_mut<const N: usize>(frame: &mut [u8], at: usize) -> Option<&mut [u8; N]> {
    frame.get_mut(at..at + N)?.try_into().ok()
}

/// The one's-complement sum of the source and destination addresses (16-bit folded), the same
/// before and after they are swapped.
#[inline(always)]
pub fn addr_sum(frame: &[u8], ip: &IpMeta) -> Option<u32> {
    let l3 = ip.l3;
    if ip.src.is_ipv6() {
        Some(checksum::sum_array(0, array::<32>(frame, l3 + 8)?))
    } else {
        Some(checksum::sum_array(0, array::<8>(frame, l3 + 12)?))
    }
}

/// The UDP checksum field of a datagram of `udp_len` bytes: `addrs` from [`addr_sum`], the two
/// ports as 16-bit words, `msg` the one's-complement sum of the payload (folded to at most
/// 17 bits, at an even offset). Zero comes out as `0xffff` (RFC 768).
#[inline]
pub fn udp_checksum(addrs: u32, ports: u32, udp_len: usize, msg: u32) -> u16 {
    // The pseudo-header's protocol and length, the UDP header's length (checksum field zero).
    let len = udp_len as u32;
    let acc = addrs + u32::from(IPPROTO_UDP) + 2 * ((len >> 16) + (len & 0xffff)) + ports + msg;
    // `acc` is never zero (the protocol is in it), so its fold is what a fresh sum folds to.
    match checksum::finish(acc) {
        0 => 0xffff,
        c => c,
    }
}

/// True when a received datagram of `udp_len` bytes with checksum field `sum` verifies: `addrs`
/// from [`addr_sum`], `ports` from [`port_sum`], `msg` the payload's sum (at an even offset).
#[inline(always)]
pub fn udp_checksum_ok(addrs: u32, ports: u32, udp_len: usize, sum: u16, msg: u32) -> bool {
    let acc = addrs + u32::from(IPPROTO_UDP) + 2 * udp_len as u32 + ports + u32::from(sum) + msg;
    checksum::finish(acc) == 0
}

/// Makes the `len`-byte frame in `buf` `want` bytes long: what [`PacketBuffer::set_len`] does,
/// without asking the buffer its length again. `None` when it has not the room.
#[inline(always)]
pub fn resize<B: PacketBuffer>(buf: &mut B, len: usize, want: usize) -> Option<()> {
    let resized = if want >= len {
        buf.append(want - len)
    } else {
        buf.trim(len - want)
    };
    resized.ok()
}

/// The two UDP ports of the datagram at `l4`, summed as 16-bit words.
#[inline(always)]
pub fn port_sum(frame: &[u8], l4: usize) -> Option<u32> {
    let p = array::<4>(frame, l4)?;
    Some(u32::from(u16::from_be_bytes([p[0], p[1]])) + u32::from(u16::from_be_bytes([p[2], p[3]])))
}

/// Turns the frame around for a UDP response of `udp_len` bytes with checksum `udp_sum`: MACs
/// (ours as the source), addresses, ports, lengths, TTL / hop limit, IPv4 header checksum.
/// `addrs` is [`addr_sum`] of the frame (an option-less IPv4 header's checksum adds the other
/// words to it). `None` (the frame possibly half-written) only when the caller's offsets are
/// off the frame.
#[inline(always)]
pub fn turn(
    frame: &mut [u8],
    ip: &IpMeta,
    mac: &[u8; 6],
    udp_len: usize,
    udp_sum: u16,
    addrs: u32,
) -> Option<()> {
    let (l3, l4) = (ip.l3, ip.l4);
    let eth = array_mut::<12>(frame, 0)?;
    let client: [u8; 6] = eth[6..].try_into().ok()?;
    eth[..6].copy_from_slice(&client);
    eth[6..].copy_from_slice(mac);
    if ip.src.is_ipv6() {
        let h = array_mut::<40>(frame, l3)?;
        let src: [u8; 16] = h[8..24].try_into().ok()?;
        let dst: [u8; 16] = h[24..40].try_into().ok()?;
        h[8..24].copy_from_slice(&dst);
        h[24..40].copy_from_slice(&src);
        h[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        h[7] = REPLY_TTL;
    } else {
        let total = (l4 - l3 + udp_len) as u16;
        let h = array_mut::<20>(frame, l3)?;
        let src: [u8; 4] = h[12..16].try_into().ok()?;
        let dst: [u8; 4] = h[16..20].try_into().ok()?;
        h[12..16].copy_from_slice(&dst);
        h[16..20].copy_from_slice(&src);
        // The header's words are summed from the values written, not read back: a word load
        // over bytes just stored one by one would wait for those stores to retire.
        let (vihl_tos, ident) = (
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[4], h[5]]),
        );
        let flags = h[6] & 0x40; // keep DF, clear MF/offset
        let proto = h[9];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6..9].copy_from_slice(&[flags, 0, REPLY_TTL]);
        h[10..12].copy_from_slice(&[0, 0]);
        let c = if l4 - l3 == 20 {
            // The swapped addresses sum to `addrs` still; the checksum field is zero.
            let w = |hi: u8, lo: u8| u32::from(u16::from_be_bytes([hi, lo]));
            checksum::finish(
                addrs
                    + u32::from(vihl_tos)
                    + u32::from(total)
                    + u32::from(ident)
                    + w(flags, 0)
                    + w(REPLY_TTL, proto),
            )
        } else {
            checksum::checksum(frame.get(l3..l4)?)
        };
        frame
            .get_mut(l3 + 10..l3 + 12)?
            .copy_from_slice(&c.to_be_bytes());
    }
    let u = array_mut::<8>(frame, l4)?;
    let len = (udp_len as u16).to_be_bytes();
    let sum = udp_sum.to_be_bytes();
    *u = [u[2], u[3], u[0], u[1], len[0], len[1], sum[0], sum[1]];
    Some(())
}
