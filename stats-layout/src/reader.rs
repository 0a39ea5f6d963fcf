//! The sidecar's side of a segment: [`Reader`], and the reading of a segment's words that
//! both sides use.
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;

use crate::seqlock::seq_read;
use crate::{
    h, p, port_offset, segment_words, services, w, words, worker_offset, HeaderValues, PortValues,
    RunState, SegmentValues, WorkerValues, HEADER_WORDS, LAYOUT_VERSION, MAGIC, MAX_PORTS,
    MAX_WORKERS, PORT_NAME_BYTES,
};

pub(crate) fn read_worker(words: &[AtomicU64], i: usize) -> (WorkerValues, bool) {
    let off = worker_offset(i);
    let mut buf = [0u64; w::VALUES];
    let settled = seq_read(&words[off..off + 1 + w::VALUES], &mut buf);
    (WorkerValues::from_words(&buf), settled)
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

pub(crate) fn read_words(hw: &[AtomicU64]) -> io::Result<SegmentValues> {
    if hw.len() < HEADER_WORDS || hw[h::MAGIC].load(Ordering::Acquire) != MAGIC {
        return Err(bad("not an anycastd stats segment (bad magic)"));
    }
    let version = hw[h::VERSION].load(Ordering::Relaxed);
    if version != LAYOUT_VERSION {
        return Err(bad(format!(
            "stats layout version {version}, this build reads {LAYOUT_VERSION}"
        )));
    }
    let workers = hw[h::WORKERS].load(Ordering::Relaxed) as usize;
    let ports = hw[h::PORTS].load(Ordering::Relaxed) as usize;
    if workers > MAX_WORKERS || ports > MAX_PORTS || segment_words(workers, ports) > hw.len() {
        return Err(bad("stats segment is truncated or inconsistent"));
    }
    let header = HeaderValues {
        version,
        workers,
        ports,
        pid: hw[h::PID].load(Ordering::Relaxed) as u32,
        start_unix_ms: hw[h::START_UNIX_MS].load(Ordering::Relaxed),
        generation: hw[h::GENERATION].load(Ordering::Relaxed),
        heartbeat_unix_ms: hw[h::HEARTBEAT_UNIX_MS].load(Ordering::Acquire),
        heartbeat_clock_ms: hw[h::HEARTBEAT_CLOCK_MS].load(Ordering::Relaxed),
        state: RunState::from_word(hw[h::STATE].load(Ordering::Acquire)),
        reloads: hw[h::RELOADS].load(Ordering::Relaxed),
        reload_failures: hw[h::RELOAD_FAILURES].load(Ordering::Relaxed),
    };
    let mut out = SegmentValues {
        header,
        workers: Vec::with_capacity(workers),
        ports: Vec::with_capacity(ports),
        services_generation: 0,
        services: Vec::new(),
        unsettled_blocks: 0,
    };
    for i in 0..workers {
        let (v, settled) = read_worker(hw, i);
        out.workers.push(v);
        out.unsettled_blocks += usize::from(!settled);
    }
    for i in 0..ports {
        let off = port_offset(workers, i);
        let mut buf = [0u64; p::END - 1];
        out.unsettled_blocks += usize::from(!seq_read(&hw[off..off + p::END], &mut buf));
        let mut name = Vec::with_capacity(PORT_NAME_BYTES);
        for word in &buf[p::NAME - 1..p::IPACKETS - 1] {
            name.extend_from_slice(&word.to_le_bytes());
        }
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        out.ports.push(PortValues {
            name: String::from_utf8_lossy(&name[..end]).into_owned(),
            ipackets: buf[p::IPACKETS - 1],
            opackets: buf[p::OPACKETS - 1],
            ibytes: buf[p::IBYTES - 1],
            obytes: buf[p::OBYTES - 1],
            imissed: buf[p::IMISSED - 1],
            ierrors: buf[p::IERRORS - 1],
            oerrors: buf[p::OERRORS - 1],
            rx_nombuf: buf[p::RX_NOMBUF - 1],
        });
    }
    let (generation, services, unsettled) = services::read_services(hw, workers, ports);
    out.services_generation = generation;
    out.services = services;
    out.unsettled_blocks += unsettled;
    Ok(out)
}

/// Identity of a segment file: a new dataplane start makes a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// The identity of the file at `path` now.
pub fn file_id(path: &Path) -> io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(FileId {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// The sidecar's side: a read-only mapping of a segment.
pub struct Reader {
    map: Mmap,
    id: FileId,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("id", &self.id).finish()
    }
}

impl Reader {
    /// Maps the segment at `path` read-only and checks its magic, version and size.
    pub fn open(path: &Path) -> io::Result<Reader> {
        use std::os::unix::fs::MetadataExt;
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if (meta.len() as usize) < HEADER_WORDS * 8 {
            return Err(bad("stats segment too short"));
        }
        // SAFETY: mapped read-only; the dataplane never shrinks a segment file (it replaces it
        // by rename), so the mapping stays backed; all access goes through AtomicU64 loads,
        // which are fine on read-only memory for 64-bit words.
        let map = unsafe { Mmap::map(&file)? };
        let r = Reader {
            map,
            id: FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            },
        };
        r.read()?;
        Ok(r)
    }

    /// The identity of the mapped file.
    pub fn id(&self) -> FileId {
        self.id
    }

    /// Reads the whole segment, each block consistently.
    pub fn read(&self) -> io::Result<SegmentValues> {
        // SAFETY: the mapping lives as long as self; page aligned; only atomic loads.
        let hw = unsafe { words(self.map.as_ptr(), self.map.len()) };
        read_words(hw)
    }
}

#[cfg(test)]
mod fuzz;
