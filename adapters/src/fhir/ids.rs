//! Deterministic resource ids, the escaping of source names inside `urn:`
//! identifier systems, and the base64 codec of attachments.
//!
//! A resource's id is the first 16 bytes of SHA-256 over its type and the
//! parts that identify it in its source (for a sourced record: source
//! system, record id and, from version 2 on, the version), written as 32
//! lower-case hex digits: within FHIR's id rule (`[A-Za-z0-9\-\.]{1,64}`),
//! the same on every run, and different for different sources. Writing with
//! `PUT` to these ids makes a re-run update what the first run wrote instead
//! of duplicating it.

use std::borrow::Cow;
use std::fmt::Write as _;

use brygga_mapping::id::Identifier;
use brygga_mapping::model::SourceRef;
use sha2::{Digest, Sha256};

use super::vocab;

/// The id of a resource of `resource_type` identified by `parts`.
pub fn resource_id(resource_type: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(resource_type.as_bytes());
    for part in parts {
        // A separator that cannot occur in UTF-8 text keeps ("ab","c") and
        // ("a","bc") apart.
        hasher.update([0xff]);
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut hex = [0u8; 32];
    for (pair, &byte) in hex.chunks_exact_mut(2).zip(&digest[..16]) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    // Hex digits only: ASCII, so this never falls back.
    String::from_utf8(hex.to_vec()).unwrap_or_default()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How many recent ids [`recurring_id`] keeps per thread.
const RECENT_IDS: usize = 16;

/// Ids computed lately on this thread: the bytes hashed and the id.
#[derive(Default)]
struct RecentIds {
    entries: Vec<(Vec<u8>, String)>,
    next: usize,
}

thread_local! {
    static RECENT: std::cell::RefCell<RecentIds> = std::cell::RefCell::default();
}

/// Whether `key` is exactly what [`resource_id`] hashes for these parts.
fn is_key(key: &[u8], resource_type: &str, parts: &[&str]) -> bool {
    let Some(mut rest) = key.strip_prefix(resource_type.as_bytes()) else {
        return false;
    };
    for part in parts {
        match rest
            .strip_prefix(&[0xff])
            .and_then(|r| r.strip_prefix(part.as_bytes()))
        {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// [`resource_id`] for resources that recur record after record — a
/// patient, their practitioners and care units — remembered so that each is
/// hashed once per run of records rather than once per record.
pub fn recurring_id(resource_type: &str, parts: &[&str]) -> String {
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, id)) = recent
            .entries
            .iter()
            .find(|(key, _)| is_key(key, resource_type, parts))
        {
            return id.clone();
        }
        let id = resource_id(resource_type, parts);
        // The oldest entry makes room once the list is full (and lends its
        // buffer to the new key).
        let slot = recent.next;
        let mut key = if recent.entries.len() == RECENT_IDS {
            recent.next = (slot + 1) % RECENT_IDS;
            std::mem::take(&mut recent.entries[slot].0)
        } else {
            Vec::new()
        };
        key.clear();
        key.extend_from_slice(resource_type.as_bytes());
        for part in parts {
            key.push(0xff);
            key.extend_from_slice(part.as_bytes());
        }
        if recent.entries.len() == RECENT_IDS {
            recent.entries[slot] = (key, id.clone());
        } else {
            recent.entries.push((key, id.clone()));
        }
        id
    })
}

/// The id of the resource a sourced record becomes. Version 1 (the common
/// case) hashes system and record id only, so references to a record by its
/// source id alone (a note's contact) find it; later versions add the
/// version and become resources of their own.
pub fn source_id(resource_type: &str, source: &SourceRef) -> String {
    if source.version == 1 {
        resource_id(resource_type, &[&source.system, &source.record_id])
    } else {
        let version = source.version.to_string();
        resource_id(
            resource_type,
            &[&source.system, &source.record_id, &version],
        )
    }
}

/// The id of the Patient for a person identifier.
pub fn patient_id(identifier: &Identifier) -> String {
    let (system, value) = identifier_key(identifier);
    recurring_id("Patient", &[&system, value])
}

/// The system and value that name an identifier in ids.
pub fn identifier_key(identifier: &Identifier) -> (Cow<'static, str>, &str) {
    match identifier {
        Identifier::Person(id) => (
            Cow::Borrowed(vocab::person_id_system(id.kind())),
            id.as_str(),
        ),
        Identifier::Local(local) => (Cow::Owned(local_system(&local.namespace)), &local.value),
    }
}

/// `urn:brygga:local:<namespace>`.
pub fn local_system(namespace: &str) -> String {
    let mut system = String::from(vocab::LOCAL_PREFIX);
    escape_into(namespace, &mut system);
    system
}

/// `urn:brygga:source:<system>`.
pub fn source_system(system: &str) -> String {
    let mut uri = String::from(vocab::SOURCE_PREFIX);
    escape_into(system, &mut uri);
    uri
}

/// Percent-escapes everything but ASCII letters, digits and `-._~:/`, so a
/// name with spaces or non-ASCII letters still makes a valid URI (FHIR's
/// `uri` allows no whitespace).
fn escape_into(name: &str, out: &mut String) {
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Undoes [`escape_into`]; `None` for a broken escape or non-UTF-8 result.
pub fn unescape(escaped: &str) -> Option<String> {
    if !escaped.contains('%') {
        return Some(escaped.to_owned());
    }
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = escaped.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------
// base64 (standard alphabet, padded)
// ---------------------------------------------------------------------------

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    let sextets = |n: u32| [18, 12, 6, 0].map(|shift| ALPHABET[(n >> shift) as usize & 63]);
    let mut chunks = data.chunks_exact(3);
    for chunk in &mut chunks {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        out.extend_from_slice(&sextets(n));
    }
    match *chunks.remainder() {
        [a] => out.extend_from_slice(&sextets(u32::from(a) << 16)[..2]),
        [a, b] => out.extend_from_slice(&sextets((u32::from(a) << 16) | (u32::from(b) << 8))[..3]),
        _ => {}
    }
    out.resize(out.len().next_multiple_of(4), b'=');
    // Only alphabet bytes and `=`: ASCII, so this never falls back.
    String::from_utf8(out).unwrap_or_default()
}

fn sextet(byte: u8) -> Option<u32> {
    Some(match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes standard padded base64 without whitespace; `None` if it is not.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let last = bytes.len() / 4;
    for (index, quad) in bytes.chunks_exact(4).enumerate() {
        let padding = match quad {
            [_, _, b'=', b'='] => 2,
            [_, _, _, b'='] => 1,
            _ => 0,
        };
        if padding > 0 && index + 1 != last {
            return None;
        }
        let mut n = 0u32;
        for &byte in &quad[..4 - padding] {
            n = (n << 6) | sextet(byte)?;
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Non-zero bits past the last byte would make two texts decode alike.
        if decoded[3 - padding..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

/// Whether `text` is standard padded base64 (as [`base64_decode`] reads).
pub fn is_base64(text: &str) -> bool {
    base64_decode(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_depend_on_every_part() {
        let a = resource_id("DocumentReference", &["pmo:x", "1"]);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, resource_id("DocumentReference", &["pmo:x", "1"]));
        assert_ne!(a, resource_id("Observation", &["pmo:x", "1"]));
        assert_ne!(a, resource_id("DocumentReference", &["pmo:x1", ""]));
        assert_ne!(a, resource_id("DocumentReference", &["pmo:", "x1"]));
    }

    #[test]
    fn remembered_ids_are_the_hashed_ids() {
        // More distinct keys than are remembered, twice over, with keys that
        // share prefixes: every answer is still the hash of its own parts.
        for round in 0..2 {
            for n in 0..(RECENT_IDS * 2 + 3) {
                let a = n.to_string();
                let b = (n % 3).to_string();
                for parts in [&[a.as_str()][..], &[a.as_str(), b.as_str()], &[&a[..1]]] {
                    for kind in ["Practitioner", "PractitionerRole"] {
                        assert_eq!(
                            recurring_id(kind, parts),
                            resource_id(kind, parts),
                            "{round} {kind} {parts:?}"
                        );
                    }
                }
            }
        }
        assert!(is_key(b"Patient\xffa\xffb", "Patient", &["a", "b"]));
        assert!(!is_key(b"Patient\xffa\xffb", "Patient", &["a"]));
        assert!(!is_key(b"Patient\xffab", "Patient", &["a", "b"]));
        assert!(!is_key(b"Patient\xffa", "Patient", &["a", ""]));
    }

    #[test]
    fn later_versions_get_ids_of_their_own() {
        let mut source = SourceRef {
            system: "pmo:x".into(),
            record_id: "7".into(),
            version: 1,
        };
        let first = source_id("DocumentReference", &source);
        assert_eq!(first, resource_id("DocumentReference", &["pmo:x", "7"]));
        source.version = 2;
        assert_ne!(source_id("DocumentReference", &source), first);
    }

    #[test]
    fn escaped_names_are_uris_and_come_back() {
        for name in [
            "pmo:gotene",
            "bhv:Region Västra Götaland",
            "a%b",
            "x/y~z",
            "",
        ] {
            let system = source_system(name);
            assert!(!system.chars().any(char::is_whitespace), "{system}");
            assert!(system.is_ascii(), "{system}");
            let back = unescape(&system[vocab::SOURCE_PREFIX.len()..]);
            assert_eq!(back.as_deref(), Some(name));
        }
        assert_eq!(unescape("bad%4"), None);
        assert_eq!(unescape("%FF"), None, "not UTF-8");
    }

    #[test]
    fn base64_round_trips_and_refuses_what_is_not_base64() {
        for text in ["", "a", "ab", "abc", "abcd", "Hälsobesök åk 4\n"] {
            let encoded = base64_encode(text.as_bytes());
            assert!(is_base64(&encoded), "{encoded}");
            assert_eq!(base64_decode(&encoded).as_deref(), Some(text.as_bytes()));
        }
        assert_eq!(base64_encode(b"hej"), "aGVq");
        assert_eq!(base64_encode(b"he"), "aGU=");
        for bad in ["aGVq\n", "aGV", "a=Vq", "aGU=aGVq", "aGV=", "aG==", "!!!!"] {
            assert!(!is_base64(bad), "{bad:?}");
        }
        assert!(is_base64("aA=="), "one byte");
        assert!(!is_base64("aB=="), "non-zero trailing bits");
    }
}
