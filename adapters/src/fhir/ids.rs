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
    let mut id = String::with_capacity(32);
    for byte in &digest[..16] {
        let _ = write!(id, "{byte:02x}");
    }
    id
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
    resource_id("Patient", &[&system, value])
}

/// The system and value that name an identifier in ids.
pub fn identifier_key(identifier: &Identifier) -> (String, &str) {
    match identifier {
        Identifier::Person(id) => (vocab::person_id_system(id.kind()).to_owned(), id.as_str()),
        Identifier::Local(local) => (local_system(&local.namespace), &local.value),
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
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
