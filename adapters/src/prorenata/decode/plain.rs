//! A quick reader for plainly written records: serde's `Deserializer` over
//! one record's text that takes strings without escapes, non-negative
//! numbers without exponents, `true`, `false`, `null`, objects and arrays —
//! what exports, Brygga's own among them, nearly always hold — and gives up
//! ([`NotPlain`]) at anything else. The decoder then reads the record with
//! serde_json, whose refusals and messages are the ones users see.
//!
//! What it reads, it reads as serde_json does: the same visitor calls with
//! the same values, so the wire types' derived code builds the same record
//! either way (tests hold the two equal). It is faster because it does less:
//! no escapes to undo, no positions to track for messages, and strings are
//! scanned eight bytes at a time to the very end.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

/// Objects and arrays nested deeper than this are left to serde_json, which
/// has its own limit.
const MAX_DEPTH: usize = 100;

/// Longer numbers are left to serde_json: up to 17 significant digits,
/// every correctly rounding reading gives the same `f64`.
const MAX_DIGITS: usize = 17;

/// The record is not plainly written (or not valid): read it with
/// serde_json instead.
#[derive(Debug)]
pub(super) struct NotPlain;

impl fmt::Display for NotPlain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a plainly written record")
    }
}

impl std::error::Error for NotPlain {}

impl de::Error for NotPlain {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotPlain
    }
}

type Plainly<T> = Result<T, NotPlain>;

/// One record's text, read from the start.
pub(super) struct Plain<'de> {
    text: &'de str,
    pos: usize,
    depth: usize,
}

impl<'de> Plain<'de> {
    pub fn new(text: &'de str) -> Self {
        Plain {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// After the record's value only whitespace may follow.
    pub fn end(&mut self) -> Plainly<()> {
        if self.peek().is_none() {
            Ok(())
        } else {
            Err(NotPlain)
        }
    }

    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not JSON whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes().get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    fn eat(&mut self, expected: u8) -> Plainly<()> {
        if self.peek() == Some(expected) {
            self.pos += 1;
            Ok(())
        } else {
            Err(NotPlain)
        }
    }

    fn literal(&mut self, word: &str) -> Plainly<()> {
        let end = self.pos + word.len();
        if self.bytes().get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(())
        } else {
            Err(NotPlain)
        }
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Plainly<&'de str> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = string_end(self.bytes(), start).ok_or(NotPlain)?;
        self.pos = end + 1;
        // Both ends are at ASCII quotes of valid UTF-8.
        self.text.get(start..end).ok_or(NotPlain)
    }

    /// A non-negative number: `0` or digits without a leading zero, with an
    /// optional fraction; no sign, no exponent.
    fn number(&mut self) -> Plainly<Number> {
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let whole = i - start;
        if whole == 0 || (whole > 1 && b.get(start) == Some(&b'0')) {
            return Err(NotPlain);
        }
        let mut digits = whole;
        let fraction = b.get(i) == Some(&b'.');
        if fraction {
            i += 1;
            let from = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == from {
                return Err(NotPlain);
            }
            digits += i - from;
        }
        if digits > MAX_DIGITS || matches!(b.get(i), Some(b'e' | b'E' | b'.')) {
            return Err(NotPlain);
        }
        let text = self.text.get(start..i).ok_or(NotPlain)?;
        self.pos = i;
        if fraction {
            text.parse().map(Number::Float).map_err(|_| NotPlain)
        } else {
            text.parse().map(Number::Unsigned).map_err(|_| NotPlain)
        }
    }

    fn enter(&mut self) -> Plainly<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(NotPlain);
        }
        Ok(())
    }
}

enum Number {
    Unsigned(u64),
    Float(f64),
}

/// The index of the `"` that ends the string whose content starts at
/// `b[from]`; `None` at a backslash or a control character first. Eight
/// bytes at a time: in each word, the lowest byte flagged as a quote, a
/// backslash or below 0x20 is a true one (carries only spill upwards).
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_at = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut i = from;
    while let Some(word) = b.get(i..i + 8) {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes);
        let flagged = zero_at(x ^ (ONES * u64::from(b'"')))
            | zero_at(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGHS);
        if flagged != 0 {
            let at = i + (flagged.trailing_zeros() / 8) as usize;
            return (b.get(at) == Some(&b'"')).then_some(at);
        }
        i += 8;
    }
    let at = i + b
        .get(i..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (b.get(at) == Some(&b'"')).then_some(at)
}

impl<'de> de::Deserializer<'de> for &mut Plain<'de> {
    type Error = NotPlain;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        match self.peek() {
            Some(b't') => {
                self.literal("true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.literal("false")?;
                visitor.visit_bool(false)
            }
            _ => Err(NotPlain),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(NotPlain);
        }
        match self.number()? {
            Number::Unsigned(n) => visitor.visit_u64(n),
            Number::Float(n) => visitor.visit_f64(n),
        }
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        visitor.visit_borrowed_str(self.string()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        if self.peek() == Some(b'n') {
            self.literal("null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.eat(b'[')?;
        self.enter()?;
        let value = visitor.visit_seq(Items {
            de: &mut *self,
            first: true,
        })?;
        self.depth -= 1;
        self.eat(b']')?;
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.eat(b'{')?;
        self.enter()?;
        let value = visitor.visit_map(Items {
            de: &mut *self,
            first: true,
        })?;
        self.depth -= 1;
        self.eat(b'}')?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Plainly<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Plainly<V::Value> {
        if self.peek() != Some(b'"') {
            return Err(NotPlain);
        }
        visitor.visit_enum(UnitVariant(self.string()?))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Plainly<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }
}

/// The members of an object or the elements of an array.
struct Items<'a, 'de> {
    de: &'a mut Plain<'de>,
    first: bool,
}

impl Items<'_, '_> {
    /// Moves to the next member or element; `false` at `close`, which is
    /// left for the caller. A trailing comma is not plain.
    fn has_next(&mut self, close: u8) -> Plainly<bool> {
        match self.de.peek() {
            Some(b) if b == close => Ok(false),
            Some(b',') if !self.first => {
                self.de.pos += 1;
                match self.de.peek() {
                    Some(b) if b != close => Ok(true),
                    _ => Err(NotPlain),
                }
            }
            Some(_) if self.first => {
                self.first = false;
                Ok(true)
            }
            _ => Err(NotPlain),
        }
    }
}

impl<'de> MapAccess<'de> for Items<'_, 'de> {
    type Error = NotPlain;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Plainly<Option<K::Value>> {
        if !self.has_next(b'}')? || self.de.peek() != Some(b'"') {
            return match self.de.peek() {
                Some(b'}') => Ok(None),
                _ => Err(NotPlain),
            };
        }
        let key = self.de.string()?;
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Plainly<V::Value> {
        self.de.eat(b':')?;
        seed.deserialize(&mut *self.de)
    }
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = NotPlain;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Plainly<Option<T::Value>> {
        if !self.has_next(b']')? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// An enum value written as a string: a unit variant.
struct UnitVariant<'de>(&'de str);

impl<'de> EnumAccess<'de> for UnitVariant<'de> {
    type Error = NotPlain;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Plainly<(V::Value, Self)> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.0))?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant<'de> {
    type Error = NotPlain;

    fn unit_variant(self) -> Plainly<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Plainly<T::Value> {
        Err(NotPlain)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Plainly<V::Value> {
        Err(NotPlain)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Plainly<V::Value> {
        Err(NotPlain)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use brygga_mapping::profile::Profile;

    use super::super::{Names, Tag, parse, parse_plain};

    /// Every record line of the ProRenata golden vectors.
    fn vector_records() -> Vec<String> {
        let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../conformance-tests/vectors/prorenata");
        let mut records = Vec::new();
        for entry in std::fs::read_dir(vectors).expect("vectors") {
            let dir = entry.expect("entry").path();
            for name in ["input.json", "input.ndjson", "reencoded.json"] {
                let Ok(bytes) = std::fs::read(dir.join(name)) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                records.extend(
                    text.lines()
                        .map(|line| line.trim_end().trim_end_matches(',').to_owned())
                        .filter(|line| line.starts_with('{')),
                );
            }
        }
        records
    }

    /// Where the quick reader reads `text` at all, serde_json reads it too,
    /// into the same record; `true` when the quick reader read it.
    fn agrees(text: &str, names: &Names) -> bool {
        let tag = Cell::new(Tag::Unread);
        let Some(plain) = parse_plain(text, names, &tag) else {
            return false;
        };
        let careful = parse(text, names, &Cell::new(Tag::Unread));
        match careful {
            Ok(careful) => assert_eq!(format!("{plain:?}"), format!("{careful:?}"), "{text}"),
            Err(e) => panic!("only the quick reader reads {text:?}: {e}"),
        }
        true
    }

    #[test]
    fn plain_records_read_as_serde_json_reads_them() {
        let names = Names::from_profile(&Profile::builtin("prorenata"));
        let records = vector_records();
        let read = records.iter().filter(|r| agrees(r, &names)).count();
        // Nearly every valid record is plainly written.
        assert!(
            records.len() > 100 && read * 10 > records.len() * 7,
            "{read} of {}",
            records.len()
        );
        for sample in [
            r#"{"objectType":"measurement","system":"s","id":"m","patient":{"civicNo":"1"},"name":"Vikt","time":"t","value":0.1,"unit":"kg"}"#,
            r#"{"objectType":"measurement","system":"s","id":"m","patient":{"civicNo":"1"},"name":"Vikt","time":"t","value":82}"#,
            r#" { "objectType" : "contact" , "system":"s","id":"c","version": 3 ,"patient":{"civicNo":"1"},"contactType":"visit","start":"t","performer":null } "#,
        ] {
            assert!(agrees(sample, &names), "{sample}");
        }
        for not_plain in [
            r#"{"objectType":"measurement","system":"s\"","id":"m"}"#,
            r#"{"objectType":"measurement","value":1e2}"#,
            r#"{"objectType":"measurement","value":-3}"#,
            r#"{"objectType":"measurement","value":01}"#,
            r#"{"objectType":"contact","system":"s",}"#,
            r#"{"id":"x","objectType":"contact"}"#,
            r#"{"objectType":"contact"} x"#,
        ] {
            assert!(!agrees(not_plain, &names), "{not_plain}");
        }
    }

    #[test]
    fn plain_records_read_as_serde_json_reads_them_after_random_edits() {
        let names = Names::from_profile(&Profile::builtin("prorenata"));
        let records = vector_records();
        // xorshift64: the same edits on every run.
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        let pieces: &[&str] = &[
            "\"",
            "\\",
            ",",
            ":",
            "{",
            "}",
            "[",
            "]",
            " ",
            "\n",
            "\t",
            "0",
            "1",
            ".",
            "-",
            "e",
            "null",
            "true",
            "false",
            "\u{1}",
            "\"x\":1",
            "\"value\":",
            "12.5",
            "é",
        ];
        let mut read = 0;
        for round in 0..20_000 {
            let mut text = records[round % records.len()].clone();
            for _ in 0..=next(2) {
                // Edit at a character boundary, so the text stays a string.
                let at = next(text.len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                if next(2) == 0 {
                    let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                    text.replace_range(at..end, "");
                } else {
                    text.insert_str(at, pieces[next(pieces.len())]);
                }
            }
            read += usize::from(agrees(&text, &names));
        }
        assert!(read > 1000, "{read}");
    }
}
