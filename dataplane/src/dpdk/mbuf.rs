//! Mbufs: an owning [`Mbuf`] (freed on drop) and a borrowed [`MbufRef`] into a burst, both
//! implementing [`PacketBuffer`] over the first (only) segment.
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::packet::{BufferError, PacketBuffer};

/// Shared PacketBuffer operations over a raw single-segment mbuf.
///
/// SAFETY (for every function): `m` points to a valid mbuf that the caller may access exclusively.
mod raw {
    use super::*;

    #[inline]
    pub(super) unsafe fn data<'a>(m: NonNull<ffi::rte_mbuf>) -> &'a mut [u8] {
        let mb = m.as_ptr();
        let base = ((*mb).buf_addr as *mut u8).add(usize::from((*mb).data_off));
        std::slice::from_raw_parts_mut(base, usize::from((*mb).data_len))
    }

    #[inline]
    pub(super) unsafe fn headroom(m: NonNull<ffi::rte_mbuf>) -> usize {
        usize::from((*m.as_ptr()).data_off)
    }

    #[inline]
    pub(super) unsafe fn tailroom(m: NonNull<ffi::rte_mbuf>) -> usize {
        let mb = m.as_ptr();
        usize::from((*mb).buf_len) - usize::from((*mb).data_off) - usize::from((*mb).data_len)
    }

    #[inline]
    pub(super) unsafe fn prepend(m: NonNull<ffi::rte_mbuf>, len: usize) -> Result<(), BufferError> {
        let len = u16::try_from(len).map_err(|_| BufferError::NoHeadroom)?;
        let mb = m.as_ptr();
        if (*mb).nb_segs == 1 {
            // What rte_pktmbuf_prepend does, without the call (once per encapsulated packet).
            if len > (*mb).data_off {
                return Err(BufferError::NoHeadroom);
            }
            (*mb).data_off -= len;
            (*mb).data_len += len;
            (*mb).pkt_len += u32::from(len);
            return Ok(());
        }
        if ffi::anyc_pktmbuf_prepend(mb, len).is_null() {
            Err(BufferError::NoHeadroom)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub(super) unsafe fn adj(m: NonNull<ffi::rte_mbuf>, len: usize) -> Result<(), BufferError> {
        let len = u16::try_from(len).map_err(|_| BufferError::TooShort)?;
        if ffi::anyc_pktmbuf_adj(m.as_ptr(), len).is_null() {
            Err(BufferError::TooShort)
        } else {
            Ok(())
        }
    }

    #[inline(always)]
    pub(super) unsafe fn append(m: NonNull<ffi::rte_mbuf>, len: usize) -> Result<(), BufferError> {
        let len = u16::try_from(len).map_err(|_| BufferError::NoTailroom)?;
        let mb = m.as_ptr();
        if (*mb).nb_segs == 1 {
            // What rte_pktmbuf_append does to a one-segment mbuf, without the call (once per
            // DNS answer).
            if usize::from(len) > tailroom(m) {
                return Err(BufferError::NoTailroom);
            }
            (*mb).data_len += len;
            (*mb).pkt_len += u32::from(len);
            return Ok(());
        }
        if ffi::anyc_pktmbuf_append(mb, len).is_null() {
            Err(BufferError::NoTailroom)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub(super) unsafe fn trim(m: NonNull<ffi::rte_mbuf>, len: usize) -> Result<(), BufferError> {
        let len = u16::try_from(len).map_err(|_| BufferError::TooShort)?;
        if ffi::anyc_pktmbuf_trim(m.as_ptr(), len) != 0 {
            Err(BufferError::TooShort)
        } else {
            Ok(())
        }
    }
}

macro_rules! impl_packet_buffer {
    ($ty:ty) => {
        impl PacketBuffer for $ty {
            #[inline]
            fn data(&self) -> &[u8] {
                // SAFETY: self holds a valid mbuf; the slice borrows self immutably.
                unsafe { raw::data(self.raw) }
            }
            #[inline]
            fn data_mut(&mut self) -> &mut [u8] {
                // SAFETY: self holds a valid mbuf exclusively; the slice borrows self mutably.
                unsafe { raw::data(self.raw) }
            }
            #[inline]
            fn headroom(&self) -> usize {
                // SAFETY: self holds a valid mbuf.
                unsafe { raw::headroom(self.raw) }
            }
            #[inline]
            fn tailroom(&self) -> usize {
                // SAFETY: self holds a valid mbuf.
                unsafe { raw::tailroom(self.raw) }
            }
            #[inline]
            fn prepend(&mut self, len: usize) -> Result<(), BufferError> {
                // SAFETY: self holds a valid mbuf exclusively.
                unsafe { raw::prepend(self.raw, len) }
            }
            #[inline]
            fn adj(&mut self, len: usize) -> Result<(), BufferError> {
                // SAFETY: self holds a valid mbuf exclusively.
                unsafe { raw::adj(self.raw, len) }
            }
            #[inline(always)]
            fn append(&mut self, len: usize) -> Result<(), BufferError> {
                // SAFETY: self holds a valid mbuf exclusively.
                unsafe { raw::append(self.raw, len) }
            }
            #[inline]
            fn trim(&mut self, len: usize) -> Result<(), BufferError> {
                // SAFETY: self holds a valid mbuf exclusively.
                unsafe { raw::trim(self.raw, len) }
            }
        }
    };
}

/// An owned mbuf, freed on drop.
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<ffi::rte_mbuf>,
}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nothing else owns or frees.
    pub(crate) unsafe fn from_raw(raw: NonNull<ffi::rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    /// Gives up ownership (e.g. to a tx burst).
    pub(crate) fn into_raw(self) -> NonNull<ffi::rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// Copies `bytes` into the (empty, freshly allocated) mbuf's data area.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BufferError> {
        self.set_len(bytes.len())?;
        self.data_mut().copy_from_slice(bytes);
        Ok(())
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and nothing else frees it.
        unsafe { ffi::anyc_pktmbuf_free(self.raw.as_ptr()) }
    }
}

impl_packet_buffer!(Mbuf);

/// An mbuf borrowed from a [`super::Burst`]; the burst keeps ownership.
#[derive(Debug)]
pub struct MbufRef<'a> {
    raw: NonNull<ffi::rte_mbuf>,
    _burst: PhantomData<&'a mut ()>,
}

impl MbufRef<'_> {
    /// # Safety
    /// `raw` must be a valid mbuf owned by a burst that is mutably borrowed for the lifetime.
    pub(crate) unsafe fn new(raw: NonNull<ffi::rte_mbuf>) -> Self {
        MbufRef {
            raw,
            _burst: PhantomData,
        }
    }

    /// Number of segments (the dataplane handles single-segment packets only).
    pub fn segments(&self) -> u16 {
        // SAFETY: valid mbuf for the borrow's lifetime.
        unsafe { (*self.raw.as_ptr()).nb_segs }
    }

    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> u32 {
        // SAFETY: valid mbuf for the borrow's lifetime.
        unsafe { (*self.raw.as_ptr()).pkt_len }
    }
}

impl_packet_buffer!(MbufRef<'_>);
