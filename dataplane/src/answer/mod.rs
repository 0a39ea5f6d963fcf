//! Traffic the dataplane answers itself: ARP, ICMP echo, NDP/ICMPv6, DNS. Each handler rewrites
//! the received frame in place into the reply and returns [`crate::verdict::Verdict::Answer`].
pub mod arp;
pub mod dns;
pub mod icmp;
pub mod icmp6;
pub mod ndp;

use crate::snapshot::Mac;

/// Turns the Ethernet header around: destination ← source, source ← `ours`.
#[inline]
pub fn reply_ethernet(frame: &mut [u8], ours: &Mac) {
    if let Some(eth) = frame.first_chunk_mut::<12>() {
        let (dst, src) = eth.split_at_mut(6);
        dst.copy_from_slice(src);
        src.copy_from_slice(ours);
    }
}

/// Swaps two equal-length, non-overlapping byte ranges of `buf` (addresses, ports).
#[inline]
pub fn swap_ranges(buf: &mut [u8], a: usize, b: usize, len: usize) {
    debug_assert!(a + len <= b || b + len <= a);
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let (first, second) = buf.split_at_mut(hi);
    first[lo..lo + len].swap_with_slice(&mut second[..len]);
}
