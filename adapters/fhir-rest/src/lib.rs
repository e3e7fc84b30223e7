//! # brygga-fhir-rest — FHIR R4 over HTTPS
//!
//! The network end of the FHIR adapter: the records
//! `brygga_adapters::fhir` maps are written to a FHIR server as transaction
//! Bundles, and read back from one by search.
//!
//! - [`RestSink`] is a [`Sink`](brygga_adapters::stream::Sink): each
//!   pupil's records become one transaction (or several consecutive ones,
//!   in order) of `PUT`s to deterministic ids, so a rerun or a retried
//!   request writes nothing new. Transient failures (429, 408, 5xx,
//!   timeouts, broken connections) are retried with exponential backoff
//!   and full jitter, honouring `Retry-After`; a refusal (another 4xx) is
//!   permanent and carries the server's OperationOutcome text.
//!   [`AsyncRestSink`] is the same for callers that run their own tokio
//!   runtime.
//! - [`RestSource`] is a [`Decoder`](brygga_adapters::Decoder): it reads
//!   patients (listed by identifier, or all) with their DocumentReferences,
//!   Observations and Immunizations, one search page at a time.
//! - [`RestConfig`] holds the settings: base URL, write profile, timeouts,
//!   retries, TLS (own CA file, mutual TLS) and OAuth 2.0 client
//!   credentials.
//! - `testing::FhirTestServer` (feature `testing`) is a FHIR server on
//!   loopback that records requests and injects failures, for tests.
//!
//! `docs/adapters/fhir-rest.md` describes configuration and behaviour.

mod client;
mod config;
mod outcome;
mod retry;
mod sink;
mod source;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{
    AuthConfig, ClientCredentials, RestConfig, RetryConfig, TlsConfig, WriteProfileName,
};
pub use sink::{AsyncRestSink, RestSink};
pub use source::RestSource;

/// Why the REST adapter could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The configuration cannot be used (a key's value, a certificate or
    /// secret file, the trust store); found before anything is sent.
    #[error("{0}")]
    Config(String),
    /// The server stayed unreachable, busy or failing through every
    /// attempt, or asked to wait longer than allowed: worth trying again
    /// later, unchanged.
    #[error("{0}")]
    Unavailable(String),
    /// The server refused the request and will refuse it again: its reason.
    #[error("{0}")]
    Refused(String),
    /// Our credentials were refused: the token endpoint would not issue a
    /// token, or the server refused a fresh one. The records are fine; the
    /// configuration or the server's registration is not.
    #[error("{0}")]
    Credentials(String),
}
