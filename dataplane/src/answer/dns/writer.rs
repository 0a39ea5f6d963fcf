//! Writes a response message into a byte slice: records appended with bounds checks and
//! rollback, names compressed (RFC 1035 §4.1.4) against every name already written. Fixed-size
//! state only: no allocation.
use super::wire::{
    TYPE_CNAME, TYPE_MB, TYPE_MG, TYPE_MINFO, TYPE_MR, TYPE_MX, TYPE_NS, TYPE_PTR, TYPE_SOA,
};

/// Most name positions remembered for compression.
const MAX_COMP: usize = 64;
/// Pointers are 14 bits.
const MAX_POINTER: usize = 0x3fff;

/// Where an owner name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerName<'a> {
    /// A compression pointer to a name already in the message (the question's, at 12).
    Pointer(u16),
    /// An uncompressed wire name, written compressed.
    Name(&'a [u8]),
}

/// The record could not be written: the message would exceed its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// A DNS message being written into `buf[..limit]`.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    /// Write position.
    pub pos: usize,
    /// Size the message must not exceed.
    pub limit: usize,
    comp: [u16; MAX_COMP],
    /// Uncompressed length of the name starting at each remembered offset: only names of the
    /// same length are compared byte by byte.
    comp_len: [u8; MAX_COMP],
    ncomp: usize,
}

impl<'a> Writer<'a> {
    /// A writer over `buf`, starting at `pos`, never writing at or beyond `limit`.
    pub fn new(buf: &'a mut [u8], pos: usize, limit: usize) -> Self {
        let limit = limit.min(buf.len());
        Self {
            buf,
            pos,
            limit,
            comp: [0; MAX_COMP],
            comp_len: [0; MAX_COMP],
            ncomp: 0,
        }
    }

    /// The message bytes.
    pub fn buf(&mut self) -> &mut [u8] {
        self.buf
    }

    /// Remembers the labels of a name already in the message at `off` (the question) so later
    /// names compress against it.
    pub fn remember_name(&mut self, off: usize) {
        let total = super::db::wire_name_len(self.buf.get(off..).unwrap_or(&[]));
        let mut i = off;
        while let Some(&len) = self.buf.get(i) {
            if len == 0 || len & 0xc0 != 0 || i >= off + total {
                break;
            }
            self.remember(i, total - (i - off));
            i += 1 + usize::from(len);
        }
    }

    fn remember(&mut self, off: usize, name_len: usize) {
        if off <= MAX_POINTER && self.ncomp < MAX_COMP {
            self.comp[self.ncomp] = off as u16;
            self.comp_len[self.ncomp] = name_len.min(255) as u8;
            self.ncomp += 1;
        }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.pos + bytes.len();
        if end > self.limit {
            return Err(Full);
        }
        self.buf
            .get_mut(self.pos..end)
            .ok_or(Full)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Appends raw bytes.
    #[inline]
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), Full> {
        self.put(bytes)
    }

    /// Stores a u16 at an absolute position already written.
    #[inline]
    pub fn set_u16(&mut self, at: usize, v: u16) {
        if let Some(b) = self.buf.get_mut(at..at + 2) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Reads a u16 at an absolute position.
    #[inline]
    pub fn get_u16(&self, at: usize) -> u16 {
        super::wire::get_u16(self.buf, at).unwrap_or(0)
    }

    /// True when the name at message offset `off` (following pointers) equals the uncompressed
    /// `name`, ignoring ASCII case.
    fn name_at_equals(&self, mut off: usize, name: &[u8]) -> bool {
        let mut i = 0usize;
        let mut hops = 0;
        loop {
            let Some(&len) = self.buf.get(off) else {
                return false;
            };
            if len & 0xc0 == 0xc0 {
                let Some(&lo) = self.buf.get(off + 1) else {
                    return false;
                };
                hops += 1;
                if hops > 16 {
                    return false;
                }
                off = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                continue;
            }
            let Some(&want) = name.get(i) else {
                return false;
            };
            if want != len {
                return false;
            }
            if len == 0 {
                return true;
            }
            let n = usize::from(len);
            let (Some(a), Some(b)) = (
                self.buf.get(off + 1..off + 1 + n),
                name.get(i + 1..i + 1 + n),
            ) else {
                return false;
            };
            if !a.eq_ignore_ascii_case(b) {
                return false;
            }
            off += 1 + n;
            i += 1 + n;
        }
    }

    /// Writes `name` (uncompressed wire form) compressed against names already written.
    pub fn name(&mut self, name: &[u8]) -> Result<(), Full> {
        // Find the longest suffix already in the message.
        let mut start = 0usize;
        let mut found: Option<u16> = None;
        while let Some(&len) = name.get(start) {
            if len == 0 {
                break;
            }
            let suffix = name.get(start..).unwrap_or(&[]);
            let slen = suffix.len().min(255) as u8;
            let hit = (0..self.ncomp).find(|&k| {
                self.comp_len[k] == slen && self.name_at_equals(usize::from(self.comp[k]), suffix)
            });
            if let Some(k) = hit {
                found = Some(self.comp[k]);
                break;
            }
            start += 1 + usize::from(len);
        }
        let head = name.get(..start).unwrap_or(&[]);
        let base = self.pos;
        match found {
            Some(off) => {
                self.put(head)?;
                self.put(&(0xc000 | off).to_be_bytes())?;
            }
            None => self.put(name)?,
        }
        // Remember the labels just written.
        let mut i = 0usize;
        while i < head.len() {
            self.remember(base + i, name.len() - i);
            i += 1 + usize::from(head[i]);
        }
        Ok(())
    }

    /// Forgets compression targets at or beyond `pos` (after a rollback).
    fn rollback(&mut self, pos: usize) {
        self.pos = pos;
        while self.ncomp > 0 && usize::from(self.comp[self.ncomp - 1]) >= pos {
            self.ncomp -= 1;
        }
    }

    /// Writes one record: owner, type, class, TTL, and RDATA with its embedded names compressed
    /// for the RFC 1035 types NSD compresses. All or nothing.
    pub fn record(
        &mut self,
        owner: OwnerName<'_>,
        rtype: u16,
        class: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), Full> {
        let mark = self.pos;
        let r = self.record_inner(owner, rtype, class, ttl, rdata);
        if r.is_err() {
            self.rollback(mark);
        }
        r
    }

    fn record_inner(
        &mut self,
        owner: OwnerName<'_>,
        rtype: u16,
        class: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), Full> {
        match owner {
            OwnerName::Pointer(p) => self.put(&(0xc000 | p).to_be_bytes())?,
            OwnerName::Name(n) => self.name(n)?,
        }
        let mut fixed = [0u8; 10];
        fixed[0..2].copy_from_slice(&rtype.to_be_bytes());
        fixed[2..4].copy_from_slice(&class.to_be_bytes());
        fixed[4..8].copy_from_slice(&ttl.to_be_bytes());
        fixed[8..10].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.put(&fixed)?;
        let rd_start = self.pos;
        let (prefix, names) = match rtype {
            TYPE_NS | TYPE_CNAME | TYPE_PTR | TYPE_MB | TYPE_MG | TYPE_MR => (0, 1),
            TYPE_MX => (2, 1),
            TYPE_SOA | TYPE_MINFO => (0, 2),
            _ => (0, 0),
        };
        if names == 0 {
            return self.put(rdata);
        }
        self.put(rdata.get(..prefix).ok_or(Full)?)?;
        let mut at = prefix;
        for _ in 0..names {
            let len = super::db::wire_name_len(rdata.get(at..).unwrap_or(&[]));
            if len == 0 {
                // Not a name after all: copy the rest as is.
                break;
            }
            self.name(rdata.get(at..at + len).ok_or(Full)?)?;
            at += len;
        }
        self.put(rdata.get(at..).unwrap_or(&[]))?;
        let rdlen = (self.pos - rd_start) as u16;
        self.set_u16(rd_start - 2, rdlen);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_against_the_question_and_earlier_names() {
        let mut buf = [0u8; 512];
        let q = b"\x03www\x07example\x04test\x00";
        buf[12..12 + q.len()].copy_from_slice(q);
        let mut w = Writer::new(&mut buf, 12 + q.len(), 512);
        w.remember_name(12);
        // "EXAMPLE.test" is the question's suffix: a bare pointer to offset 16.
        w.name(b"\x07EXAMPLE\x04test\x00").unwrap();
        assert_eq!(&w.buf[30..32], &[0xc0, 16]);
        // "mail.example.test": one label then a pointer.
        w.name(b"\x04mail\x07example\x04test\x00").unwrap();
        assert_eq!(&w.buf[32..39], b"\x04mail\xc0\x10");
        // and now "mail.example.test" itself compresses to offset 32.
        w.name(b"\x04mail\x07example\x04test\x00").unwrap();
        assert_eq!(&w.buf[39..41], &[0xc0, 32]);
        // A foreign name goes out whole.
        w.name(b"\x03org\x00").unwrap();
        assert_eq!(&w.buf[41..46], b"\x03org\x00");
    }

    #[test]
    fn a_record_that_does_not_fit_is_rolled_back() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf, 12, 40);
        let r = w.record(
            OwnerName::Pointer(12),
            16,
            1,
            60,
            &[5, b'h', b'e', b'l', b'l', b'o'],
        );
        assert_eq!(r, Ok(()));
        let pos = w.pos;
        assert_eq!(pos, 12 + 2 + 10 + 6);
        assert_eq!(
            w.record(OwnerName::Name(b"\x05abcde\x00"), 1, 1, 60, &[1, 2, 3, 4]),
            Err(Full)
        );
        assert_eq!(w.pos, pos);
    }
}
