//! Domain names in uncompressed wire form (RFC 1035 §3.1): helpers shared by the loader, the
//! compiled lookup structure and the query path. Every function here is total: it never panics
//! on any input and never allocates.

/// Longest name in wire form, terminal zero included (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// Why a name in a query could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The message ended inside the name.
    Truncated,
    /// A label longer than 63 octets, or a reserved label type (0x40/0x80).
    BadLabel,
    /// A compression pointer, which a question name must not contain here.
    Pointer,
    /// The name is longer than 255 octets.
    TooLong,
}

/// Reads an uncompressed name at `pos` in `msg`, writing its lowercase form into `lower`.
/// Returns (length of the name in wire form, number of labels excluding the root).
pub fn read_question_name(
    msg: &[u8],
    pos: usize,
    lower: &mut [u8; MAX_NAME],
) -> Result<(usize, usize), NameError> {
    let mut i = 0usize;
    let mut labels = 0usize;
    loop {
        let Some(&len) = msg.get(pos + i) else {
            return Err(NameError::Truncated);
        };
        if len & 0xc0 == 0xc0 {
            return Err(NameError::Pointer);
        }
        if len & 0xc0 != 0 {
            return Err(NameError::BadLabel);
        }
        let len = usize::from(len);
        if i + 1 + len > MAX_NAME {
            return Err(NameError::TooLong);
        }
        let Some(label) = msg.get(pos + i + 1..pos + i + 1 + len) else {
            return Err(NameError::Truncated);
        };
        lower[i] = len as u8;
        for (d, s) in lower[i + 1..i + 1 + len].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        i += 1 + len;
        if len == 0 {
            return Ok((i, labels));
        }
        labels += 1;
    }
}

/// Offsets of each label start in a trusted wire name (the root's zero byte excluded).
/// Fills `out` and returns how many labels there are (at most 128).
pub fn label_offsets(name: &[u8], out: &mut [u8; 128]) -> usize {
    let mut i = 0usize;
    let mut n = 0usize;
    while let Some(&len) = name.get(i) {
        if len == 0 || n >= out.len() {
            break;
        }
        out[n] = i as u8;
        n += 1;
        i += 1 + usize::from(len);
    }
    n
}

/// Lowercases a wire name in place (labels only; the length octets are below 64 anyway).
pub fn lowercase(name: &mut [u8]) {
    let mut i = 0usize;
    while let Some(&len) = name.get(i) {
        if len == 0 {
            break;
        }
        let end = (i + 1 + usize::from(len)).min(name.len());
        for b in &mut name[i + 1..end] {
            *b = b.to_ascii_lowercase();
        }
        i = end;
    }
}

/// True when `name` equals `apex` or lies below it (both lowercase wire names).
pub fn is_subdomain(name: &[u8], apex: &[u8]) -> bool {
    if apex.len() > name.len() {
        return false;
    }
    let start = name.len() - apex.len();
    if name[start..] != *apex {
        return false;
    }
    // The suffix must start at a label boundary.
    let mut i = 0usize;
    while i < start {
        i += 1 + usize::from(name[i]);
    }
    i == start
}

/// The parent of a wire name (drops the first label), or `None` for the root.
pub fn parent(name: &[u8]) -> Option<&[u8]> {
    match name.first() {
        Some(&len) if len != 0 => name.get(1 + usize::from(len)..),
        _ => None,
    }
}

/// Number of labels in a trusted wire name, the root excluded.
pub fn label_count(name: &[u8]) -> usize {
    let mut offs = [0u8; 128];
    label_offsets(name, &mut offs)
}

/// Renders a wire name as text (for error messages and tests; allocates).
pub fn to_text(name: &[u8]) -> String {
    let mut s = String::new();
    let mut i = 0usize;
    while let Some(&len) = name.get(i) {
        if len == 0 {
            break;
        }
        let end = (i + 1 + usize::from(len)).min(name.len());
        for &b in &name[i + 1..end] {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                s.push(b as char);
            } else {
                s.push_str(&format!("\\{b:03}"));
            }
        }
        s.push('.');
        i = end;
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

/// Builds a wire name from dotted text (tests and constants; allocates). Returns `None` for
/// empty or over-long labels.
pub fn from_text(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for label in text.trim_end_matches('.').split('.') {
        if label.is_empty() {
            if text == "." || text.is_empty() {
                break;
            }
            return None;
        }
        if label.len() > MAX_LABEL {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    (out.len() <= MAX_NAME).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_lowercases_a_question_name() {
        let msg = b"\x03WwW\x07Example\x04TEST\x00rest";
        let mut lower = [0u8; MAX_NAME];
        let (len, labels) = read_question_name(msg, 0, &mut lower).unwrap();
        assert_eq!((len, labels), (18, 3));
        assert_eq!(&lower[..len], b"\x03www\x07example\x04test\x00");
    }

    #[test]
    fn rejects_bad_question_names() {
        let mut lower = [0u8; MAX_NAME];
        assert_eq!(
            read_question_name(b"\x03ww", 0, &mut lower),
            Err(NameError::Truncated)
        );
        assert_eq!(
            read_question_name(b"\xc0\x0c", 0, &mut lower),
            Err(NameError::Pointer)
        );
        assert_eq!(
            read_question_name(b"\x40abc", 0, &mut lower),
            Err(NameError::BadLabel)
        );
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(
            read_question_name(&long, 0, &mut lower),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn subdomains_respect_label_boundaries() {
        let apex = from_text("example.test").unwrap();
        assert!(is_subdomain(&from_text("a.example.test").unwrap(), &apex));
        assert!(is_subdomain(&apex, &apex));
        assert!(!is_subdomain(&from_text("aexample.test").unwrap(), &apex));
        assert!(!is_subdomain(&from_text("test").unwrap(), &apex));
        assert_eq!(parent(&apex), Some(&b"\x04test\x00"[..]));
        assert_eq!(parent(b"\x00"), None);
        assert_eq!(to_text(&apex), "example.test.");
        assert_eq!(label_count(&apex), 2);
    }
}
