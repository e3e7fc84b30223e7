//! The test server's resources: a version history per `Type/id`,
//! transactions applied atomically in entry order, and searches.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// One resource's history.
#[derive(Debug)]
struct Stored {
    /// Every version, oldest first, with `meta.versionId` and
    /// `meta.lastUpdated` set.
    versions: Vec<Value>,
    /// The id of the Patient the resource is about, if any.
    patient: Option<String>,
    /// When it was first written, in write order.
    created: u64,
}

/// What a search matches on.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub patient: Option<String>,
    /// (system, value).
    pub identifier: Option<(String, String)>,
    pub count: usize,
    pub offset: usize,
    /// Order by id; else by first write.
    pub by_id: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Type → id → history.
    resources: BTreeMap<String, BTreeMap<String, Stored>>,
    /// Writes that created a version.
    changed_writes: usize,
    /// Resources ever created.
    created: u64,
    /// Patient id → `Type/id` of that patient's resources, in the order
    /// they were first written.
    first_writes: HashMap<String, Vec<String>>,
}

/// A checked entry of a transaction.
struct Put<'a> {
    resource_type: &'a str,
    id: &'a str,
    resource: &'a Value,
}

impl Store {
    /// Applies a transaction Bundle of `PUT Type/id` entries, all or
    /// nothing; the transaction-response, or why it was refused.
    pub fn transaction(&mut self, bundle: &Value) -> Result<Value, String> {
        let puts = check_transaction(bundle)?;
        let now = Timestamp::now().to_string();
        let mut responses = Vec::with_capacity(puts.len());
        for put in puts {
            responses.push(self.put(put, &now));
        }
        Ok(json!({
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": responses,
        }))
    }

    fn put(&mut self, put: Put<'_>, now: &str) -> Value {
        let key = format!("{}/{}", put.resource_type, put.id);
        let incoming = without_version_meta(put.resource);
        let patient = self.patient_of(put.resource_type, put.id, &incoming);
        let by_id = self
            .resources
            .entry(put.resource_type.to_owned())
            .or_default();
        let existing = by_id.get_mut(put.id);
        if let Some(stored) = &existing
            && let Some(last) = stored.versions.last()
            && without_version_meta(last) == incoming
        {
            let version = stored.versions.len();
            return entry_response("200 OK", &key, version);
        }
        let stored = match existing {
            Some(stored) => stored,
            None => {
                self.created += 1;
                if let Some(patient) = &patient {
                    self.first_writes
                        .entry(patient.clone())
                        .or_default()
                        .push(key.clone());
                }
                by_id.entry(put.id.to_owned()).or_insert(Stored {
                    versions: Vec::new(),
                    patient,
                    created: self.created,
                })
            }
        };
        let version = stored.versions.len() + 1;
        let mut resource = incoming;
        if let Value::Object(object) = &mut resource {
            let meta = object
                .entry("meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.insert("versionId".into(), Value::String(version.to_string()));
                meta.insert("lastUpdated".into(), Value::String(now.to_owned()));
            }
        }
        stored.versions.push(resource);
        self.changed_writes += 1;
        entry_response(
            if version == 1 {
                "201 Created"
            } else {
                "200 OK"
            },
            &key,
            version,
        )
    }

    /// The Patient a resource is about: itself, its `subject` or `patient`
    /// reference, or for a Provenance its target's patient.
    fn patient_of(&self, resource_type: &str, id: &str, resource: &Value) -> Option<String> {
        if resource_type == "Patient" {
            return Some(id.to_owned());
        }
        for element in ["subject", "patient"] {
            if let Some(reference) = resource
                .get(element)
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("Patient/"))
            {
                return Some(reference.to_owned());
            }
        }
        if resource_type == "Provenance" {
            let target = resource.get("target")?.get(0)?.get("reference")?.as_str()?;
            let (target_type, target_id) = target.split_once('/')?;
            return self
                .resources
                .get(target_type)?
                .get(target_id)?
                .patient
                .clone();
        }
        None
    }

    /// The current version.
    pub fn read(&self, resource_type: &str, id: &str) -> Option<&Value> {
        self.resources.get(resource_type)?.get(id)?.versions.last()
    }

    /// The page of matches `query` asks for, and whether more follow.
    pub fn search(&self, resource_type: &str, query: &Query) -> (Vec<&Value>, bool) {
        let Some(by_id) = self.resources.get(resource_type) else {
            return (Vec::new(), false);
        };
        let mut matches: Vec<&Stored> = by_id
            .values()
            .filter(|stored| {
                query
                    .patient
                    .as_ref()
                    .is_none_or(|p| stored.patient.as_ref() == Some(p))
            })
            .filter(|stored| {
                query.identifier.as_ref().is_none_or(|(system, value)| {
                    stored
                        .versions
                        .last()
                        .is_some_and(|r| has_identifier(r, system, value))
                })
            })
            .collect();
        if !query.by_id {
            matches.sort_by_key(|stored| stored.created);
        }
        let more = matches.len() > query.offset + query.count;
        let page = matches
            .into_iter()
            .skip(query.offset)
            .take(query.count)
            .filter_map(|stored| stored.versions.last())
            .collect();
        (page, more)
    }

    pub fn versions(&self, resource_type: &str, id: &str) -> usize {
        self.resources
            .get(resource_type)
            .and_then(|m| m.get(id))
            .map_or(0, |stored| stored.versions.len())
    }

    pub fn changed_writes(&self) -> usize {
        self.changed_writes
    }

    pub fn first_writes(&self, patient: &str) -> Vec<String> {
        self.first_writes.get(patient).cloned().unwrap_or_default()
    }

    /// `Type/id` of every resource with its number of versions.
    pub fn version_counts(&self) -> BTreeMap<String, usize> {
        self.resources
            .iter()
            .flat_map(|(resource_type, by_id)| {
                by_id.iter().map(move |(id, stored)| {
                    (format!("{resource_type}/{id}"), stored.versions.len())
                })
            })
            .collect()
    }
}

fn entry_response(status: &str, key: &str, version: usize) -> Value {
    json!({
        "response": {
            "status": status,
            "location": format!("{key}/_history/{version}"),
            "etag": format!("W/\"{version}\""),
        }
    })
}

fn has_identifier(resource: &Value, system: &str, value: &str) -> bool {
    resource
        .get("identifier")
        .and_then(Value::as_array)
        .is_some_and(|identifiers| {
            identifiers.iter().any(|i| {
                i.get("system").and_then(Value::as_str) == Some(system)
                    && i.get("value").and_then(Value::as_str) == Some(value)
            })
        })
}

/// The resource without the server-maintained `meta.versionId` and
/// `meta.lastUpdated` (and without `meta` when nothing else is in it).
fn without_version_meta(resource: &Value) -> Value {
    let mut resource = resource.clone();
    if let Value::Object(object) = &mut resource {
        let empty = match object.get_mut("meta") {
            Some(Value::Object(meta)) => {
                meta.remove("versionId");
                meta.remove("lastUpdated");
                meta.is_empty()
            }
            _ => false,
        };
        if empty {
            object.remove("meta");
        }
    }
    resource
}

/// FHIR's id rule.
fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Every entry must be `PUT Type/id` of a resource of that type and id.
fn check_transaction(bundle: &Value) -> Result<Vec<Put<'_>>, String> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err("the body is not a Bundle".into());
    }
    if bundle.get("type").and_then(Value::as_str) != Some("transaction") {
        return Err("Bundle.type must be transaction".into());
    }
    let entries = match bundle.get("entry") {
        None => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err("Bundle.entry must be an array".into()),
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let method = entry
                .pointer("/request/method")
                .and_then(Value::as_str)
                .unwrap_or("");
            if method != "PUT" {
                return Err(format!(
                    "Bundle.entry[{i}].request.method: this server accepts only PUT"
                ));
            }
            let url = entry
                .pointer("/request/url")
                .and_then(Value::as_str)
                .unwrap_or("");
            let Some((resource_type, id)) = url.split_once('/').filter(|(_, id)| is_id(id)) else {
                return Err(format!("Bundle.entry[{i}].request.url: must be Type/id"));
            };
            let resource = entry
                .get("resource")
                .filter(|r| r.is_object())
                .ok_or_else(|| format!("Bundle.entry[{i}].resource: missing"))?;
            if resource.get("resourceType").and_then(Value::as_str) != Some(resource_type) {
                return Err(format!(
                    "Bundle.entry[{i}].resource.resourceType: differs from the request url's type"
                ));
            }
            if resource.get("id").and_then(Value::as_str) != Some(id) {
                return Err(format!(
                    "Bundle.entry[{i}].resource.id: differs from the id in the request url"
                ));
            }
            Ok(Put {
                resource_type,
                id,
                resource,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(entries: Value) -> Value {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    }

    fn put(resource: Value) -> Value {
        let url = format!(
            "{}/{}",
            resource["resourceType"].as_str().expect("type"),
            resource["id"].as_str().expect("id")
        );
        json!({"resource": resource, "request": {"method": "PUT", "url": url}})
    }

    #[test]
    fn an_unchanged_put_makes_no_version_and_order_is_kept_per_patient() {
        let mut store = Store::default();
        let patient = json!({"resourceType": "Patient", "id": "p1"});
        let observation = json!({"resourceType": "Observation", "id": "o1",
            "subject": {"reference": "Patient/p1"}});
        let provenance = json!({"resourceType": "Provenance", "id": "v1",
            "target": [{"reference": "Observation/o1"}]});
        let first = bundle(json!([
            put(patient.clone()),
            put(observation.clone()),
            put(provenance)
        ]));
        let answer = store.transaction(&first).expect("applied");
        assert_eq!(answer["entry"][0]["response"]["status"], "201 Created");
        store.transaction(&first).expect("applied again");
        assert_eq!(store.changed_writes(), 3);
        assert_eq!(
            store.first_writes("p1"),
            ["Patient/p1", "Observation/o1", "Provenance/v1"]
        );

        let mut changed = observation;
        changed["status"] = json!("final");
        let answer = store
            .transaction(&bundle(json!([put(changed)])))
            .expect("applied");
        assert_eq!(answer["entry"][0]["response"]["status"], "200 OK");
        assert_eq!(store.versions("Observation", "o1"), 2);
        assert_eq!(
            store.read("Observation", "o1").expect("stored")["meta"]["versionId"],
            "2"
        );
    }

    #[test]
    fn a_bad_entry_refuses_the_whole_transaction() {
        let mut store = Store::default();
        let good = put(json!({"resourceType": "Patient", "id": "p1"}));
        let mut wrong_id = put(json!({"resourceType": "Patient", "id": "p2"}));
        wrong_id["request"]["url"] = json!("Patient/p3");
        let reason = store
            .transaction(&bundle(json!([good, wrong_id])))
            .expect_err("refused");
        assert!(reason.contains("entry[1].resource.id"), "{reason}");
        assert_eq!(store.versions("Patient", "p1"), 0);
    }
}
