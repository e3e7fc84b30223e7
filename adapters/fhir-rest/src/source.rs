//! Reading: a FHIR server's patients and their pupil-health resources →
//! canonical records.
//!
//! For each patient — found by identifier (`Patient?identifier=system|value`)
//! or, when none are listed, every Patient on the server — the source
//! yields the person record, then the patient's DocumentReferences,
//! Observations and Immunizations (`Type?patient=Patient/id`), each read by
//! `brygga_adapters::fhir::decode`. Every search asks for `_sort=_id`, so
//! the same server contents give the same items in the same order and a
//! [`Source`](brygga_adapters::stream::Source) can resume by position.
//! Pages are fetched as they are needed: one page is held at a time, and
//! `next` links are followed only within the base URL's origin.
//!
//! A resource that cannot be read is a reject naming the resource and the
//! element; the rest goes on. A request that fails through every retry
//! ends the input with a fatal error.

use std::collections::VecDeque;

use brygga_adapters::fhir::decode::{self, Read};
use brygga_adapters::fhir::encode;
use brygga_adapters::fhir::types::Resource;
use brygga_adapters::{DecodeError, Decoder, Fatal, Position, Reject};
use brygga_mapping::id::Identifier;
use brygga_mapping::model::Record;
use hyper::Method;
use serde::Deserialize;

use crate::client::{RestClient, query_encode};
use crate::{RestConfig, RestError};

/// The resource types read for each patient, in this order.
const PATIENT_TYPES: [&str; 3] = ["DocumentReference", "Observation", "Immunization"];

/// A searchset page as far as it is read.
#[derive(Deserialize)]
struct SearchPage {
    #[serde(rename = "resourceType", default)]
    resource_type: String,
    #[serde(default)]
    link: Vec<Link>,
    #[serde(default)]
    entry: Vec<SearchEntry>,
}

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    relation: String,
    #[serde(default)]
    url: String,
}

#[derive(Deserialize)]
struct SearchEntry {
    #[serde(default)]
    resource: Option<serde_json::Value>,
    #[serde(default)]
    search: Option<SearchMode>,
}

#[derive(Deserialize)]
struct SearchMode {
    #[serde(default)]
    mode: Option<String>,
}

/// A search being read: the current page's matches and the next page.
#[derive(Default)]
struct Search {
    entries: VecDeque<serde_json::Value>,
    next: Option<String>,
}

/// Reads records from a FHIR server; see the module documentation.
pub struct RestSource {
    runtime: tokio::runtime::Runtime,
    client: RestClient,
    /// The identifiers still to look up; `None` when reading every Patient.
    listed: Option<VecDeque<Identifier>>,
    /// Whether the every-Patient search has begun.
    started: bool,
    patients: Search,
    /// The current patient's id and the types still to search.
    patient: Option<(String, VecDeque<&'static str>)>,
    /// The search of the current patient's current type.
    resources: Option<Search>,
    items: u64,
    done: bool,
}

impl std::fmt::Debug for RestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestSource")
            .field("items", &self.items)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RestSource {
    /// Reads the patients with these identifiers (each looked up in turn),
    /// or every Patient when `patients` is empty. Checks `config` and loads
    /// what it names; connects on the first read.
    pub fn new(config: &RestConfig, patients: Vec<Identifier>) -> Result<RestSource, RestError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RestError::Config(format!("cannot start the HTTP runtime: {e}")))?;
        Ok(RestSource {
            runtime,
            client: RestClient::new(config)?,
            listed: (!patients.is_empty()).then(|| patients.into()),
            started: false,
            patients: Search::default(),
            patient: None,
            resources: None,
            items: 0,
            done: false,
        })
    }

    fn position(&self) -> Position {
        Position {
            record: self.items,
            line: None,
            offset: None,
        }
    }

    fn reject(
        &mut self,
        kind: Option<String>,
        field: Option<String>,
        reason: String,
    ) -> DecodeError {
        self.items += 1;
        DecodeError::Reject(Reject {
            position: self.position(),
            record_kind: kind,
            field,
            reason,
        })
    }

    fn fatal(&mut self, error: RestError) -> DecodeError {
        self.done = true;
        DecodeError::Fatal(Fatal {
            position: Position {
                record: self.items + 1,
                ..self.position()
            },
            reason: error.to_string(),
        })
    }

    /// `base/Type?…&_count=N&_sort=_id`.
    fn search_url(&self, resource_type: &str, parameter: &str, value: &str) -> String {
        let settings = self.client.settings();
        let mut query = String::new();
        if !parameter.is_empty() {
            query.push_str(&format!("{parameter}={}&", query_encode(value)));
        }
        query.push_str(&format!("_count={}&_sort=_id", settings.page_size));
        settings.base.join(&format!("{resource_type}?{query}"))
    }

    /// Fetches one searchset page.
    fn fetch(&self, url: &str) -> Result<Search, RestError> {
        let body = self
            .runtime
            .block_on(self.client.exchange(Method::GET, url, None))?
            .success()
            .map_err(|e| match e {
                RestError::Refused(m) => RestError::Refused(format!("search: {m}")),
                other => other,
            })?;
        let page: SearchPage = serde_json::from_slice(&body)
            .map_err(|e| RestError::Refused(format!("search: the answer is not a Bundle: {e}")))?;
        if page.resource_type != "Bundle" {
            return Err(RestError::Refused(format!(
                "search: the answer is a {}, not a searchset Bundle",
                page.resource_type
            )));
        }
        let next = page
            .link
            .into_iter()
            .find(|l| l.relation == "next")
            .map(|l| l.url);
        if let Some(next) = &next
            && !self.client.settings().base.same_origin(next)
        {
            return Err(RestError::Refused(
                "search: the server's next link leads to another origin than base_url; it is not followed".into(),
            ));
        }
        let entries = page
            .entry
            .into_iter()
            .filter(|e| {
                e.search
                    .as_ref()
                    .and_then(|s| s.mode.as_deref())
                    .is_none_or(|m| m == "match")
            })
            .filter_map(|e| e.resource)
            .collect();
        Ok(Search { entries, next })
    }

    /// Reads one resource into a record; `None` when passed over.
    fn read(&mut self, value: serde_json::Value) -> Option<Result<Record, DecodeError>> {
        let declared = value
            .get("resourceType")
            .and_then(|t| t.as_str())
            .unwrap_or("(no resourceType)")
            .to_owned();
        let id = value
            .get("id")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_owned();
        let resource = match Resource::deserialize(value) {
            Ok(resource) => resource,
            Err(e) => {
                return Some(Err(self.reject(
                    Some(declared),
                    None,
                    format!("resource {id} cannot be read: {}", scrub(&e.to_string())),
                )));
            }
        };
        match decode::read(resource) {
            Ok(Read::PassedOver) => None,
            Ok(Read::Record(record)) => {
                self.items += 1;
                Some(Ok(*record))
            }
            Err(refusal) => Some(Err(self.reject(
                Some(declared.clone()),
                Some(refusal.field),
                format!("{} (resource {declared}/{id})", refusal.reason),
            ))),
        }
    }

    /// One step towards the next item: `Some` for an item (or the end),
    /// `None` to keep going.
    fn step(&mut self) -> Result<Option<Option<Result<Record, DecodeError>>>, RestError> {
        // The current patient's resources.
        if let Some(search) = &mut self.resources {
            if let Some(value) = search.entries.pop_front() {
                return Ok(self.read(value).map(Some));
            }
            match search.next.take() {
                Some(next) => {
                    let page = self.fetch(&next)?;
                    self.resources = Some(page);
                }
                None => self.resources = None,
            }
            return Ok(None);
        }
        if let Some((id, types)) = &mut self.patient {
            match types.pop_front() {
                Some(resource_type) => {
                    let reference = format!("Patient/{id}");
                    let url = self.search_url(resource_type, "patient", &reference);
                    let page = self.fetch(&url)?;
                    self.resources = Some(page);
                }
                None => self.patient = None,
            }
            return Ok(None);
        }
        // The next patient.
        if let Some(value) = self.patients.entries.pop_front() {
            let id = value
                .get("id")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_owned();
            if id.is_empty() {
                return Ok(Some(Some(Err(self.reject(
                    Some("Patient".into()),
                    Some("Patient.id".into()),
                    "missing: the patient's resources cannot be searched without it".into(),
                )))));
            }
            self.patient = Some((id, PATIENT_TYPES.into_iter().collect()));
            return Ok(self.read(value).map(Some));
        }
        if let Some(next) = self.patients.next.take() {
            self.patients = self.fetch(&next)?;
            return Ok(None);
        }
        match &mut self.listed {
            Some(listed) => {
                let Some(identifier) = listed.pop_front() else {
                    return Ok(Some(None));
                };
                let fhir =
                    encode::identifier("patient", &identifier).map_err(RestError::Refused)?;
                let token = format!(
                    "{}|{}",
                    fhir.system.as_deref().unwrap_or_default(),
                    escape_token(fhir.value.as_deref().unwrap_or_default())
                );
                let url = self.search_url("Patient", "identifier", &token);
                self.patients = self.fetch(&url)?;
                if self.patients.entries.is_empty() && self.patients.next.is_none() {
                    return Ok(Some(Some(Err(self.reject(
                        Some("Patient".into()),
                        None,
                        format!(
                            "no Patient on the server has the identifier {}",
                            shown(&identifier)
                        ),
                    )))));
                }
                Ok(None)
            }
            None if !self.started => {
                self.started = true;
                let url = self.search_url("Patient", "", "");
                self.patients = self.fetch(&url)?;
                Ok(None)
            }
            None => Ok(Some(None)),
        }
    }
}

impl Decoder for RestSource {
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
        loop {
            if self.done {
                return None;
            }
            match self.step() {
                Ok(Some(None)) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(item)) => return item,
                Ok(None) => {}
                Err(e) => return Some(Err(self.fatal(e))),
            }
        }
    }
}

/// An identifier as messages may show it: person ids masked.
fn shown(identifier: &Identifier) -> String {
    match identifier {
        Identifier::Person(id) => format!("{} {}", id.kind(), id.masked()),
        Identifier::Local(local) => format!("local {} in {}", local.value, local.namespace),
    }
}

/// FHIR search escaping of a token's value (`\`, `|`, `,`, `$`).
fn escape_token(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | '|' | ',' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Replaces quoted values in a parser's message, which could be a person
/// id or note text, with `…`.
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_messages_are_escaped() {
        assert_eq!(escape_token(r"a|b,c$d\e"), r"a\|b\,c\$d\\e");
        assert_eq!(
            scrub(r#"invalid type: string "20120101", expected a date"#),
            r#"invalid type: string "…", expected a date"#
        );
    }
}
