//! A FHIR server for tests, on loopback: HTTPS with a CA made at start
//! (optionally requiring client certificates), an OAuth 2.0 token
//! endpoint, transaction Bundles of `PUT`s with a version history per
//! resource, searches with paging, and faults injected on demand. It
//! records every request so tests can check what a client did: how often
//! it retried, how long it waited, whether it kept each patient's order,
//! whether a replay wrote anything.
//!
//! Endpoints, below `base_url()` (`https://127.0.0.1:PORT/fhir`):
//!
//! - `POST /fhir`: a transaction Bundle whose entries are all `PUT Type/id`
//!   with a resource of that type and id (else 422 and an
//!   OperationOutcome); applied atomically in entry order. A resource equal
//!   to the stored one (ignoring `meta.versionId` and `meta.lastUpdated`)
//!   makes no new version. The answer is a `transaction-response`.
//! - `GET /fhir/Type/id`: the current version, or 404.
//! - `GET /fhir/Type?patient=Patient/ID`, `GET /fhir/Patient?identifier=system|value`,
//!   `GET /fhir/Patient`, each with `_count`, `_sort=_id` and the
//!   server's own `_offset` in `next` links: searchset Bundles.
//! - `POST /token`: the client-credentials grant with HTTP Basic client
//!   authentication, when [`ServerOptions::client_credentials`] is set;
//!   every `/fhir` request then needs a valid bearer token (else 401).
//!
//! Faults ([`Fault`]) apply to the next transactions (`POST /fhir`), one
//! each, in the order injected.

mod store;
mod tls;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, oneshot};
use tokio_rustls::TlsAcceptor;

use store::{Query, Store};

/// The largest request body read.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// HTTPS (the default); plain HTTP when false.
    pub tls: bool,
    /// Refuse TLS connections without a client certificate signed by the
    /// server's CA.
    pub require_client_certificate: bool,
    /// The client id and secret the token endpoint accepts; when set, every
    /// `/fhir` request needs a bearer token it issued.
    pub client_credentials: Option<(String, String)>,
    /// How long an issued token is valid, in whole seconds (`expires_in`).
    pub token_lifetime_seconds: u64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tls: true,
            require_client_certificate: false,
            client_credentials: None,
            token_lifetime_seconds: 3600,
        }
    }
}

/// A failure the server stages for a coming transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No fault: the transaction is handled normally (to aim a later
    /// fault at a later transaction).
    Pass,
    /// Answer this status (429, 500, 502, 503, …) without applying,
    /// with a `Retry-After` of so many seconds when given.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Wait this long (longer than the client's timeout), then handle the
    /// transaction normally: a client that gave up retries while the
    /// first attempt may still be applied.
    Delay(Duration),
    /// Close the connection without answering or applying.
    Drop,
    /// Apply the transaction, then answer this status: the client must
    /// retry, and its retry must change nothing.
    ApplyThenStatus(u16),
    /// Apply the transaction, then close the connection without answering.
    ApplyThenDrop,
    /// Refuse with this 4xx status and an OperationOutcome with `text`.
    Refuse { status: u16, text: String },
}

/// Whether a request carried a bearer token, and what it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    Absent,
    Valid,
    Expired,
    /// Not issued by this server, or revoked.
    Unknown,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The status answered; `None` when the connection was closed without
    /// an answer (or it is still being handled).
    pub status: Option<u16>,
    /// When it arrived.
    pub received: Instant,
    /// A transaction's entry URLs (`Type/id`), in order.
    pub entry_urls: Vec<String>,
    pub bearer: Bearer,
    /// The fault injected into it, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// Whether this is a transaction (`POST /fhir`).
    pub fn is_transaction(&self) -> bool {
        self.method == "POST" && self.target.trim_end_matches('/') == "/fhir"
    }
}

#[derive(Debug, Default)]
struct State {
    store: Store,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
    /// Issued tokens and when they expire.
    tokens: HashMap<String, Instant>,
    issued: u64,
    refused_handshakes: usize,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    options: ServerOptions,
    /// `scheme://127.0.0.1:port`.
    origin: String,
}

impl Shared {
    /// The state; a test thread that panicked while holding it leaves it
    /// usable, since every change is made whole.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The server; it stops when dropped.
pub struct FhirTestServer {
    shared: Arc<Shared>,
    authority: tls::Authority,
    address: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FhirTestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirTestServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl FhirTestServer {
    /// An HTTPS server with default options.
    pub fn start() -> io::Result<FhirTestServer> {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(options: ServerOptions) -> io::Result<FhirTestServer> {
        let authority = tls::Authority::new()?;
        let acceptor = if options.tls {
            Some(TlsAcceptor::from(Arc::new(
                authority.server_config(options.require_client_certificate)?,
            )))
        } else {
            None
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let scheme = if options.tls { "https" } else { "http" };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            options,
            origin: format!("{scheme}://{address}"),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (shutdown, stop) = oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fhir-test-server".into())
            .spawn(move || runtime.block_on(serve(listener, acceptor, serving, stop)))?;
        Ok(FhirTestServer {
            shared,
            authority,
            address,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT/fhir`.
    pub fn base_url(&self) -> String {
        format!("{}/fhir", self.shared.origin)
    }

    /// `https://127.0.0.1:PORT/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.shared.origin)
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        self.authority.pem()
    }

    /// Writes the CA certificate to `path`, for a client's `tls.ca_file`.
    pub fn write_ca(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.authority.pem())
    }

    /// Issues a client certificate signed by the server's CA and writes it
    /// and its private key (PEM) to the two paths.
    pub fn issue_client_certificate(&self, certificate: &Path, key: &Path) -> io::Result<()> {
        let (certificate_pem, key_pem) = self.authority.client_certificate()?;
        std::fs::write(certificate, certificate_pem)?;
        std::fs::write(key, key_pem)
    }

    /// Stages faults for the next transactions, one each, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.state().faults.extend(faults);
    }

    /// Faults staged and not yet used.
    pub fn pending_faults(&self) -> usize {
        self.shared.state().faults.len()
    }

    /// Forgets every issued token: the next request with one gets a 401.
    pub fn revoke_tokens(&self) {
        self.shared.state().tokens.clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// TLS handshakes the server refused (e.g. no client certificate).
    pub fn refused_handshakes(&self) -> usize {
        self.shared.state().refused_handshakes
    }

    /// How many versions `Type/id` has (0: never written).
    pub fn versions(&self, resource_type: &str, id: &str) -> usize {
        self.shared.state().store.versions(resource_type, id)
    }

    /// Every stored `Type/id` with its number of versions.
    pub fn version_counts(&self) -> BTreeMap<String, usize> {
        self.shared.state().store.version_counts()
    }

    /// Writes that created a version (a new resource or a changed one).
    pub fn changed_writes(&self) -> usize {
        self.shared.state().store.changed_writes()
    }

    /// The `Type/id` of a patient's resources (the Patient, what refers to
    /// it as `subject` or `patient`, and their Provenance) in the order they
    /// were first written.
    pub fn first_writes(&self, patient_id: &str) -> Vec<String> {
        self.shared.state().store.first_writes(patient_id)
    }

    /// The current version of `Type/id`.
    pub fn resource(&self, resource_type: &str, id: &str) -> Option<Value> {
        self.shared.state().store.read(resource_type, id).cloned()
    }
}

impl Drop for FhirTestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => connection(stream, shared).await,
                            Err(_) => shared.state().refused_handshakes += 1,
                        },
                        None => connection(stream, shared).await,
                    }
                });
            }
        }
    }
}

/// The connection was closed on purpose, without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it ends or a fault
/// drops it.
async fn connection<S>(stream: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let service = {
        let kill = kill.clone();
        service_fn(move |request| handle(request, shared.clone(), kill.clone()))
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let serving = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = serving => {}
        _ = kill.notified() => {}
    }
}

fn fhir_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    response
}

fn operation_outcome(code: &str, text: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "details": {"text": text}}],
    })
}

fn refusal(status: StatusCode, code: &str, text: &str) -> Response<Full<Bytes>> {
    fhir_response(status, &operation_outcome(code, text))
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    kill: Arc<Notify>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let received = Instant::now();
    let method = request.method().clone();
    let target = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let entry_urls = parsed
        .as_ref()
        .and_then(|b| b.get("entry"))
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.pointer("/request/url").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let index = {
        let mut state = shared.state();
        let bearer = bearer(&state, authorization.as_deref());
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            target: target.clone(),
            status: None,
            received,
            entry_urls,
            bearer,
            fault: None,
        });
        state.requests.len() - 1
    };
    let answer = route(
        &shared,
        &method,
        &target,
        authorization.as_deref(),
        &body,
        parsed,
        index,
    )
    .await;
    match answer {
        Some(response) => {
            shared.state().requests[index].status = Some(response.status().as_u16());
            Ok(response)
        }
        None => {
            kill.notify_one();
            Err(Dropped)
        }
    }
}

fn bearer(state: &State, authorization: Option<&str>) -> Bearer {
    let Some(authorization) = authorization else {
        return Bearer::Absent;
    };
    let Some(token) = authorization.strip_prefix("Bearer ") else {
        return Bearer::Absent;
    };
    match state.tokens.get(token) {
        Some(expires) if Instant::now() < *expires => Bearer::Valid,
        Some(_) => Bearer::Expired,
        None => Bearer::Unknown,
    }
}

/// The answer, or `None` to drop the connection.
async fn route(
    shared: &Shared,
    method: &Method,
    target: &str,
    authorization: Option<&str>,
    body: &[u8],
    parsed: Option<Value>,
    index: usize,
) -> Option<Response<Full<Bytes>>> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/token" {
        return Some(if *method == Method::POST {
            token(shared, authorization, body)
        } else {
            refusal(StatusCode::METHOD_NOT_ALLOWED, "not-supported", "POST only")
        });
    }
    let Some(rest) = path.strip_prefix("/fhir") else {
        return Some(refusal(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such endpoint",
        ));
    };
    if shared.options.client_credentials.is_some() {
        let state = shared.state();
        match state.requests[index].bearer {
            Bearer::Valid => {}
            Bearer::Absent => {
                return Some(refusal(
                    StatusCode::UNAUTHORIZED,
                    "login",
                    "a bearer token is required",
                ));
            }
            Bearer::Expired => {
                return Some(refusal(
                    StatusCode::UNAUTHORIZED,
                    "expired",
                    "the bearer token has expired",
                ));
            }
            Bearer::Unknown => {
                return Some(refusal(
                    StatusCode::UNAUTHORIZED,
                    "login",
                    "unknown bearer token",
                ));
            }
        }
    }
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::POST, []) => transaction(shared, parsed, index).await,
        (&Method::GET, [resource_type, id]) => {
            Some(match shared.state().store.read(resource_type, id) {
                Some(resource) => fhir_response(StatusCode::OK, resource),
                None => refusal(StatusCode::NOT_FOUND, "not-found", "no such resource"),
            })
        }
        (&Method::GET, [resource_type]) => Some(search(shared, resource_type, query)),
        _ => Some(refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            "this server takes transactions, reads and searches only",
        )),
    }
}

async fn transaction(
    shared: &Shared,
    parsed: Option<Value>,
    index: usize,
) -> Option<Response<Full<Bytes>>> {
    let fault = {
        let mut state = shared.state();
        let fault = state.faults.pop_front();
        state.requests[index].fault = fault.clone();
        fault
    };
    let apply = |shared: &Shared| -> Response<Full<Bytes>> {
        let Some(bundle) = &parsed else {
            return refusal(StatusCode::BAD_REQUEST, "structure", "the body is not JSON");
        };
        match shared.state().store.transaction(bundle) {
            Ok(answer) => fhir_response(StatusCode::OK, &answer),
            Err(reason) => refusal(StatusCode::UNPROCESSABLE_ENTITY, "invalid", &reason),
        }
    };
    match fault {
        None | Some(Fault::Pass) => Some(apply(shared)),
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = refusal(status, "transient", "injected failure");
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
            Some(response)
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Some(apply(shared))
        }
        Some(Fault::Drop) => None,
        Some(Fault::ApplyThenStatus(status)) => {
            apply(shared);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(refusal(
                status,
                "exception",
                "injected failure after applying",
            ))
        }
        Some(Fault::ApplyThenDrop) => {
            apply(shared);
            None
        }
        Some(Fault::Refuse { status, text }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            Some(refusal(status, "invalid", &text))
        }
    }
}

fn search(shared: &Shared, resource_type: &str, query: &str) -> Response<Full<Bytes>> {
    let mut parsed = Query {
        count: 50,
        ..Query::default()
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(value) = percent_decode(value) else {
            return refusal(StatusCode::BAD_REQUEST, "invalid", "bad percent-encoding");
        };
        match name {
            "patient" => match value.strip_prefix("Patient/") {
                Some(id) => parsed.patient = Some(id.to_owned()),
                None => parsed.patient = Some(value),
            },
            "identifier" => match split_token(&value) {
                Some(token) => parsed.identifier = Some(token),
                None => {
                    return refusal(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "identifier must be system|value",
                    );
                }
            },
            "_count" | "_offset" => match value.parse::<usize>() {
                Ok(n) if name == "_count" && n > 0 => parsed.count = n,
                Ok(n) if name == "_offset" => parsed.offset = n,
                _ => return refusal(StatusCode::BAD_REQUEST, "invalid", "bad _count or _offset"),
            },
            "_sort" if value == "_id" => parsed.by_id = true,
            _ => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    &format!("unsupported search parameter {name}"),
                );
            }
        }
    }
    let state = shared.state();
    let (page, more) = state.store.search(resource_type, &parsed);
    let base = format!("{}/fhir/{resource_type}", shared.origin);
    let mut links = vec![json!({"relation": "self", "url": format!("{base}?{query}")})];
    if more {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("_offset="))
            .collect();
        links.push(json!({
            "relation": "next",
            "url": format!("{base}?{}&_offset={}", kept.join("&"), parsed.offset + parsed.count),
        }));
    }
    let entries: Vec<Value> = page
        .into_iter()
        .map(|resource| {
            json!({
                "fullUrl": format!("{base}/{}", resource.get("id").and_then(Value::as_str).unwrap_or("")),
                "resource": resource,
                "search": {"mode": "match"},
            })
        })
        .collect();
    fhir_response(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}),
    )
}

/// `system|value` with FHIR's backslash escapes in the value.
fn split_token(token: &str) -> Option<(String, String)> {
    let (system, escaped) = token.split_once('|')?;
    let mut value = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            value.push(chars.next()?);
        } else {
            value.push(c);
        }
    }
    Some((system.to_owned(), value))
}

/// Decodes `%XX` escapes and `+` (as a space); `None` when broken.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The token endpoint: the client-credentials grant, HTTP Basic client
/// authentication.
fn token(shared: &Shared, authorization: Option<&str>, body: &[u8]) -> Response<Full<Bytes>> {
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        let mut response = fhir_response(
            status,
            &json!({"error": error, "error_description": description}),
        );
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    };
    let Some((id, secret)) = &shared.options.client_credentials else {
        return oauth_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "this server issues no tokens",
        );
    };
    let form = String::from_utf8_lossy(body);
    let grant = form
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "grant_type")
        .and_then(|(_, value)| percent_decode(value));
    if grant.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    let presented = authorization
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(brygga_adapters::fhir::ids::base64_decode)
        .and_then(|pair| String::from_utf8(pair).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((percent_decode(id)?, percent_decode(secret)?))
        });
    if presented.as_ref() != Some(&(id.clone(), secret.clone())) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let lifetime = shared.options.token_lifetime_seconds;
    let token = {
        let mut state = shared.state();
        state.issued += 1;
        let token = format!("token-{}-{:016x}", state.issued, random_bits());
        state.tokens.insert(
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        );
        token
    };
    let mut response = fhir_response(
        StatusCode::OK,
        &json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime}),
    );
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn random_bits() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}
