//! The REST sink and source against the loopback FHIR test server: real
//! HTTPS, real faults, no mocks of our own client.

mod common;
mod sink;
mod source;
