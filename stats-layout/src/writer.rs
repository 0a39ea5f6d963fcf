//! The dataplane's side of a segment: [`Writer`].
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

use crate::reader::{read_words, read_worker};
use crate::seqlock::seq_write;
use crate::{
    h, p, port_offset, segment_words, unix_ms, w, words, worker_offset, PortValues, RunState,
    SegmentValues, WorkerValues, LAYOUT_VERSION, MAGIC, MAX_PORTS, MAX_WORKERS, PORT_NAME_BYTES,
};

enum Map {
    File(MmapMut),
    Anon(MmapMut),
}

/// The dataplane's side: creates and writes a segment. Share it (`Arc`) between the control
/// thread and the workers; each worker must write only its own block.
pub struct Writer {
    map: Map,
    _file: Option<File>,
    path: Option<PathBuf>,
    pub(crate) workers: usize,
    pub(crate) ports: usize,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("workers", &self.workers)
            .field("ports", &self.ports)
            .finish()
    }
}

impl Writer {
    /// Creates the segment file at `path` (its directory is created if missing): a new file
    /// replaces any old one atomically (rename), so readers see either the old or the new one.
    /// Fails with [`io::ErrorKind::AddrInUse`] when a live process holds the current file.
    pub fn create(path: &Path, port_names: &[&str], workers: usize) -> io::Result<Writer> {
        check_sizes(workers, port_names.len())?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if let Ok(old) = File::open(path) {
            match old.try_lock() {
                Ok(()) => drop(old),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{} is in use by another anycastd", path.display()),
                    ))
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let mut tmp_name = name.to_owned();
        tmp_name.push(format!(".tmp.{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let bytes = segment_words(workers, port_names.len()) * 8;
        let made = (|| {
            file.set_len(bytes as u64)?;
            file.try_lock().map_err(io::Error::from)?;
            // SAFETY: the file was just created by us with this size; other processes only map
            // it (never truncate it: the dataplane replaces it by rename), and all access to the
            // mapping goes through AtomicU64.
            let map = unsafe { MmapMut::map_mut(&file)? };
            let w = Writer {
                map: Map::File(map),
                _file: None,
                path: Some(path.to_owned()),
                workers,
                ports: port_names.len(),
            };
            w.init(port_names);
            Ok::<_, io::Error>(w)
        })();
        let mut w = match made {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        w._file = Some(file);
        Ok(w)
    }

    /// A segment in anonymous memory (no reader can see it): used when no file can be had, and
    /// by tests.
    pub fn anonymous(port_names: &[&str], workers: usize) -> io::Result<Writer> {
        check_sizes(workers, port_names.len())?;
        let map = MmapMut::map_anon(segment_words(workers, port_names.len()) * 8)?;
        let w = Writer {
            map: Map::Anon(map),
            _file: None,
            path: None,
            workers,
            ports: port_names.len(),
        };
        w.init(port_names);
        Ok(w)
    }

    /// The file, if the segment has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(crate) fn words(&self) -> &[AtomicU64] {
        let m = match &self.map {
            Map::File(m) | Map::Anon(m) => m,
        };
        // SAFETY: the mapping lives as long as self (the borrow ties the slice to it), is page
        // aligned, and is only accessed atomically (here and by readers).
        unsafe { words(m.as_ptr(), m.len()) }
    }

    fn init(&self, port_names: &[&str]) {
        let hw = self.words();
        hw[h::VERSION].store(LAYOUT_VERSION, Ordering::Relaxed);
        hw[h::SIZE].store((hw.len() * 8) as u64, Ordering::Relaxed);
        hw[h::WORKERS].store(self.workers as u64, Ordering::Relaxed);
        hw[h::PORTS].store(self.ports as u64, Ordering::Relaxed);
        hw[h::PID].store(u64::from(std::process::id()), Ordering::Relaxed);
        hw[h::START_UNIX_MS].store(unix_ms(), Ordering::Relaxed);
        hw[h::GENERATION].store(1, Ordering::Relaxed);
        for (i, name) in port_names.iter().enumerate() {
            let mut bytes = [0u8; PORT_NAME_BYTES];
            let n = name.len().min(PORT_NAME_BYTES);
            bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
            let off = port_offset(self.workers, i) + p::NAME;
            for (k, chunk) in bytes.chunks_exact(8).enumerate() {
                hw[off + k].store(
                    u64::from_le_bytes(chunk.try_into().expect("8 bytes")),
                    Ordering::Relaxed,
                );
            }
        }
        // The magic goes last: a reader that sees it sees the rest.
        hw[h::MAGIC].store(MAGIC, Ordering::Release);
    }

    /// Workers in the segment.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Publishes worker `i`'s values (seqlock; never waits). Only worker `i` may call this.
    #[inline]
    pub fn publish_worker(&self, i: usize, v: &WorkerValues) {
        let mut buf = [0u64; w::VALUES];
        v.to_words(&mut buf);
        let off = worker_offset(i);
        seq_write(&self.words()[off + w::SEQ..off + 1 + w::VALUES], &buf);
    }

    /// Publishes port `i`'s device counters (control thread only). The name is kept as created.
    pub fn publish_port(&self, i: usize, v: &PortValues) {
        let off = port_offset(self.workers, i);
        let hw = self.words();
        let mut buf = [0u64; p::END - 1];
        for (k, slot) in buf.iter_mut().enumerate().take(p::IPACKETS - 1) {
            *slot = hw[off + 1 + k].load(Ordering::Relaxed);
        }
        buf[p::IPACKETS - 1] = v.ipackets;
        buf[p::OPACKETS - 1] = v.opackets;
        buf[p::IBYTES - 1] = v.ibytes;
        buf[p::OBYTES - 1] = v.obytes;
        buf[p::IMISSED - 1] = v.imissed;
        buf[p::IERRORS - 1] = v.ierrors;
        buf[p::OERRORS - 1] = v.oerrors;
        buf[p::RX_NOMBUF - 1] = v.rx_nombuf;
        seq_write(&hw[off + p::SEQ..off + p::END], &buf);
    }

    /// The control thread's heartbeat: wall-clock time now, and its reading of the workers'
    /// clock (same unit and origin as the workers' `heartbeat_ms`).
    pub fn heartbeat(&self, clock_ms: u64) {
        let hw = self.words();
        hw[h::HEARTBEAT_CLOCK_MS].store(clock_ms, Ordering::Relaxed);
        hw[h::HEARTBEAT_UNIX_MS].store(unix_ms(), Ordering::Release);
    }

    /// Records the config generation and reload counters.
    pub fn set_generation(&self, generation: u64, reloads: u64, failures: u64) {
        let hw = self.words();
        hw[h::GENERATION].store(generation, Ordering::Relaxed);
        hw[h::RELOADS].store(reloads, Ordering::Relaxed);
        hw[h::RELOAD_FAILURES].store(failures, Ordering::Relaxed);
    }

    /// Records the run state.
    pub fn set_state(&self, s: RunState) {
        let v = match s {
            RunState::Starting => 0,
            RunState::Running => 1,
            RunState::Stopped => 2,
        };
        self.words()[h::STATE].store(v, Ordering::Release);
    }

    /// Reads everything back (as a reader would).
    pub fn read(&self) -> io::Result<SegmentValues> {
        read_words(self.words())
    }

    /// Worker `i`'s values, read consistently.
    pub fn read_worker(&self, i: usize) -> Option<WorkerValues> {
        let (v, settled) = read_worker(self.words(), i);
        settled.then_some(v)
    }
}

fn check_sizes(workers: usize, ports: usize) -> io::Result<()> {
    if workers > MAX_WORKERS || ports > MAX_PORTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("at most {MAX_WORKERS} workers and {MAX_PORTS} ports"),
        ));
    }
    Ok(())
}
