//! Packet buffers, header parsing and checksums. No DPDK types live here: the [`PacketBuffer`]
//! trait is implemented by `dpdk::Mbuf` and by [`TestBuffer`], so all packet logic is tested on
//! plain byte buffers.
pub mod checksum;
pub mod parse;

pub use parse::{parse, IpMeta, Parsed};

/// Why a buffer could not be resized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufferError {
    /// Not enough headroom in front of the data.
    #[error("not enough headroom")]
    NoHeadroom,
    /// Not enough tailroom after the data.
    #[error("not enough tailroom")]
    NoTailroom,
    /// Asked to remove more bytes than the packet holds.
    #[error("packet is shorter than the requested length")]
    TooShort,
}

/// A single-segment packet buffer: contiguous data with headroom in front and tailroom behind.
///
/// Mirrors the mbuf operations DPDK offers (`prepend`, `adj`, `append`, `trim`).
pub trait PacketBuffer {
    /// The packet's bytes.
    fn data(&self) -> &[u8];
    /// The packet's bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Free bytes in front of the data.
    fn headroom(&self) -> usize;
    /// Free bytes after the data.
    fn tailroom(&self) -> usize;
    /// Grows the packet at the front by `len` bytes (contents of the new bytes unspecified).
    fn prepend(&mut self, len: usize) -> Result<(), BufferError>;
    /// Removes `len` bytes from the front.
    fn adj(&mut self, len: usize) -> Result<(), BufferError>;
    /// Grows the packet at the end by `len` bytes (contents of the new bytes unspecified).
    fn append(&mut self, len: usize) -> Result<(), BufferError>;
    /// Removes `len` bytes from the end.
    fn trim(&mut self, len: usize) -> Result<(), BufferError>;

    /// The packet length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True when the packet holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sets the packet length to `len`, appending or trimming at the end.
    fn set_len(&mut self, len: usize) -> Result<(), BufferError> {
        let cur = self.len();
        if len >= cur {
            self.append(len - cur)
        } else {
            self.trim(cur - len)
        }
    }
}

/// A Vec-backed [`PacketBuffer`] for tests and benchmarks, with mbuf-like head- and tailroom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBuffer {
    storage: Vec<u8>,
    start: usize,
    end: usize,
}

impl TestBuffer {
    /// Default headroom, as DPDK's `RTE_PKTMBUF_HEADROOM`.
    pub const DEFAULT_HEADROOM: usize = 128;
    /// Default total capacity, as DPDK's default 2048-byte data room plus headroom.
    pub const DEFAULT_CAPACITY: usize = 2048 + Self::DEFAULT_HEADROOM;

    /// A buffer holding `bytes`, with default head- and tailroom.
    pub fn new(bytes: &[u8]) -> Self {
        Self::with_room(bytes, Self::DEFAULT_HEADROOM, Self::DEFAULT_CAPACITY)
    }

    /// A buffer holding `bytes` with `headroom` bytes in front and a total capacity of `capacity`
    /// (at least headroom + data).
    pub fn with_room(bytes: &[u8], headroom: usize, capacity: usize) -> Self {
        let capacity = capacity.max(headroom + bytes.len());
        let mut storage = vec![0u8; capacity];
        storage[headroom..headroom + bytes.len()].copy_from_slice(bytes);
        Self {
            storage,
            start: headroom,
            end: headroom + bytes.len(),
        }
    }

    /// Replaces the data with `bytes`, keeping the default headroom (reuse in benchmarks).
    pub fn reset(&mut self, bytes: &[u8]) {
        self.start = Self::DEFAULT_HEADROOM.min(self.storage.len() - bytes.len());
        self.end = self.start + bytes.len();
        self.storage[self.start..self.end].copy_from_slice(bytes);
    }
}

impl PacketBuffer for TestBuffer {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.end]
    }
    #[inline]
    fn headroom(&self) -> usize {
        self.start
    }
    #[inline]
    fn tailroom(&self) -> usize {
        self.storage.len() - self.end
    }
    #[inline]
    fn prepend(&mut self, len: usize) -> Result<(), BufferError> {
        if len > self.start {
            return Err(BufferError::NoHeadroom);
        }
        self.start -= len;
        Ok(())
    }
    #[inline]
    fn adj(&mut self, len: usize) -> Result<(), BufferError> {
        if len > self.end - self.start {
            return Err(BufferError::TooShort);
        }
        self.start += len;
        Ok(())
    }
    #[inline]
    fn append(&mut self, len: usize) -> Result<(), BufferError> {
        if len > self.tailroom() {
            return Err(BufferError::NoTailroom);
        }
        self.end += len;
        Ok(())
    }
    #[inline]
    fn trim(&mut self, len: usize) -> Result<(), BufferError> {
        if len > self.end - self.start {
            return Err(BufferError::TooShort);
        }
        self.end -= len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_buffer_grows_and_shrinks_like_an_mbuf() {
        let mut b = TestBuffer::with_room(&[1, 2, 3], 4, 10);
        assert_eq!(b.headroom(), 4);
        assert_eq!(b.tailroom(), 3);
        b.prepend(2).unwrap();
        assert_eq!(b.len(), 5);
        assert_eq!(&b.data()[2..], &[1, 2, 3]);
        assert_eq!(b.prepend(3), Err(BufferError::NoHeadroom));
        b.adj(2).unwrap();
        b.append(3).unwrap();
        assert_eq!(b.append(1), Err(BufferError::NoTailroom));
        b.trim(3).unwrap();
        assert_eq!(b.data(), &[1, 2, 3]);
        assert_eq!(b.trim(4), Err(BufferError::TooShort));
        b.set_len(1).unwrap();
        assert_eq!(b.data(), &[1]);
    }
}
