//! The HTTPS client both ends share: one pooled hyper client over rustls
//! (HTTP/2 or HTTP/1.1 by ALPN), a timeout per request, bearer tokens from
//! the client-credentials grant, and the retry loop.
//!
//! What is sent is never logged or put into an error: messages name the
//! method, the status, the server's OperationOutcome and timings only.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tracing::debug;

use crate::RestError;
use crate::config::{AuthConfig, Checked, ClientCredentials, RestConfig};
use crate::outcome::{self, status_line};
use crate::retry::{self, Delays};

/// FHIR's JSON media type, sent and accepted.
pub(crate) const FHIR_JSON: &str = "application/fhir+json";

/// The largest answer read; a search page with attachments can be large,
/// but nothing legitimate is larger.
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// A secret that never shows in Debug output or logs.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// An answer that was not a transient failure: 2xx, or a refusal for the
/// caller to interpret (a 404 can be expected).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body of a 2xx answer; any other status is a refusal with the
    /// server's reason.
    pub fn success(self) -> Result<Bytes, RestError> {
        if self.status.is_success() {
            Ok(self.body)
        } else {
            Err(RestError::Refused(outcome::refusal(
                self.status,
                &self.body,
            )))
        }
    }
}

/// One attempt that did not give an answer.
enum Failure {
    /// Worth another attempt.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Not worth one.
    Final(RestError),
}

fn transient(reason: String) -> Failure {
    Failure::Transient {
        reason,
        retry_after: None,
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Debug)]
pub(crate) struct RestClient {
    http: HttpClient,
    settings: Checked,
    tokens: Option<TokenSource>,
}

impl RestClient {
    /// Checks the configuration and loads the certificates, keys and secret
    /// it names. Opens no connection.
    pub fn new(config: &RestConfig) -> Result<RestClient, RestError> {
        let settings = config
            .check()
            .map_err(|p| RestError::Config(format!("{}: {}", p.key, p.reason)))?;
        let tls = tls_config(config)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let builder = if settings.allow_plain_http {
            builder.https_or_http()
        } else {
            builder.https_only()
        };
        let connector = builder.enable_all_versions().wrap_connector(http);
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .timer(TokioTimer::new())
            .build(connector);
        let tokens = match &config.auth {
            AuthConfig::None => None,
            AuthConfig::ClientCredentials(grant) => Some(TokenSource::new(grant)?),
        };
        Ok(RestClient {
            http,
            settings,
            tokens,
        })
    }

    pub fn settings(&self) -> &Checked {
        &self.settings
    }

    /// Sends a request until it gets an answer that is not a transient
    /// failure, or attempts or patience run out. A 401 drops the cached
    /// token and tries once more with a fresh one.
    pub async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, RestError> {
        let settings = &self.settings;
        let mut delays = Delays::new(settings.min_delay, settings.max_delay);
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let (reason, retry_after) = match self.attempt(&method, url, body.clone()).await {
                Ok(answer)
                    if answer.status == StatusCode::UNAUTHORIZED && self.tokens.is_some() =>
                {
                    let refusal = outcome::refusal(answer.status, &answer.body);
                    if renewed {
                        return Err(RestError::Credentials(format!(
                            "{method} refused a freshly issued bearer token: {refusal}"
                        )));
                    }
                    debug!(%method, "bearer token refused; fetching a new one");
                    if let Some(tokens) = &self.tokens {
                        tokens.forget();
                    }
                    renewed = true;
                    attempt -= 1;
                    continue;
                }
                Ok(answer) if answer.status == StatusCode::UNAUTHORIZED => {
                    // Not the records' fault: without credentials every
                    // request would be refused alike.
                    return Err(RestError::Credentials(format!(
                        "{method}: {}; the server wants authorisation, and none is configured ([auth])",
                        outcome::refusal(answer.status, &answer.body)
                    )));
                }
                Ok(answer) => {
                    debug!(
                        %method,
                        status = answer.status.as_u16(),
                        bytes = answer.body.len(),
                        ms = started.elapsed().as_millis() as u64,
                        attempt,
                        "answered"
                    );
                    return Ok(answer);
                }
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Transient {
                    reason,
                    retry_after,
                }) => (reason, retry_after),
            };
            if attempt >= settings.max_attempts {
                return Err(RestError::Unavailable(format!(
                    "{method}: {reason} (gave up after {attempt} attempts)"
                )));
            }
            if let Some(wait) = retry_after
                && wait > settings.max_retry_after
            {
                return Err(RestError::Unavailable(format!(
                    "{method}: {reason}; the server asks to wait {} s, longer than retry.max_retry_after_seconds ({} s)",
                    wait.as_secs(),
                    settings.max_retry_after.as_secs()
                )));
            }
            let delay = delays.next(retry_after);
            // The reason stays out of the log: it can quote the server's
            // answer. It reaches the caller if the last attempt fails.
            debug!(
                %method,
                attempt,
                delay_ms = delay.as_millis() as u64,
                "transient failure; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt, with a bearer token when configured.
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, Failure> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(ACCEPT, FHIR_JSON);
        if body.is_some() {
            request = request.header(CONTENT_TYPE, FHIR_JSON);
        }
        if let Some(tokens) = &self.tokens {
            let token = tokens.bearer(self).await?;
            request = request.header(AUTHORIZATION, token);
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| {
                Failure::Final(RestError::Config(format!("cannot build the request: {e}")))
            })?;
        self.send(request).await
    }

    /// Sends one request and reads the whole answer within the timeout.
    /// Transient statuses, timeouts and transport errors are failures.
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| transient(transport_reason(&e)))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(retry::retry_after);
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| transient(format!("the answer broke off: {e}")))?
                .to_bytes();
            Ok::<_, Failure>((status, retry_after, body))
        };
        let timeout = self.settings.timeout;
        let (status, retry_after, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| transient(format!("no answer within {:.1} s", timeout.as_secs_f64())))??;
        if retry::is_transient(status) {
            return Err(Failure::Transient {
                reason: outcome::refusal(status, &body),
                retry_after,
            });
        }
        Ok(Answer { status, body })
    }
}

/// A transport error with its causes, e.g. `client error (Connect): tcp
/// connect error: Connection refused (os error 111)`.
fn transport_reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut reason = format!("connection failed: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

fn tls_config(config: &RestConfig) -> Result<rustls::ClientConfig, RestError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RestError::Config(format!("tls: {e}")))?;
    let builder = match &config.tls.ca_file {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("tls.ca_file", path)? {
                roots.add(cert).map_err(|e| {
                    RestError::Config(format!("tls.ca_file: {}: {e}", path.display()))
                })?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder.with_native_roots().map_err(|e| {
            RestError::Config(format!(
                "tls: no ca_file is given and the system's trust store cannot be used: {e}"
            ))
        })?,
    };
    match (&config.tls.client_certificate, &config.tls.client_key) {
        (Some(certificate), Some(key)) => {
            let chain = certificates("tls.client_certificate", certificate)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                RestError::Config(format!(
                    "tls.client_key: {}: no usable private key: {e}",
                    key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                RestError::Config(format!(
                    "tls: the client certificate and key do not go together: {e}"
                ))
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Every certificate of a PEM file; at least one.
fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, RestError> {
    let fail =
        |e: &dyn std::fmt::Display| RestError::Config(format!("{key}: {}: {e}", path.display()));
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if certificates.is_empty() {
        return Err(fail(&"holds no PEM certificate"));
    }
    Ok(certificates)
}

// ---------------------------------------------------------------------------
// Bearer tokens
// ---------------------------------------------------------------------------

/// The client-credentials grant and the token it last gave.
#[derive(Debug)]
struct TokenSource {
    token_url: String,
    /// `Basic base64(id:secret)`.
    basic: Secret,
    form: String,
    cached: Mutex<Option<Token>>,
}

#[derive(Debug, Clone)]
struct Token {
    /// `Bearer …`.
    header: Secret,
    /// When to fetch a new one instead.
    refresh_at: Option<Instant>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenSource {
    fn new(grant: &ClientCredentials) -> Result<TokenSource, RestError> {
        let secret = match (&grant.client_secret_env, &grant.client_secret_file) {
            (Some(name), _) => std::env::var(name).map_err(|_| {
                RestError::Config(format!(
                    "auth.client_secret_env: the environment variable {name} is not set (or not UTF-8)"
                ))
            })?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| {
                    RestError::Config(format!(
                        "auth.client_secret_file: {}: cannot read: {e}",
                        path.display()
                    ))
                })?
                .trim()
                .to_owned(),
            (None, None) => {
                return Err(RestError::Config(
                    "auth: give client_secret_env or client_secret_file".into(),
                ));
            }
        };
        if secret.is_empty() {
            return Err(RestError::Config("auth: the client secret is empty".into()));
        }
        // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
        let pair = format!("{}:{}", form_encode(&grant.client_id), form_encode(&secret));
        let basic = format!(
            "Basic {}",
            brygga_adapters::fhir::ids::base64_encode(pair.as_bytes())
        );
        let mut form = String::from("grant_type=client_credentials");
        if let Some(scope) = &grant.scope {
            form.push_str("&scope=");
            form.push_str(&form_encode(scope));
        }
        Ok(TokenSource {
            token_url: grant.token_url.clone(),
            basic: Secret(basic),
            form,
            cached: Mutex::new(None),
        })
    }

    fn forget(&self) {
        if let Ok(mut cached) = self.cached.lock() {
            *cached = None;
        }
    }

    /// The `Authorization` value: the cached token while it is fresh, else
    /// a new one.
    async fn bearer(&self, client: &RestClient) -> Result<HeaderValue, Failure> {
        let cached = self.cached.lock().ok().and_then(|c| c.clone());
        let token = match cached {
            Some(token) if token.refresh_at.is_none_or(|at| Instant::now() < at) => token,
            _ => {
                let token = self.fetch(client).await?;
                if let Ok(mut cached) = self.cached.lock() {
                    *cached = Some(token.clone());
                }
                token
            }
        };
        let mut value = HeaderValue::from_str(&token.header.0).map_err(|_| {
            Failure::Final(RestError::Credentials(
                "the token endpoint issued a token that cannot be sent in a header".into(),
            ))
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    async fn fetch(&self, client: &RestClient) -> Result<Token, Failure> {
        let mut authorization = HeaderValue::from_str(&self.basic.0).map_err(|_| {
            Failure::Final(RestError::Config(
                "auth: the client id or secret cannot be sent in a header".into(),
            ))
        })?;
        authorization.set_sensitive(true);
        let request = Request::builder()
            .method(Method::POST)
            .uri(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, authorization)
            .body(Full::new(Bytes::from(self.form.clone())))
            .map_err(|e| {
                Failure::Final(RestError::Config(format!(
                    "auth.token_url: cannot build the token request: {e}"
                )))
            })?;
        let started = Instant::now();
        let answer = client
            .send(request)
            .await
            .map_err(|failure| match failure {
                Failure::Transient {
                    reason,
                    retry_after,
                } => Failure::Transient {
                    reason: format!("token endpoint: {reason}"),
                    retry_after,
                },
                other => other,
            })?;
        if !answer.status.is_success() {
            let said = match serde_json::from_slice::<TokenError>(&answer.body) {
                Ok(e) => match e.error_description {
                    Some(description) => format!("{} ({description})", e.error),
                    None => e.error,
                },
                Err(_) => "no OAuth error in the answer".into(),
            };
            return Err(Failure::Final(RestError::Credentials(format!(
                "the token endpoint refused the client credentials: {}: {said}; check auth.client_id and the secret",
                status_line(answer.status)
            ))));
        }
        let token: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|e| {
            Failure::Final(RestError::Credentials(format!(
                "the token endpoint's answer is not a token: {e}"
            )))
        })?;
        if token
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(Failure::Final(RestError::Credentials(
                "the token endpoint issued a token that is not a bearer token".into(),
            )));
        }
        let refresh_at = token
            .expires_in
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|seconds| started + refresh_after(Duration::from_secs_f64(seconds.min(1e9))));
        debug!(
            ms = started.elapsed().as_millis() as u64,
            expires_in = token.expires_in,
            "bearer token issued"
        );
        Ok(Token {
            header: Secret(format!("Bearer {}", token.access_token)),
            refresh_at,
        })
    }
}

/// How long a token is used: until 80 % of its lifetime or 60 s before it
/// ends, whichever comes first (a token with less than a minute left is
/// not used at all). Counted from when it was asked for.
fn refresh_after(lifetime: Duration) -> Duration {
    lifetime
        .mul_f64(0.8)
        .min(lifetime.saturating_sub(Duration::from_secs(60)))
}

/// `application/x-www-form-urlencoded` escaping.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Escapes a query parameter's value (RFC 3986 unreserved characters
/// stay).
pub(crate) fn query_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_at_80_percent_or_a_minute_early() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(2880)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(200)),
            Duration::from_secs(140)
        );
        assert_eq!(refresh_after(Duration::from_secs(30)), Duration::ZERO);
    }

    #[test]
    fn encodings() {
        assert_eq!(form_encode("a b/c:d~é"), "a+b%2Fc%3Ad%7E%C3%A9");
        assert_eq!(
            query_encode("http://x.se/id|1 2"),
            "http%3A%2F%2Fx.se%2Fid%7C1%202"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let source = TokenSource {
            token_url: "https://idp.example/token".into(),
            basic: Secret("Basic c2VjcmV0".into()),
            form: String::new(),
            cached: Mutex::new(Some(Token {
                header: Secret("Bearer abc".into()),
                refresh_at: None,
            })),
        };
        let shown = format!("{source:?}");
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("abc"),
            "{shown}"
        );
    }
}
