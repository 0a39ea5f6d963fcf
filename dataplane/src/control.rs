//! The control socket: a Unix stream socket on which `anycastd reload` (and `status`) ask the
//! running dataplane to act. One request per connection: the client writes one line (the
//! command), the server answers with one or more lines and closes. The first word of the answer
//! is `ok` or `error`.
//!
//! The server side is polled from the control thread's wait loop (non-blocking accept), so a
//! reload runs on the control thread, never on a worker.
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest command line a client may send.
const MAX_REQUEST: u64 = 256;
/// How long the server waits for a connected client's request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The listening control socket; the socket file is removed on drop.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` (creating its directory), refusing when another process is listening on
    /// it and replacing a stale socket file left by a process that died. The socket is
    /// accessible to its owner and group only.
    pub fn bind(path: &Path) -> std::io::Result<ControlSocket> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "{} is in use by a running process (another anycastd?); set \
                         [dataplane] control_socket to another path",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves every connection waiting now: reads its request line and writes back what
    /// `handle` returns for it. Never blocks on accept; a client that connects but sends
    /// nothing is dropped after a short timeout.
    pub fn serve_pending(&self, mut handle: impl FnMut(&str) -> String) {
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!("control socket: accept failed: {e}");
                    return;
                }
            };
            if let Err(e) = serve_one(stream, &mut handle) {
                tracing::warn!("control socket: {e}");
            }
        }
    }
}

fn serve_one(stream: UnixStream, handle: &mut impl FnMut(&str) -> String) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    if line.trim().is_empty() {
        // A probe (e.g. a second instance checking whether the socket is live): no request.
        return Ok(());
    }
    let mut reply = handle(line.trim());
    if !reply.ends_with('\n') {
        reply.push('\n');
    }
    (&stream).write_all(reply.as_bytes())
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Client side: sends `command` to the socket at `path` and returns the whole answer.
/// `timeout` bounds the wait for the answer (a reload compiling large zones takes a while).
pub fn request(path: &Path, command: &str, timeout: Duration) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot connect to {}: {e} (is anycastd running with this control_socket?)",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_get_answers_and_stale_sockets_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ctl.sock");
        let server = ControlSocket::bind(&path).unwrap();
        // A second server on a live socket is refused.
        let err = ControlSocket::bind(&path).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        let client = {
            let path = path.clone();
            std::thread::spawn(move || request(&path, "status", Duration::from_secs(5)).unwrap())
        };
        let mut seen = Vec::new();
        for _ in 0..500 {
            server.serve_pending(|cmd| {
                seen.push(cmd.to_owned());
                format!("ok got {cmd}")
            });
            if !seen.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(client.join().unwrap(), "ok got status\n");
        assert_eq!(seen, ["status"]);
        // A socket file nobody listens on (the process died) is replaced.
        std::mem::forget(server);
        let again = ControlSocket::bind(&path);
        assert!(again.is_err(), "the forgotten listener still accepts");
        drop(again);
        let stale = dir.path().join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        let s = ControlSocket::bind(&stale).unwrap();
        drop(s);
        assert!(!stale.exists(), "socket file removed on drop");
    }
}
