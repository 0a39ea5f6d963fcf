//! Text mutations for fuzzing the file parsers (zone files, the config): a valid file with
//! tokens and bytes put in, lines dropped, repeated or cut short, as an operator's typo or a
//! truncated copy would leave it. Test-only.
use proptest::prelude::*;

/// A position: taken modulo the length of what it picks from.
pub type Pos = usize;

/// One change to a text.
#[derive(Debug, Clone)]
pub enum Edit {
    /// A token (an index into the caller's list) put in before a byte.
    Insert(Pos, Pos),
    /// A byte replaced.
    Replace(Pos, u8),
    /// A line dropped.
    DropLine(Pos),
    /// A line written twice.
    RepeatLine(Pos),
    /// The text cut short.
    Cut(Pos),
}

/// One to four edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<Pos>(), any::<Pos>()).prop_map(|(at, t)| Edit::Insert(at, t)),
        3 => (any::<Pos>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
        2 => any::<Pos>().prop_map(Edit::DropLine),
        2 => any::<Pos>().prop_map(Edit::RepeatLine),
        1 => any::<Pos>().prop_map(Edit::Cut),
    ];
    proptest::collection::vec(edit, 1..5)
}

/// Byte ranges of the lines of `text` (each with its newline).
fn lines(text: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut start = 0;
    text.split_inclusive(|&b| b == b'\n')
        .map(|line| {
            let r = start..start + line.len();
            start = r.end;
            r
        })
        .collect()
}

/// `text` with `edits` applied in turn, tokens for [`Edit::Insert`] taken from `tokens`.
pub fn apply(text: &[u8], edits: &[Edit], tokens: &[&str]) -> Vec<u8> {
    let mut text = text.to_vec();
    for e in edits {
        let n = text.len();
        match e {
            Edit::Insert(at, t) if !tokens.is_empty() => {
                let at = at % (n + 1);
                text.splice(at..at, tokens[t % tokens.len()].bytes());
            }
            Edit::Replace(at, b) if n > 0 => text[at % n] = *b,
            Edit::DropLine(i) | Edit::RepeatLine(i) => {
                let ls = lines(&text);
                if ls.is_empty() {
                    continue;
                }
                let r = ls[i % ls.len()].clone();
                if matches!(e, Edit::DropLine(_)) {
                    text.drain(r);
                } else {
                    let copy = text[r.clone()].to_vec();
                    text.splice(r.end..r.end, copy);
                }
            }
            Edit::Cut(at) => text.truncate(at % (n + 1)),
            Edit::Insert(..) | Edit::Replace(..) => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_edit_does_what_it_says() {
        let text = b"one\ntwo\nthree";
        let at = |k: usize| k;
        assert_eq!(
            apply(text, &[Edit::Insert(at(0), at(0))], &["X"]),
            b"Xone\ntwo\nthree"
        );
        assert_eq!(
            apply(text, &[Edit::Replace(at(0), b'O')], &[]),
            b"One\ntwo\nthree"
        );
        assert_eq!(apply(text, &[Edit::DropLine(at(0))], &[]), b"two\nthree");
        assert_eq!(
            apply(text, &[Edit::RepeatLine(at(0))], &[]),
            b"one\none\ntwo\nthree"
        );
        assert_eq!(apply(text, &[Edit::Cut(at(0))], &[]), b"");
        assert_eq!(
            apply(text, &[Edit::DropLine(at(4)), Edit::Cut(at(7))], &[]),
            b"one\nthr"
        );
        assert_eq!(
            apply(text, &[Edit::Insert(at(14), at(3))], &["X", "Y"]),
            b"Yone\ntwo\nthree"
        );
        assert_eq!(
            apply(b"", &[Edit::DropLine(at(0)), Edit::Replace(at(0), 1)], &[]),
            b""
        );
    }
}
