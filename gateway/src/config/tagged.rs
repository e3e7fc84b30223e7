//! Tables whose variant is named by a key inside them, such as
//! `[store] backend = "postgres"`, deserialized as serde enums without losing
//! line numbers.
//!
//! That layout reads best in a configuration file, and serde calls it an
//! internally tagged enum. But serde deserializes internally tagged enums by
//! buffering the whole table first, which throws away the positions our error
//! messages need, and it cannot default a missing tag. So before deserializing,
//! [`retag`] rewrites the parsed document into serde's externally tagged shape,
//! `store = { postgres = { url = … } }`, keeping every key's and value's span.
//! A plain derived enum with `deny_unknown_fields` variants then reports unknown
//! keys, wrong types and unknown variants at the exact place in the file.

use std::borrow::Cow;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Problem, Spot};

/// A top-level table whose `tag` key names the enum variant that reads it.
#[derive(Debug)]
pub(super) struct Tagged {
    /// The table's key in the file, e.g. `store`.
    pub table: &'static str,
    /// The key inside the table that names the variant, e.g. `backend`.
    pub tag: &'static str,
    /// The variant used when the table does not name one.
    pub default: &'static str,
}

/// Rewrites `[table] tag = "variant" …` in `doc` to `table = { variant = { … } }`.
/// The new `variant` key carries the span of the tag's value (or of the table
/// when the tag was left out), so "unknown variant" points at what the user
/// wrote. A document without the table is left alone.
pub(super) fn retag(doc: &mut DeTable<'_>, tagged: &Tagged) -> Result<(), Spot> {
    let Some(entry) = doc.get_mut(tagged.table) else {
        return Ok(());
    };
    let table_span = entry.span();
    let DeValue::Table(table) = entry.get_mut() else {
        return Err(Spot::at(
            table_span,
            tagged.table,
            Problem::wrong_type("a table", entry.get_ref().type_str()),
        ));
    };
    let variant = match table.remove(tagged.tag) {
        Some(value) => {
            let span = value.span();
            match value.into_inner() {
                DeValue::String(name) => Spanned::new(span, name),
                other => {
                    return Err(Spot::at(
                        span,
                        format!("{}.{}", tagged.table, tagged.tag),
                        Problem::wrong_type("a string", other.type_str()),
                    ));
                }
            }
        }
        None => Spanned::new(table_span.clone(), Cow::Borrowed(tagged.default)),
    };
    let fields = std::mem::take(table);
    let mut outer = DeTable::new();
    outer.insert(
        variant,
        Spanned::new(table_span.clone(), DeValue::Table(fields)),
    );
    *entry = Spanned::new(table_span, DeValue::Table(outer));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: Tagged = Tagged {
        table: "store",
        tag: "backend",
        default: "sqlite",
    };

    fn retagged(text: &str) -> Result<Vec<String>, Spot> {
        let mut doc = DeTable::parse(text).expect("test input is TOML");
        retag(doc.get_mut(), &STORE)?;
        let store = doc.get_ref().get("store").expect("store is kept");
        let DeValue::Table(outer) = store.get_ref() else {
            panic!("store is still a table")
        };
        Ok(outer
            .iter()
            .map(|(variant, fields)| {
                let DeValue::Table(fields) = fields.get_ref() else {
                    panic!("variant holds a table")
                };
                let keys: Vec<&str> = fields.keys().map(|k| k.get_ref().as_ref()).collect();
                format!(
                    "{}@{:?}: {}",
                    variant.get_ref(),
                    variant.span(),
                    keys.join(",")
                )
            })
            .collect())
    }

    #[test]
    fn the_tag_becomes_the_only_key_and_keeps_its_span() {
        let text = "[store]\nbackend = \"postgres\"\nurl = \"x\"\n";
        assert_eq!(
            retagged(text).expect("retags"),
            vec!["postgres@18..28: url".to_owned()]
        );
    }

    #[test]
    fn a_missing_tag_gets_the_default_at_the_table() {
        assert_eq!(
            retagged("[store]\npath = \"x\"\n").expect("retags"),
            vec!["sqlite@0..7: path".to_owned()]
        );
    }

    #[test]
    fn a_tag_that_is_not_a_string_is_a_wrong_type() {
        let spot = retagged("[store]\nbackend = 1\n").expect_err("rejected");
        assert_eq!(spot.key.as_deref(), Some("store.backend"));
        assert_eq!(spot.span, Some(18..19));
        assert_eq!(spot.problem, Problem::wrong_type("a string", "integer"));
    }

    #[test]
    fn a_table_that_is_not_a_table_is_a_wrong_type() {
        let mut doc = DeTable::parse("store = \"sqlite\"\n").expect("TOML");
        let spot = retag(doc.get_mut(), &STORE).expect_err("rejected");
        assert_eq!(spot.key.as_deref(), Some("store"));
        assert_eq!(spot.problem, Problem::wrong_type("a table", "string"));
    }

    #[test]
    fn a_document_without_the_table_is_untouched() {
        let mut doc = DeTable::parse("[log]\n").expect("TOML");
        retag(doc.get_mut(), &STORE).expect("nothing to do");
        assert!(doc.get_ref().get("store").is_none());
    }
}
