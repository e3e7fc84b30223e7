//! Writing: canonical records → transaction Bundles → the server.
//!
//! A batch is cut into groups, each a run of consecutive records about the
//! same person (organisations form their own groups). A group's resources
//! come from `brygga_adapters::fhir::patient_resources`, in its writing
//! order (Patient first, then chronologically), and go out as one
//! transaction, or as consecutive ones of at most `max_bundle_entries`
//! entries, each sent only once the one before succeeded. Every entry is a
//! `PUT` to the resource's deterministic id, so sending a group again —
//! after a lost answer, or in a rerun job — changes nothing on the server.
//!
//! Answers per record: a record FHIR cannot hold is `Permanent` with the
//! mapping's reason; a group the server refuses (a 4xx other than 401, 408
//! and 429, or an entry answered with an error) is `Permanent` with the
//! server's reason; a group that could not be delivered through every
//! retry is `Retryable`, and so is every later group of the batch, which
//! is not attempted: the job stops and is rerun.

use std::collections::HashMap;
use std::io;

use brygga_adapters::fhir::types::{Bundle, Resource};
use brygga_adapters::fhir::vocab::{CS_RESOURCE_TAG, TAG_REFERENCED_ONLY};
use brygga_adapters::fhir::{PatientResources, patient_resources, transaction_bundle};
use brygga_adapters::stream::{Delivery, Sink};
use brygga_mapping::model::Record;
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use tracing::debug;

use crate::client::RestClient;
use crate::{RestConfig, RestError, outcome};

/// How many Organization ids the sink remembers; past that it starts over
/// (and asks the server again).
const MAX_REMEMBERED_ORGANIZATIONS: usize = 1 << 16;

/// The REST sink for callers with a tokio runtime of their own (the
/// service). [`RestSink`] wraps it for synchronous jobs.
#[derive(Debug)]
pub struct AsyncRestSink {
    client: RestClient,
    /// What the server holds under an Organization id: whether an
    /// organisation record wrote it (then a referenced-only copy must not
    /// overwrite it).
    organizations: HashMap<String, OrganizationState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrganizationState {
    /// Written from an organisation record: complete.
    Complete,
    /// Absent, or only a referenced-only copy: a referenced-only copy may
    /// be written.
    ReferencedOnly,
}

impl AsyncRestSink {
    /// Checks `config` and loads what it names (CA, client certificate,
    /// secret); connects only when the first batch is sent.
    pub fn new(config: &RestConfig) -> Result<AsyncRestSink, RestError> {
        Ok(AsyncRestSink {
            client: RestClient::new(config)?,
            organizations: HashMap::new(),
        })
    }

    /// Delivers `batch`, answering for each record in order.
    pub async fn send(&mut self, batch: &[Record]) -> Vec<Delivery> {
        let mut answers = Vec::with_capacity(batch.len());
        let mut stopped: Option<String> = None;
        for group in groups(batch) {
            if let Some(reason) = &stopped {
                answers.extend(group.iter().map(|_| {
                    Delivery::Retryable(format!("not sent: an earlier delivery failed: {reason}"))
                }));
                continue;
            }
            let (group_answers, failure) = self.send_group(group).await;
            answers.extend(group_answers);
            stopped = failure;
        }
        answers
    }

    /// Delivers one group; the answers, and the reason when it failed
    /// transiently (so the rest of the batch is not attempted).
    async fn send_group(&mut self, group: &[Record]) -> (Vec<Delivery>, Option<String>) {
        let profile = self.client.settings().profile;
        let PatientResources { resources, refused } = patient_resources(group, profile);
        let mut answers = vec![Delivery::Delivered; group.len()];
        for (index, reason) in refused {
            answers[index] = Delivery::Permanent(reason);
        }
        let result = match self.without_overwrites(resources).await {
            Ok(resources) => self.deliver(resources).await,
            Err(e) => Err(e),
        };
        let failure = match result {
            Ok(()) => return (answers, None),
            Err(e) => e,
        };
        let transient = !matches!(failure, RestError::Refused(_));
        let reason = failure.to_string();
        for answer in &mut answers {
            if *answer == Delivery::Delivered {
                *answer = if transient {
                    Delivery::Retryable(reason.clone())
                } else {
                    Delivery::Permanent(reason.clone())
                };
            }
        }
        (answers, transient.then_some(reason))
    }

    /// Drops referenced-only Organizations whose id an organisation record
    /// wrote, so that a pupil's reference never overwrites the full
    /// resource with its sketch. The server is asked once per id it has
    /// not seen this run.
    async fn without_overwrites(
        &mut self,
        resources: Vec<Resource>,
    ) -> Result<Vec<Resource>, RestError> {
        let mut kept = Vec::with_capacity(resources.len());
        for resource in resources {
            if let Resource::Organization(organization) = &resource
                && organization
                    .meta
                    .tag
                    .iter()
                    .any(|t| t.is(CS_RESOURCE_TAG, TAG_REFERENCED_ONLY))
            {
                let state = match self.organizations.get(&organization.id) {
                    Some(state) => *state,
                    None => {
                        let state = self.organization_state(&organization.id).await?;
                        self.remember(organization.id.clone(), state);
                        state
                    }
                };
                if state == OrganizationState::Complete {
                    continue;
                }
            }
            kept.push(resource);
        }
        Ok(kept)
    }

    async fn organization_state(&self, id: &str) -> Result<OrganizationState, RestError> {
        #[derive(Deserialize)]
        struct Stored {
            #[serde(default)]
            meta: Option<StoredMeta>,
        }
        #[derive(Deserialize)]
        struct StoredMeta {
            #[serde(default)]
            tag: Vec<StoredCoding>,
        }
        #[derive(Deserialize)]
        struct StoredCoding {
            #[serde(default)]
            system: Option<String>,
            #[serde(default)]
            code: Option<String>,
        }
        let url = self
            .client
            .settings()
            .base
            .join(&format!("Organization/{id}"));
        let answer = self.client.exchange(Method::GET, &url, None).await?;
        if answer.status == StatusCode::NOT_FOUND || answer.status == StatusCode::GONE {
            return Ok(OrganizationState::ReferencedOnly);
        }
        let body = answer.success()?;
        let stored: Stored = serde_json::from_slice(&body).map_err(|e| {
            RestError::Unavailable(format!(
                "GET Organization: the answer is not a resource: {e}"
            ))
        })?;
        let referenced_only = stored.meta.is_some_and(|meta| {
            meta.tag.iter().any(|t| {
                t.system.as_deref() == Some(CS_RESOURCE_TAG)
                    && t.code.as_deref() == Some(TAG_REFERENCED_ONLY)
            })
        });
        Ok(if referenced_only {
            OrganizationState::ReferencedOnly
        } else {
            OrganizationState::Complete
        })
    }

    fn remember(&mut self, id: String, state: OrganizationState) {
        if self.organizations.len() >= MAX_REMEMBERED_ORGANIZATIONS {
            self.organizations.clear();
        }
        self.organizations.insert(id, state);
    }

    /// Posts the resources as consecutive transactions of at most
    /// `max_bundle_entries`, stopping at the first that fails.
    async fn deliver(&mut self, mut resources: Vec<Resource>) -> Result<(), RestError> {
        let chunk = self.client.settings().max_bundle_entries;
        let total = resources.len();
        let mut sent = 0;
        while !resources.is_empty() {
            let rest = resources.split_off(chunk.min(resources.len()));
            let part = std::mem::replace(&mut resources, rest);
            let complete: Vec<String> = part
                .iter()
                .filter_map(|r| match r {
                    Resource::Organization(o)
                        if !o
                            .meta
                            .tag
                            .iter()
                            .any(|t| t.is(CS_RESOURCE_TAG, TAG_REFERENCED_ONLY)) =>
                    {
                        Some(o.id.clone())
                    }
                    _ => None,
                })
                .collect();
            let entries = part.len();
            self.transaction(transaction_bundle(part))
                .await
                .map_err(|e| {
                    if sent > 0 {
                        with_context(
                            e,
                            &format!("after {sent} of {total} resources were written"),
                        )
                    } else {
                        e
                    }
                })?;
            sent += entries;
            for id in complete {
                self.remember(id, OrganizationState::Complete);
            }
        }
        Ok(())
    }

    /// Posts one transaction and checks that every entry succeeded.
    async fn transaction(&self, bundle: Bundle) -> Result<(), RestError> {
        let urls: Vec<String> = bundle
            .entry
            .iter()
            .map(|e| {
                e.request
                    .as_ref()
                    .map(|r| r.url.clone())
                    .unwrap_or_default()
            })
            .collect();
        let body = serde_json::to_vec(&bundle).map_err(|e| {
            RestError::Refused(format!("the Bundle cannot be written as JSON: {e}"))
        })?;
        let started = std::time::Instant::now();
        let answer = self
            .client
            .exchange(
                Method::POST,
                &self.client.settings().base.root(),
                Some(Bytes::from(body)),
            )
            .await
            .map_err(|e| with_context(e, "transaction"))?;
        let status = answer.status;
        let body = answer
            .success()
            .map_err(|e| with_context(e, "transaction"))?;
        check_response(&body, &urls)?;
        debug!(
            entries = urls.len(),
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "transaction written"
        );
        Ok(())
    }
}

fn with_context(error: RestError, context: &str) -> RestError {
    match error {
        RestError::Config(m) => RestError::Config(format!("{context}: {m}")),
        RestError::Unavailable(m) => RestError::Unavailable(format!("{context}: {m}")),
        RestError::Refused(m) => RestError::Refused(format!("{context}: {m}")),
        RestError::Credentials(m) => RestError::Credentials(format!("{context}: {m}")),
    }
}

/// A transaction-response as far as it is checked.
#[derive(Deserialize)]
struct TransactionResponse {
    #[serde(rename = "resourceType", default)]
    resource_type: String,
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    entry: Vec<ResponseEntry>,
}

#[derive(Deserialize)]
struct ResponseEntry {
    #[serde(default)]
    response: Option<EntryResponse>,
}

#[derive(Deserialize)]
struct EntryResponse {
    #[serde(default)]
    status: String,
    #[serde(default)]
    outcome: Option<serde_json::Value>,
}

/// Every entry of the answer must report a 2xx status. An answer that is
/// no transaction-response at all is not the records' fault: the server
/// misbehaved, so the job stops rather than dead-lettering them.
fn check_response(body: &[u8], urls: &[String]) -> Result<(), RestError> {
    let response: TransactionResponse = serde_json::from_slice(body).map_err(|e| {
        RestError::Unavailable(format!(
            "transaction: the answer is not a transaction-response Bundle: {e}"
        ))
    })?;
    if response.resource_type != "Bundle" || response.type_ != "transaction-response" {
        return Err(RestError::Unavailable(format!(
            "transaction: the answer is a {} of type {:?}, not a transaction-response Bundle",
            response.resource_type, response.type_
        )));
    }
    if response.entry.len() != urls.len() {
        return Err(RestError::Unavailable(format!(
            "transaction: the answer has {} entries for {} sent",
            response.entry.len(),
            urls.len()
        )));
    }
    for (entry, url) in response.entry.iter().zip(urls) {
        let (status, said) = match &entry.response {
            Some(r) => (
                r.status.as_str(),
                r.outcome.as_ref().and_then(outcome::issues_in),
            ),
            None => ("", None),
        };
        let ok = status
            .split_whitespace()
            .next()
            .and_then(|code| code.parse::<u16>().ok())
            .is_some_and(|code| (200..300).contains(&code));
        if !ok {
            let status = if status.is_empty() {
                "no status"
            } else {
                status
            };
            let mut reason = format!("transaction: PUT {url} was answered {status}");
            if let Some(said) = said {
                reason.push_str(": ");
                reason.push_str(&said);
            }
            return Err(RestError::Refused(reason));
        }
    }
    Ok(())
}

/// Runs of consecutive records with the same subject; organisations (no
/// subject) form runs of their own.
fn groups(batch: &[Record]) -> Vec<&[Record]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=batch.len() {
        if i == batch.len() || batch[i].subject() != batch[start].subject() {
            if start < i {
                groups.push(&batch[start..i]);
            }
            start = i;
        }
    }
    groups
}

/// The REST sink for synchronous jobs (`brygga migrate`): an
/// [`AsyncRestSink`] on a runtime of its own. `send` blocks; it must not be
/// called from within an async task.
pub struct RestSink {
    runtime: tokio::runtime::Runtime,
    inner: AsyncRestSink,
}

impl std::fmt::Debug for RestSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestSink")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl RestSink {
    /// Checks `config` and loads what it names; see [`AsyncRestSink::new`].
    pub fn new(config: &RestConfig) -> Result<RestSink, RestError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RestError::Config(format!("cannot start the HTTP runtime: {e}")))?;
        Ok(RestSink {
            runtime,
            inner: AsyncRestSink::new(config)?,
        })
    }
}

impl Sink for RestSink {
    fn send(&mut self, batch: &[Record]) -> Vec<Delivery> {
        self.runtime.block_on(self.inner.send(batch))
    }

    /// Every transaction is complete when `send` returns: nothing to flush.
    fn close(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Record {
        serde_json::from_str(json).expect("a canonical record")
    }

    fn person(id: &str) -> Record {
        record(&format!(
            r#"{{"type":"person","identifiers":[{{"system":"local","namespace":"test","value":"{id}"}}],"given_name":"A","family_name":"B"}}"#
        ))
    }

    fn organisation(id: &str) -> Record {
        record(&format!(
            r#"{{"type":"organisation","id":"{id}","kind":"school_unit","name":"S"}}"#
        ))
    }

    #[test]
    fn a_batch_is_cut_into_runs_of_one_subject() {
        let batch = [
            organisation("a"),
            organisation("b"),
            person("1"),
            person("1"),
            person("2"),
            organisation("c"),
            person("1"),
        ];
        let sizes: Vec<usize> = groups(&batch).iter().map(|g| g.len()).collect();
        assert_eq!(sizes, [2, 2, 1, 1, 1]);
        assert!(groups(&[]).is_empty());
    }

    #[test]
    fn transaction_responses_are_checked_entry_by_entry() {
        let urls = vec!["Patient/a".to_owned(), "Observation/b".to_owned()];
        let ok = br#"{"resourceType":"Bundle","type":"transaction-response","entry":[
            {"response":{"status":"201 Created"}},{"response":{"status":"200"}}]}"#;
        check_response(ok, &urls).expect("accepted");
        let refused = br#"{"resourceType":"Bundle","type":"transaction-response","entry":[
            {"response":{"status":"201 Created"}},{"response":{"status":"409 Conflict",
            "outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"conflict","diagnostics":"version conflict"}]}}}]}"#;
        assert_eq!(
            check_response(refused, &urls)
                .expect_err("refused")
                .to_string(),
            "transaction: PUT Observation/b was answered 409 Conflict: error conflict: version conflict"
        );
        let short = br#"{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"200 OK"}}]}"#;
        assert!(matches!(
            check_response(short, &urls),
            Err(RestError::Unavailable(_))
        ));
        assert!(matches!(
            check_response(b"<html/>", &urls),
            Err(RestError::Unavailable(_))
        ));
    }
}
