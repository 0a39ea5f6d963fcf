//! DNS wire-format constants (RFC 1035, RFC 6891, RFC 5001).

/// Header length.
pub const HEADER_LEN: usize = 12;
/// Type A.
pub const TYPE_A: u16 = 1;
/// Type NS.
pub const TYPE_NS: u16 = 2;
/// Type CNAME.
pub const TYPE_CNAME: u16 = 5;
/// Type SOA.
pub const TYPE_SOA: u16 = 6;
/// Type MB.
pub const TYPE_MB: u16 = 7;
/// Type MG.
pub const TYPE_MG: u16 = 8;
/// Type MR.
pub const TYPE_MR: u16 = 9;
/// Type PTR.
pub const TYPE_PTR: u16 = 12;
/// Type HINFO.
pub const TYPE_HINFO: u16 = 13;
/// Type MINFO.
pub const TYPE_MINFO: u16 = 14;
/// Type MX.
pub const TYPE_MX: u16 = 15;
/// Type TXT.
pub const TYPE_TXT: u16 = 16;
/// Type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Type SRV.
pub const TYPE_SRV: u16 = 33;
/// Type OPT (EDNS0).
pub const TYPE_OPT: u16 = 41;
/// Type DS.
pub const TYPE_DS: u16 = 43;
/// Type DNSKEY.
pub const TYPE_DNSKEY: u16 = 48;
/// Zone-transfer types, not answered over this path.
pub const TYPE_IXFR: u16 = 251;
/// AXFR.
pub const TYPE_AXFR: u16 = 252;
/// Meta type ANY (RFC 8482).
pub const TYPE_ANY: u16 = 255;

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Class CHAOS.
pub const CLASS_CH: u16 = 3;
/// Class ANY.
pub const CLASS_ANY: u16 = 255;

/// QR: a response.
pub const FLAG_QR: u16 = 0x8000;
/// AA: authoritative answer.
pub const FLAG_AA: u16 = 0x0400;
/// TC: truncated.
pub const FLAG_TC: u16 = 0x0200;
/// RD: recursion desired (copied from the query).
pub const FLAG_RD: u16 = 0x0100;

/// NOERROR.
pub const RCODE_NOERROR: u8 = 0;
/// FORMERR.
pub const RCODE_FORMERR: u8 = 1;
/// SERVFAIL.
pub const RCODE_SERVFAIL: u8 = 2;
/// NXDOMAIN.
pub const RCODE_NXDOMAIN: u8 = 3;
/// NOTIMP.
pub const RCODE_NOTIMP: u8 = 4;
/// REFUSED.
pub const RCODE_REFUSED: u8 = 5;
/// BADVERS (extended: 16 = upper bits 1, header 0).
pub const RCODE_BADVERS: u16 = 16;

/// EDNS option code of NSID (RFC 5001).
pub const OPT_NSID: u16 = 3;
/// EDNS option code of Extended DNS Errors (RFC 8914).
pub const OPT_EDE: u16 = 15;
/// EDE info code "Prohibited" (RFC 8914 §4.19).
pub const EDE_PROHIBITED: u16 = 18;
/// EDE info code "Not Authoritative" (RFC 8914 §4.21).
pub const EDE_NOT_AUTHORITATIVE: u16 = 20;
/// EDE info code "Not Supported" (RFC 8914 §4.22).
pub const EDE_NOT_SUPPORTED: u16 = 21;
/// The UDP payload size we advertise (DNS flag day 2020).
pub const OUR_UDP_SIZE: u16 = 1232;
/// The limit without EDNS (RFC 1035 §4.2.1).
pub const CLASSIC_UDP_SIZE: usize = 512;

/// Reads a big-endian u16 at `pos`, if in bounds.
#[inline]
pub fn get_u16(b: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(pos)?, *b.get(pos + 1)?]))
}

/// Reads a big-endian u32 at `pos`, if in bounds.
#[inline]
pub fn get_u32(b: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(pos)?,
        *b.get(pos + 1)?,
        *b.get(pos + 2)?,
        *b.get(pos + 3)?,
    ]))
}

/// Offset of the first name inside the RDATA of `rtype` whose target gets additional-section
/// processing (A/AAAA), as NSD 4.6 does: NS, MB (offset 0), MX (offset 2), SRV (offset 6).
pub fn additional_name_offset(rtype: u16) -> Option<usize> {
    match rtype {
        TYPE_NS | TYPE_MB => Some(0),
        TYPE_MX => Some(2),
        TYPE_SRV => Some(6),
        _ => None,
    }
}
