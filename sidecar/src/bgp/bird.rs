//! BIRD 2: the sidecar writes an include file holding two static protocols,
//! `{protocol}_v4` and `{protocol}_v6`, with a `blackhole` route per prefix while announced and
//! none while withdrawn, then runs `birdc -v -s SOCKET configure` and checks BIRD's reply codes.
//! bird.conf includes the file and exports those protocols to its BGP peers.
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stats_layout::config::{BirdConfig, Prefix};

use super::Speaker;

/// How long `birdc configure` may take before it is killed and the attempt counts as failed.
const BIRDC_TIMEOUT: Duration = Duration::from_secs(5);

/// The include file's text for `announce` (routes) or not (empty protocols, so bird.conf's
/// filters naming them stay valid).
pub fn render(protocol: &str, announce: bool, prefixes: &[Prefix]) -> String {
    let mut out = format!(
        "# Written by anycastd-sidecar; do not edit (rewritten on every announce/withdraw).\n\
         # State: {}. Export with: export where proto = \"{protocol}_v4\"; / \"{protocol}_v6\"\n",
        if announce { "announced" } else { "withdrawn" }
    );
    for (family, v4) in [("ipv4", true), ("ipv6", false)] {
        let suffix = if v4 { "v4" } else { "v6" };
        out.push_str(&format!(
            "protocol static {protocol}_{suffix} {{\n  {family};\n"
        ));
        if announce {
            for p in prefixes.iter().filter(|p| p.addr.is_ipv4() == v4) {
                out.push_str(&format!("  route {p} blackhole;\n"));
            }
        }
        out.push_str("}\n");
    }
    out
}

/// Writes `text` to `path` atomically: a temp file in the same directory, synced, renamed over.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks `birdc -v` output: success when BIRD answered 0003 (reconfigured), 0004 (in progress)
/// or 0005 (queued behind a running reconfiguration); otherwise the error lines.
pub fn check_reply(reply: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    for line in reply.lines() {
        let (code, text) = line.split_at(line.len().min(5));
        let code = code.trim_end_matches(['-', ' ']);
        match code {
            "0003" | "0004" | "0005" => return Ok(()),
            c if c.len() == 4 && (c.starts_with('8') || c.starts_with('9')) => {
                errors.push(text.trim().to_owned())
            }
            "0006" => errors.push(text.trim().to_owned()),
            _ => {}
        }
    }
    Err(if errors.is_empty() {
        format!("unexpected reply from birdc: {}", reply.trim())
    } else {
        errors.join("; ")
    })
}

/// Runs `birdc -v -s socket configure` (bounded by [`BIRDC_TIMEOUT`]) and checks the reply.
pub fn configure(birdc: &Path, socket: &Path) -> Result<(), String> {
    let mut child = Command::new(birdc)
        .arg("-v")
        .arg("-s")
        .arg(socket)
        .arg("configure")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", birdc.display()))?;
    let deadline = Instant::now() + BIRDC_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} configure did not answer within {BIRDC_TIMEOUT:?}",
                    birdc.display()
                ));
            }
            Err(e) => return Err(format!("waiting for birdc: {e}")),
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    match check_reply(&out) {
        Ok(()) if status.success() => Ok(()),
        Ok(()) => Err(format!("birdc exited with {status}: {}", err.trim())),
        Err(_) if !err.trim().is_empty() => Err(err.trim().to_owned()),
        Err(e) => Err(e),
    }
}

/// The BIRD speaker.
pub struct Bird {
    config: BirdConfig,
}

impl Bird {
    /// A speaker writing `config.include_file` and reconfiguring through `config.socket`.
    pub fn new(config: BirdConfig) -> Bird {
        Bird { config }
    }
}

impl Speaker for Bird {
    fn name(&self) -> &'static str {
        "bird"
    }

    fn apply(&mut self, announce: bool, prefixes: &[Prefix]) -> Result<(), String> {
        let text = render(&self.config.protocol, announce, prefixes);
        write_atomic(&self.config.include_file, &text)
            .map_err(|e| format!("cannot write {}: {e}", self.config.include_file.display()))?;
        configure(&self.config.birdc, &self.config.socket)
    }
}
