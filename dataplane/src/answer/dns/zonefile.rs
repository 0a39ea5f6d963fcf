//! Reads RFC 1035 master files with the `domain` crate's zone-file scanner ($ORIGIN, $TTL,
//! $INCLUDE, relative names, `@`, parentheses, comments, escapes, RFC 3597 unknown types) into
//! plain records in uncompressed wire form. Every error names the file and line.
use std::path::{Path, PathBuf};

use domain::base::iana::Class;
use domain::base::name::ToName;
use domain::base::rdata::ComposeRecordData;
use domain::base::RecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use super::name;

/// Deepest `$INCLUDE` nesting accepted (stops include loops).
const MAX_INCLUDE_DEPTH: usize = 8;

/// One record of a zone, in wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedRecord {
    /// Owner name, as written in the file (case kept).
    pub owner: Vec<u8>,
    /// Record type.
    pub rtype: u16,
    /// Time to live in seconds.
    pub ttl: u32,
    /// RDATA, uncompressed wire form.
    pub rdata: Vec<u8>,
    /// Index of the file it was read from in [`LoadedZone::files`].
    pub file: u16,
    /// The line it ends on.
    pub line: u32,
}

/// The records of one zone file and its includes.
#[derive(Debug, Clone)]
pub struct LoadedZone {
    /// The zone's apex (the SOA's owner), lowercase wire form.
    pub apex: Vec<u8>,
    /// Every record, in file order.
    pub records: Vec<LoadedRecord>,
    /// The file the zone came from.
    pub file: PathBuf,
    /// The zone file and the files it includes.
    pub files: Vec<PathBuf>,
}

impl LoadedZone {
    /// "file:line" of a record.
    pub fn location(&self, r: &LoadedRecord) -> String {
        let file = self.files.get(usize::from(r.file)).unwrap_or(&self.file);
        format!("{}:{}", file.display(), r.line)
    }
}

/// Line numbers of byte offsets, counted incrementally as the scanner moves forward.
struct Lines<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lines<'_> {
    /// The 1-based line holding the last non-blank byte before `offset`.
    fn at(&mut self, offset: usize) -> usize {
        let mut last = offset.min(self.text.len());
        while last > 0 && self.text[last - 1].is_ascii_whitespace() {
            last -= 1;
        }
        if last < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        self.line += self.text[self.pos..last]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.pos = last;
        self.line
    }
}

/// The 1-based line holding the last non-blank byte before `offset`.
fn line_at(text: &[u8], offset: usize) -> usize {
    let end = offset.min(text.len());
    let mut last = end;
    while last > 0 && text[last - 1].is_ascii_whitespace() {
        last -= 1;
    }
    1 + text[..last].iter().filter(|&&b| b == b'\n').count()
}

/// The scanner's errors read "line:col: message", where an error found after the scanner moved
/// past the end of the record's line points at column 1 of the next line: move those back to the
/// record's last line, and drop the column.
fn relocate(text: &[u8], err: &str, shift: usize) -> String {
    let mut parts = err.splitn(3, ':');
    let (Some(line), Some(col), Some(msg)) = (parts.next(), parts.next(), parts.next()) else {
        return err.to_string();
    };
    let (Ok(line), Ok(col)) = (line.trim().parse::<usize>(), col.trim().parse::<usize>()) else {
        return err.to_string();
    };
    let line = if col <= 1 && line > 1 {
        // Offset of the start of `line`, then the last non-blank line before it.
        let start = text
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1);
        line_at(text, start)
    } else {
        line
    };
    format!("{}:{msg}", line.saturating_sub(shift).max(1))
}

/// The value of the last `$TTL` directive in `text` (the one in force at its end), if any.
fn last_dollar_ttl(text: &[u8]) -> Option<String> {
    text.split(|&b| b == b'\n').rev().find_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let mut words = line.split_whitespace();
        let first = words.next()?;
        first
            .eq_ignore_ascii_case("$TTL")
            .then(|| words.next().map(str::to_string))
            .flatten()
    })
}

/// Scans one file, appending its records (recursing into `$INCLUDE`s).
fn scan_file(
    path: &Path,
    origin: Option<domain::base::Name<bytes::Bytes>>,
    ttl: Option<String>,
    depth: usize,
    out: &mut Vec<LoadedRecord>,
    files: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let file = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    // An included file starts with the includer's $TTL in force (as BIND and NSD read it):
    // a `$TTL` line is put in front, and line numbers are shifted back by one.
    let shift = usize::from(ttl.is_some());
    let mut text = ttl
        .map(|t| format!("$TTL {t}\n").into_bytes())
        .unwrap_or_default();
    text.extend_from_slice(&file);
    let file_idx = u16::try_from(files.len()).map_err(|_| "too many included files".to_string())?;
    files.push(path.to_owned());
    let mut zf = Zonefile::from(text.as_slice());
    zf.set_default_class(Class::IN);
    if let Some(o) = origin {
        zf.set_origin(o);
    }
    let mut lines = Lines {
        text: &text,
        pos: 0,
        line: 1,
    };
    loop {
        let before = zf.current_offset();
        // The scanner has been seen to panic on some malformed input (an RFC 3597 length
        // larger than its data): that is a zone error, not a crash.
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| zf.next_entry()));
        let entry = match next {
            Err(_) => {
                let skip = text
                    .get(before..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
                let line = line_at(&text, before + skip + 1)
                    .saturating_sub(shift)
                    .max(1);
                return Err(format!("{}:{line}: malformed record", path.display()));
            }
            Ok(Ok(Some(e))) => e,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => {
                return Err(format!(
                    "{}:{}",
                    path.display(),
                    relocate(&text, &e.to_string(), shift)
                ))
            }
        };
        let line = lines.at(zf.current_offset()).saturating_sub(shift).max(1);
        let location = || format!("{}:{line}", path.display());
        match entry {
            Entry::Record(rec) => {
                if rec.class() != Class::IN {
                    return Err(format!(
                        "{}: class {} is not supported (only IN)",
                        location(),
                        rec.class()
                    ));
                }
                let mut owner = Vec::new();
                rec.owner()
                    .compose(&mut owner)
                    .map_err(|_| format!("{}: owner name too long", location()))?;
                let mut rdata = Vec::new();
                rec.data()
                    .compose_rdata(&mut rdata)
                    .map_err(|_| format!("{}: record data too long", location()))?;
                if rdata.len() > usize::from(u16::MAX) {
                    return Err(format!("{}: record data too long", location()));
                }
                let rtype = rec.data().rtype().to_int();
                if rtype == super::wire::TYPE_SOA && zf.origin().is_err() {
                    // No $ORIGIN: the SOA's owner is the origin of the names after it.
                    zf.set_origin(rec.owner().to_bytes());
                }
                out.push(LoadedRecord {
                    owner,
                    rtype,
                    ttl: rec.ttl().as_secs(),
                    rdata,
                    file: file_idx,
                    line: line as u32,
                });
            }
            Entry::Include { path: inc, origin } => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(format!("{}: $INCLUDE nested too deeply", location()));
                }
                let inc = PathBuf::from(inc.to_string());
                let inc = if inc.is_relative() {
                    path.parent().unwrap_or_else(|| Path::new(".")).join(inc)
                } else {
                    inc
                };
                let origin = origin.or_else(|| zf.origin().ok());
                let ttl = last_dollar_ttl(text.get(..zf.current_offset()).unwrap_or(&text));
                scan_file(&inc, origin, ttl, depth + 1, out, files)
                    .map_err(|e| format!("{e} (included from {})", location()))?;
            }
        }
    }
}

/// Loads a zone file: its SOA names the apex; every record must lie at or below it.
pub fn load(path: &Path) -> Result<LoadedZone, String> {
    let mut records = Vec::new();
    let mut files = Vec::new();
    scan_file(path, None, None, 0, &mut records, &mut files)?;
    let mut zone = LoadedZone {
        apex: Vec::new(),
        records: Vec::new(),
        file: path.to_owned(),
        files,
    };
    let Some(soa) = records.iter().find(|r| r.rtype == super::wire::TYPE_SOA) else {
        return Err(format!("{}:1: zone has no SOA record", path.display()));
    };
    let mut apex = soa.owner.clone();
    name::lowercase(&mut apex);
    let mut owner = Vec::with_capacity(name::MAX_NAME);
    for r in &records {
        owner.clear();
        owner.extend_from_slice(&r.owner);
        name::lowercase(&mut owner);
        if !name::is_subdomain(&owner, &apex) {
            return Err(format!(
                "{}: {} is outside the zone {}",
                zone.location(r),
                name::to_text(&r.owner),
                name::to_text(&apex)
            ));
        }
        if r.rtype == super::wire::TYPE_SOA && owner != apex {
            return Err(format!("{}: a second SOA record", zone.location(r)));
        }
        if r.rtype == super::wire::TYPE_SOA && r.rdata.len() < 22 {
            return Err(format!("{}: malformed SOA record", zone.location(r)));
        }
    }
    zone.apex = apex;
    zone.records = records;
    Ok(zone)
}
