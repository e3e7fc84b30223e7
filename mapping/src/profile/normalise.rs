//! How a source name is matched: case-insensitively, with surrounding
//! whitespace ignored and every run of whitespace inside read as one space.
//!
//! Exports are typed by hand in 49 different template designs, so
//! `"Hälsobesök  åk 4"`, `"hälsobesök åk 4 "` and `"HÄLSOBESÖK ÅK 4"` must
//! be one key. The same goes for the decomposed spellings some exporters
//! produce for the Swedish letters (`a` + combining ring for `å`): those are
//! composed. Lookups are on the hot path, so a name that is already in normal
//! form is borrowed, not copied.

use std::borrow::Cow;

/// Combining diaeresis, ring above and acute accent.
const DIAERESIS: char = '\u{0308}';
const RING: char = '\u{030A}';
const ACUTE: char = '\u{0301}';

/// The normal form of `name`: lowercase, trimmed, whitespace runs collapsed
/// to one space, decomposed å ä ö é ü composed.
pub(crate) fn normalise(name: &str) -> Cow<'_, str> {
    if is_normal(name) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(normalise_owned(name))
    }
}

fn is_normal(name: &str) -> bool {
    // A space before the first character, so leading whitespace is not normal.
    let mut previous = ' ';
    for c in name.chars() {
        let normal = if c == ' ' {
            previous != ' '
        } else if c.is_ascii() {
            !(c.is_ascii_uppercase() || c.is_ascii_whitespace())
        } else {
            !c.is_whitespace() && is_lowercase_fixed(c) && compose(previous, c).is_none()
        };
        if !normal {
            return false;
        }
        previous = c;
    }
    previous != ' ' || name.is_empty()
}

/// Whether lowercasing leaves `c` as it is.
fn is_lowercase_fixed(c: char) -> bool {
    let mut lower = c.to_lowercase();
    lower.next() == Some(c) && lower.next().is_none()
}

fn normalise_owned(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for c in name.split_whitespace().flat_map(|word| {
        // A marker between words, so the loop below knows where spaces go.
        std::iter::once(None).chain(word.chars().flat_map(char::to_lowercase).map(Some))
    }) {
        match c {
            None => pending_space = !out.is_empty(),
            Some(c) => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                if let Some(composed) = out.chars().next_back().and_then(|base| compose(base, c)) {
                    out.pop();
                    out.push(composed);
                } else {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The precomposed Swedish (and common loan-word) letter for `base` + `mark`.
fn compose(base: char, mark: char) -> Option<char> {
    Some(match (base, mark) {
        ('a', RING) => 'å',
        ('a', DIAERESIS) => 'ä',
        ('o', DIAERESIS) => 'ö',
        ('u', DIAERESIS) => 'ü',
        ('e', ACUTE) => 'é',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_and_whitespace_do_not_matter() {
        assert_eq!(normalise("  Hälsobesök \t ÅK\u{a0}4 \n"), "hälsobesök åk 4");
        assert_eq!(normalise("HÄLSOBESÖK"), "hälsobesök");
    }

    #[test]
    fn decomposed_swedish_letters_are_composed() {
        assert_eq!(normalise("Ha\u{308}lsobeso\u{308}k"), "hälsobesök");
        assert_eq!(normalise("A\u{30a}RSKURS"), "årskurs");
        assert_eq!(normalise("ide\u{301}"), "idé");
    }

    #[test]
    fn a_normal_name_is_borrowed() {
        assert!(matches!(normalise("hälsobesök åk 4"), Cow::Borrowed(_)));
        assert!(matches!(normalise(""), Cow::Borrowed(_)));
        assert!(matches!(normalise("Hälsobesök"), Cow::Owned(_)));
        assert!(matches!(normalise("a  b"), Cow::Owned(_)));
        assert!(matches!(normalise(" a"), Cow::Owned(_)));
        assert!(matches!(normalise("a "), Cow::Owned(_)));
    }

    #[test]
    fn whitespace_only_is_empty() {
        assert_eq!(normalise(" \t\n "), "");
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(name in "\\PC{0,24}|[ a-zA-ZåäöÅÄÖ\u{308}\u{30a}\u{301}\t]{0,24}") {
            let once = normalise(&name).into_owned();
            let twice = normalise(&once);
            prop_assert_eq!(twice.as_ref(), once.as_str());
        }

        #[test]
        fn borrowed_exactly_when_already_normal(name in "[ a-zA-ZåäÖ\u{308}]{0,12}") {
            let normal = normalise(&name);
            prop_assert_eq!(matches!(normal, Cow::Borrowed(_)), normal.as_ref() == name);
        }
    }
}
