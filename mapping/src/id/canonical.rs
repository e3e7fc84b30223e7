//! The canonical JSON form of person ids and identifiers:
//! `{"system":"personnummer","value":"196408233234"}` and
//! `{"system":"local","namespace":"pmo:gotene","value":"123"}`.
//!
//! Reading validates (a stored number is parsed as strictly as a received
//! one) and is written by hand rather than derived: serde's derived and
//! built-in impls echo a wrongly typed value in their errors ("invalid type:
//! integer `196408233234`"), which would put a full personnummer in a log
//! line. Here an error names the type found, never the value.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, Unexpected, Visitor};
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::person::parse_normalized_as;
use super::{Identifier, LocalId, PersonId, PersonIdKind};

impl Serialize for PersonId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("PersonId", 2)?;
        fields.serialize_field("system", &self.kind())?;
        fields.serialize_field("value", self.as_str())?;
        fields.end()
    }
}

impl Serialize for Identifier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Person(id) => id.serialize(serializer),
            Self::Local(LocalId { namespace, value }) => {
                let mut fields = serializer.serialize_struct("LocalId", 3)?;
                fields.serialize_field("system", "local")?;
                fields.serialize_field("namespace", namespace)?;
                fields.serialize_field("value", value)?;
                fields.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PersonId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Fields::deserialize(deserializer)?.into_identifier()? {
            Identifier::Person(id) => Ok(id),
            Identifier::Local(_) => Err(de::Error::custom(
                "expected a person id, found a local id (system \"local\")",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Fields::deserialize(deserializer)?.into_identifier()
    }
}

/// `system`: a person id kind, or `local`.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum System {
    Personnummer,
    Samordningsnummer,
    Reservnummer,
    Temporary,
    Local,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum FieldName {
    System,
    Namespace,
    Value,
}

/// An identifier object as read, before its value is validated; `value`
/// borrows from the input where it can.
struct Fields<'a> {
    system: System,
    namespace: Option<String>,
    value: Cow<'a, str>,
}

impl Fields<'_> {
    fn into_identifier<E: de::Error>(self) -> Result<Identifier, E> {
        let kind = match self.system {
            System::Local => {
                let namespace = self
                    .namespace
                    .ok_or_else(|| E::missing_field("namespace"))?;
                return Ok(Identifier::Local(LocalId {
                    namespace,
                    value: self.value.into_owned(),
                }));
            }
            System::Personnummer => PersonIdKind::Personnummer,
            System::Samordningsnummer => PersonIdKind::Samordningsnummer,
            System::Reservnummer => PersonIdKind::Reservnummer,
            System::Temporary => PersonIdKind::Temporary,
        };
        if self.namespace.is_some() {
            return Err(E::custom(format_args!(
                "a {kind} has no namespace; only a local id does"
            )));
        }
        parse_normalized_as(&self.value, Some(kind))
            .map(Identifier::Person)
            .map_err(E::custom)
    }
}

/// Refuses the scalar types a person id might arrive as, naming the type
/// only; the defaults would quote the value.
macro_rules! refuse_scalars_without_echo {
    ($($method:ident: $type:ty => $found:literal),* $(,)?) => {$(
        fn $method<E: de::Error>(self, _: $type) -> Result<Self::Value, E> {
            Err(E::invalid_type(Unexpected::Other($found), &self))
        }
    )*};
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<'a>(PhantomData<&'a str>);

        impl<'de: 'a, 'a> Visitor<'de> for FieldsVisitor<'a> {
            type Value = Fields<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an identifier object with \"system\" and \"value\"")
            }

            refuse_scalars_without_echo! {
                visit_i64: i64 => "a number",
                visit_u64: u64 => "a number",
                visit_i128: i128 => "a number",
                visit_u128: u128 => "a number",
                visit_f64: f64 => "a number",
                visit_str: &str => "a string",
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'a>, M::Error> {
                let mut system = None;
                let mut namespace = None;
                let mut value = None;
                while let Some(name) = map.next_key()? {
                    match name {
                        FieldName::System if system.is_some() => {
                            return Err(de::Error::duplicate_field("system"));
                        }
                        FieldName::System => system = Some(map.next_value()?),
                        FieldName::Namespace if namespace.is_some() => {
                            return Err(de::Error::duplicate_field("namespace"));
                        }
                        FieldName::Namespace => namespace = Some(map.next_value()?),
                        FieldName::Value if value.is_some() => {
                            return Err(de::Error::duplicate_field("value"));
                        }
                        FieldName::Value => value = Some(map.next_value::<Text<'a>>()?.0),
                    }
                }
                Ok(Fields {
                    system: system.ok_or_else(|| de::Error::missing_field("system"))?,
                    namespace,
                    value: value.ok_or_else(|| de::Error::missing_field("value"))?,
                })
            }
        }

        deserializer.deserialize_any(FieldsVisitor(PhantomData))
    }
}

/// The `value` string, borrowed when the input allows.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a str>);

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the identifier as a string")
            }

            refuse_scalars_without_echo! {
                visit_i64: i64 => "a number",
                visit_u64: u64 => "a number",
                visit_i128: i128 => "a number",
                visit_u128: u128 => "a number",
                visit_f64: f64 => "a number",
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }

        // `any`, not `str`: a format asked for a string reports a number by
        // quoting it before any visitor could refuse it without echo.
        deserializer.deserialize_any(TextVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use proptest::prelude::*;

    use super::*;
    use crate::id::Sex;

    const EXAMPLE: &str = "196408233234";

    fn example() -> PersonId {
        PersonId::parse_normalized(EXAMPLE).unwrap()
    }

    fn local() -> Identifier {
        Identifier::Local(LocalId {
            namespace: "pmo:gotene".to_owned(),
            value: "123".to_owned(),
        })
    }

    fn identifier_error(json: &str) -> String {
        serde_json::from_str::<Identifier>(json)
            .expect_err("should be refused")
            .to_string()
    }

    fn person_error(json: &str) -> String {
        serde_json::from_str::<PersonId>(json)
            .expect_err("should be refused")
            .to_string()
    }

    #[test]
    fn person_ids_name_their_system() {
        let json = serde_json::to_string(&example()).unwrap();
        assert_eq!(json, r#"{"system":"personnummer","value":"196408233234"}"#);
        assert_eq!(serde_json::from_str::<PersonId>(&json).unwrap(), example());

        let person = Identifier::Person(example());
        assert_eq!(serde_json::to_string(&person).unwrap(), json);
        assert_eq!(serde_json::from_str::<Identifier>(&json).unwrap(), person);

        let coordination = PersonId::samordningsnummer(date(1990, 1, 1), 42).unwrap();
        let json = serde_json::to_string(&Identifier::Person(coordination)).unwrap();
        assert!(json.starts_with(r#"{"system":"samordningsnummer","#));
        assert_eq!(
            serde_json::from_str::<PersonId>(&json).unwrap(),
            coordination
        );

        // Field order is free; an escaped value cannot be borrowed but parses.
        let reordered = r#"{"value":"19640823\u0033234","system":"personnummer"}"#;
        assert_eq!(
            serde_json::from_str::<PersonId>(reordered).unwrap(),
            example()
        );

        assert_eq!(serde_json::to_string(&Sex::Female).unwrap(), r#""female""#);
        assert_eq!(
            serde_json::to_string(&PersonIdKind::Temporary).unwrap(),
            r#""temporary""#
        );
    }

    #[test]
    fn local_ids_keep_their_namespace() {
        let json = serde_json::to_string(&local()).unwrap();
        assert_eq!(
            json,
            r#"{"system":"local","namespace":"pmo:gotene","value":"123"}"#
        );
        assert_eq!(serde_json::from_str::<Identifier>(&json).unwrap(), local());
        assert!(person_error(&json).contains("expected a person id, found a local id"));
    }

    #[test]
    fn reading_validates_with_the_id_error_text() {
        let error = person_error(r#"{"system":"personnummer","value":"196408233235"}"#);
        assert!(
            error.starts_with(
                r#"invalid personnummer "19640823****": check digit is 5, Luhn gives 4"#
            ),
            "{error}"
        );
        let error = identifier_error(r#"{"system":"personnummer","value":"19640823-3234"}"#);
        assert!(error.contains("wrong length: 13 characters"), "{error}");

        let coordination = PersonId::samordningsnummer(date(1964, 8, 23), 323).unwrap();
        let declared_wrong = format!(
            r#"{{"system":"personnummer","value":"{}"}}"#,
            coordination.as_str()
        );
        let error = person_error(&declared_wrong);
        assert!(
            error.starts_with(
                r#"invalid personnummer "19640883****": the value is a samordningsnummer"#
            ),
            "{error}"
        );
    }

    #[test]
    fn malformed_objects_are_refused() {
        for (json, expected) in [
            (r#"{"system":"hsa","value":"x"}"#, "unknown variant `hsa`"),
            (
                r#"{"system":"local","value":"1"}"#,
                "missing field `namespace`",
            ),
            (r#"{"value":"196408233234"}"#, "missing field `system`"),
            (r#"{"system":"personnummer"}"#, "missing field `value`"),
            (
                r#"{"system":"personnummer","namespace":"x","value":"196408233234"}"#,
                "a personnummer has no namespace",
            ),
            (
                r#"{"system":"local","namespace":"x","value":"1","extra":1}"#,
                "unknown field `extra`",
            ),
            (
                r#"{"system":"local","system":"local","namespace":"x","value":"1"}"#,
                "duplicate field `system`",
            ),
        ] {
            let error = identifier_error(json);
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn wrongly_typed_values_are_not_echoed() {
        for json in [
            r#"{"system":"personnummer","value":196408233234}"#,
            r#"{"system":"personnummer","value":196408233234.0}"#,
            r#"{"system":"personnummer","value":-196408233234}"#,
            "196408233234",
            r#""196408233234""#,
        ] {
            for error in [identifier_error(json), person_error(json)] {
                assert!(!error.contains("3234"), "{json}: {error}");
                assert!(error.starts_with("invalid type: a "), "{json}: {error}");
            }
        }
    }

    #[test]
    fn debug_of_an_identifier_is_masked() {
        let shown = format!("{:?}", Identifier::Person(example()));
        assert!(
            shown.contains("19640823-****") && !shown.contains("3234"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_objects_never_panic(system in "[a-z]{0,20}", value in any::<String>()) {
            let json = serde_json::json!({ "system": system, "value": value }).to_string();
            let _ = serde_json::from_str::<Identifier>(&json);
            let _ = serde_json::from_str::<PersonId>(&json);
        }

        #[test]
        fn arbitrary_text_never_panics(json in any::<String>()) {
            let _ = serde_json::from_str::<Identifier>(&json);
            let _ = serde_json::from_str::<PersonId>(&json);
        }
    }
}
