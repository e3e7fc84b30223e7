//! A FHIR REST destination's (or origin's) settings, as configuration gives
//! them, and the checks serde cannot make.
//!
//! The struct is plain serde so the gateway can embed it in its own file;
//! [`RestConfig::from_toml_file`] reads a stand-alone one and reports
//! problems as `FILE:LINE: key: reason`. Secrets never appear here: only the
//! name of the environment variable or the file that holds them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use brygga_adapters::fhir::WriteProfile;
use hyper::Uri;
use serde::Deserialize;

use crate::RestError;

/// A FHIR R4 server reached over HTTPS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestConfig {
    /// The server's base URL, e.g. `https://fhir.example.se/fhir`:
    /// transactions are posted to it, searches go below it.
    pub base_url: String,
    /// Allows an `http://` base URL (and token URL). Only for tests on
    /// loopback: health data never travels unencrypted.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// The write rules the destination requires: `se-base` (default) or
    /// `ehr-strict`.
    #[serde(default)]
    pub write_profile: WriteProfileName,
    /// How long one request may take, connection included, before it counts
    /// as timed out (and is retried). Default 30.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: f64,
    /// When and how often transient failures are retried.
    #[serde(default)]
    pub retry: RetryConfig,
    /// The most entries in one transaction Bundle (default 500). A pupil
    /// with more resources is sent as consecutive transactions, in order,
    /// each only after the one before succeeded.
    #[serde(default = "default_max_bundle_entries")]
    pub max_bundle_entries: usize,
    /// Search results asked for per page when reading (default 100).
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// Which server certificates to trust, and our own for mutual TLS.
    #[serde(default)]
    pub tls: TlsConfig,
    /// How requests are authorised.
    #[serde(default)]
    pub auth: AuthConfig,
}

/// The write profile by its configuration name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteProfileName {
    #[default]
    SeBase,
    EhrStrict,
}

impl WriteProfileName {
    pub fn profile(self) -> WriteProfile {
        match self {
            WriteProfileName::SeBase => WriteProfile::SeBase,
            WriteProfileName::EhrStrict => WriteProfile::EhrStrict,
        }
    }
}

/// Retries of transient failures: 429, 408, 5xx, timeouts and connection
/// errors. Delays grow exponentially from `min_delay_ms` to `max_delay_ms`,
/// each drawn at random up to its ceiling (full jitter) so that many
/// clients do not retry in step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 8).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The first delay's ceiling, and the least delay (default 200).
    #[serde(default = "default_min_delay_ms")]
    pub min_delay_ms: u64,
    /// The largest delay (default 30000).
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    /// The longest `Retry-After` waited out (default 300). A server asking
    /// for longer gets no retry now: the records are answered retryable and
    /// the job can be rerun later.
    #[serde(default = "default_max_retry_after_seconds")]
    pub max_retry_after_seconds: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: default_max_attempts(),
            min_delay_ms: default_min_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
            max_retry_after_seconds: default_max_retry_after_seconds(),
        }
    }
}

/// TLS settings. rustls with TLS 1.2 and 1.3; HTTP/2 or HTTP/1.1 by ALPN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA certificates that may sign the server's
    /// certificate. Without it the system's trust store is used.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file of our client certificate (chain), for mutual TLS; needs
    /// `client_key`.
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

/// How requests are authorised besides TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No bearer token (mutual TLS or an open test server).
    #[default]
    None,
    /// OAuth 2.0 client-credentials grant (RFC 6749 §4.4), the client
    /// authenticating with HTTP Basic (`client_secret_basic`). Tokens are
    /// cached and fetched anew before they expire.
    ClientCredentials(ClientCredentials),
}

/// Where the client-credentials grant is made and with what.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// The authorisation server's token endpoint.
    pub token_url: String,
    pub client_id: String,
    /// The environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A file holding the client secret (surrounding whitespace ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The scope to ask for, space-separated, if the server wants one.
    #[serde(default)]
    pub scope: Option<String>,
}

fn default_timeout_seconds() -> f64 {
    30.0
}
fn default_max_bundle_entries() -> usize {
    500
}
fn default_page_size() -> usize {
    100
}
fn default_max_attempts() -> u32 {
    8
}
fn default_min_delay_ms() -> u64 {
    200
}
fn default_max_delay_ms() -> u64 {
    30_000
}
fn default_max_retry_after_seconds() -> u64 {
    300
}

/// The longest per-request timeout accepted: a day.
const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

/// A problem with one key, before a file name and line are put to it.
#[derive(Debug)]
pub(crate) struct ConfigProblem {
    /// Dotted key, e.g. `tls.client_key`.
    pub key: &'static str,
    pub reason: String,
}

impl ConfigProblem {
    fn new(key: &'static str, reason: impl Into<String>) -> Self {
        ConfigProblem {
            key,
            reason: reason.into(),
        }
    }
}

/// The scheme, authority and path of a checked base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    pub scheme: String,
    /// `host:port`, the port always written out.
    pub authority: String,
    /// Without a trailing `/`; empty for the root.
    pub path: String,
}

impl BaseUrl {
    /// `base/relative`.
    pub fn join(&self, relative: &str) -> String {
        format!(
            "{}://{}{}/{}",
            self.scheme, self.authority, self.path, relative
        )
    }

    /// The base itself, where transactions are posted.
    pub fn root(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        format!("{}://{}{}", self.scheme, self.authority, path)
    }

    /// Whether `url` is absolute and has this base's scheme, host and port.
    pub fn same_origin(&self, url: &str) -> bool {
        parse_origin(url).is_ok_and(|(scheme, authority, _)| {
            scheme == self.scheme && authority == self.authority
        })
    }
}

/// Scheme, `host:port` (default port filled in, host lower-cased) and path
/// of an absolute http(s) URL.
fn parse_origin(url: &str) -> Result<(String, String, String), String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let scheme = uri
        .scheme_str()
        .ok_or("not an absolute URL")?
        .to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        other => return Err(format!("the scheme {other}: is not http(s)")),
    };
    let authority = uri.authority().ok_or("names no host")?;
    if authority.as_str().contains('@') {
        return Err("must not carry user information".into());
    }
    let host = authority.host().to_ascii_lowercase();
    let port = authority.port_u16().unwrap_or(default_port);
    Ok((
        scheme,
        format!("{host}:{port}"),
        uri.path().trim_end_matches('/').to_owned(),
    ))
}

/// Checks a base or token URL: absolute, https unless plain http is allowed,
/// no query or fragment.
fn checked_url(url: &str, allow_plain_http: bool) -> Result<BaseUrl, String> {
    let (scheme, authority, path) = parse_origin(url)?;
    if scheme == "http" && !allow_plain_http {
        return Err(
            "must be an https:// URL: plain http is refused (allow_plain_http = true allows it, for loopback tests only)"
                .into(),
        );
    }
    if url.contains('?') || url.contains('#') {
        return Err("must not have a query or fragment".into());
    }
    Ok(BaseUrl {
        scheme,
        authority,
        path,
    })
}

/// The checked settings the client and sink run on.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub base: BaseUrl,
    pub allow_plain_http: bool,
    pub profile: WriteProfile,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
    pub max_bundle_entries: usize,
    pub page_size: usize,
}

impl RestConfig {
    /// A configuration with every default, for `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        RestConfig {
            base_url: base_url.into(),
            allow_plain_http: false,
            write_profile: WriteProfileName::default(),
            timeout_seconds: default_timeout_seconds(),
            retry: RetryConfig::default(),
            max_bundle_entries: default_max_bundle_entries(),
            page_size: default_page_size(),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
        }
    }

    /// The checks serde cannot make; pure (no file is read).
    pub fn validate(&self) -> Result<(), RestError> {
        self.check()
            .map(|_| ())
            .map_err(|p| RestError::Config(format!("{}: {}", p.key, p.reason)))
    }

    pub(crate) fn check(&self) -> Result<Checked, ConfigProblem> {
        let base = checked_url(&self.base_url, self.allow_plain_http)
            .map_err(|reason| ConfigProblem::new("base_url", reason))?;
        if !(self.timeout_seconds.is_finite()
            && self.timeout_seconds > 0.0
            && self.timeout_seconds <= MAX_TIMEOUT_SECONDS)
        {
            return Err(ConfigProblem::new(
                "timeout_seconds",
                format!("must be more than 0 and at most {MAX_TIMEOUT_SECONDS}"),
            ));
        }
        let retry = &self.retry;
        if !(1..=100).contains(&retry.max_attempts) {
            return Err(ConfigProblem::new(
                "retry.max_attempts",
                "must be from 1 to 100",
            ));
        }
        if retry.min_delay_ms == 0 {
            return Err(ConfigProblem::new(
                "retry.min_delay_ms",
                "must be at least 1",
            ));
        }
        if retry.max_delay_ms < retry.min_delay_ms {
            return Err(ConfigProblem::new(
                "retry.max_delay_ms",
                "must not be less than retry.min_delay_ms",
            ));
        }
        if self.max_bundle_entries == 0 {
            return Err(ConfigProblem::new(
                "max_bundle_entries",
                "must be at least 1",
            ));
        }
        if !(1..=10_000).contains(&self.page_size) {
            return Err(ConfigProblem::new("page_size", "must be from 1 to 10000"));
        }
        match (&self.tls.client_certificate, &self.tls.client_key) {
            (Some(_), None) => {
                return Err(ConfigProblem::new(
                    "tls.client_key",
                    "missing: mutual TLS needs both client_certificate and client_key",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigProblem::new(
                    "tls.client_certificate",
                    "missing: mutual TLS needs both client_certificate and client_key",
                ));
            }
            _ => {}
        }
        if let AuthConfig::ClientCredentials(grant) = &self.auth {
            checked_url(&grant.token_url, self.allow_plain_http)
                .map_err(|reason| ConfigProblem::new("auth.token_url", reason))?;
            if grant.client_id.is_empty() {
                return Err(ConfigProblem::new("auth.client_id", "must not be empty"));
            }
            match (&grant.client_secret_env, &grant.client_secret_file) {
                (Some(_), Some(_)) => {
                    return Err(ConfigProblem::new(
                        "auth.client_secret_file",
                        "give client_secret_env or client_secret_file, not both",
                    ));
                }
                (None, None) => {
                    return Err(ConfigProblem::new(
                        "auth.client_secret_env",
                        "missing: give client_secret_env (an environment variable's name) or client_secret_file",
                    ));
                }
                (Some(name), None) if name.is_empty() => {
                    return Err(ConfigProblem::new(
                        "auth.client_secret_env",
                        "must not be empty",
                    ));
                }
                _ => {}
            }
        }
        Ok(Checked {
            base,
            allow_plain_http: self.allow_plain_http,
            profile: self.write_profile.profile(),
            timeout: Duration::from_secs_f64(self.timeout_seconds),
            max_attempts: retry.max_attempts,
            min_delay: Duration::from_millis(retry.min_delay_ms),
            max_delay: Duration::from_millis(retry.max_delay_ms),
            max_retry_after: Duration::from_secs(retry.max_retry_after_seconds),
            max_bundle_entries: self.max_bundle_entries,
            page_size: self.page_size,
        })
    }

    /// Reads and checks a stand-alone TOML file. Relative paths in it
    /// (`tls.*`, `auth.client_secret_file`) are taken from the file's
    /// directory. Errors read `FILE:LINE: key: reason`.
    pub fn from_toml_file(path: &Path) -> Result<RestConfig, RestError> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| RestError::Config(format!("{shown}: cannot read: {e}")))?;
        let mut config = parse_toml(&text).map_err(|(span, message)| {
            RestError::Config(format!("{shown}:{}: {message}", line_of(&text, span)))
        })?;
        if let Err(problem) = config.check() {
            let line = key_line(&text, problem.key);
            return Err(RestError::Config(format!(
                "{shown}:{line}: {}: {}",
                problem.key, problem.reason
            )));
        }
        let base_dir = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base_dir);
        Ok(config)
    }

    /// Makes relative file paths relative to `base_dir`.
    pub fn resolve_paths(&mut self, base_dir: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base_dir.join(&*p);
            }
        };
        for path in [
            &mut self.tls.ca_file,
            &mut self.tls.client_certificate,
            &mut self.tls.client_key,
        ]
        .into_iter()
        .flatten()
        {
            resolve(path);
        }
        if let AuthConfig::ClientCredentials(grant) = &mut self.auth
            && let Some(file) = &mut grant.client_secret_file
        {
            resolve(file);
        }
    }
}

/// Deserialises, naming the key path of a problem; the byte offset for the
/// line number.
fn parse_toml(text: &str) -> Result<RestConfig, (Option<usize>, String)> {
    let deserializer = toml::de::Deserializer::parse(text)
        .map_err(|e| (e.span().map(|s| s.start), e.message().trim_end().to_owned()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim_end().to_owned();
        let message = if key == "." || key.is_empty() {
            message
        } else {
            format!("{key}: {message}")
        };
        (inner.span().map(|s| s.start), message)
    })
}

/// 1-based line of a byte offset (1 when unknown).
fn line_of(text: &str, offset: Option<usize>) -> usize {
    offset.map_or(1, |offset| {
        let end = offset.min(text.len());
        text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    })
}

/// The line where a dotted key's value is, or its table's, or 1.
fn key_line(text: &str, key: &str) -> usize {
    use toml::de::{DeTable, DeValue};
    let Ok(doc) = DeTable::parse(text) else {
        return 1;
    };
    let mut table = doc.get_ref();
    let mut offset = None;
    for part in key.split('.') {
        let Some(value) = table.get(part) else { break };
        offset = Some(value.span().start);
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    line_of(text, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fhir.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    fn error(text: &str) -> String {
        let (_dir, path) = write(text);
        match RestConfig::from_toml_file(&path) {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(e) => e.to_string().replace(&path.display().to_string(), "FILE"),
        }
    }

    #[test]
    fn a_full_file_reads_with_paths_from_its_directory() {
        let (dir, path) = write(
            r#"
base_url = "https://fhir.example.se/fhir/"
write_profile = "ehr-strict"
timeout_seconds = 10
max_bundle_entries = 200
page_size = 50

[retry]
max_attempts = 5
min_delay_ms = 100
max_delay_ms = 5000
max_retry_after_seconds = 60

[tls]
ca_file = "ca.pem"
client_certificate = "/etc/brygga/client.pem"
client_key = "client-key.pem"

[auth]
method = "client_credentials"
token_url = "https://idp.example.se/token"
client_id = "brygga"
client_secret_env = "BRYGGA_FHIR_SECRET"
scope = "system/*.write"
"#,
        );
        let config = RestConfig::from_toml_file(&path).expect("valid");
        assert_eq!(config.write_profile, WriteProfileName::EhrStrict);
        assert_eq!(config.tls.ca_file, Some(dir.path().join("ca.pem")));
        assert_eq!(
            config.tls.client_certificate,
            Some(PathBuf::from("/etc/brygga/client.pem"))
        );
        let checked = config.check().expect("checks");
        assert_eq!(checked.base.root(), "https://fhir.example.se:443/fhir");
        assert_eq!(
            checked.base.join("Patient?_count=3"),
            "https://fhir.example.se:443/fhir/Patient?_count=3"
        );
        assert_eq!(checked.timeout, Duration::from_secs(10));
        assert!(
            matches!(config.auth, AuthConfig::ClientCredentials(ref c) if c.client_id == "brygga")
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let (_dir, path) = write("base_url = \"https://fhir.example.se\"\n");
        let config = RestConfig::from_toml_file(&path).expect("valid");
        assert_eq!(config, RestConfig::new("https://fhir.example.se"));
        assert_eq!(config.retry.max_attempts, 8);
        assert_eq!(config.retry.min_delay_ms, 200);
        assert_eq!(config.retry.max_delay_ms, 30_000);
        assert_eq!(config.retry.max_retry_after_seconds, 300);
        assert_eq!(config.max_bundle_entries, 500);
        assert_eq!(config.auth, AuthConfig::None);
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        assert_eq!(
            error("\n\nbase_url = \"http://127.0.0.1:8080/fhir\"\n"),
            "FILE:3: base_url: must be an https:// URL: plain http is refused (allow_plain_http = true allows it, for loopback tests only)"
        );
        let mut config = RestConfig::new("http://127.0.0.1:8080/fhir");
        config.allow_plain_http = true;
        config.validate().expect("allowed");
    }

    #[test]
    fn problems_name_file_line_and_key() {
        assert_eq!(
            error("base_url = \"https://x.se\"\n[retry]\nmax_attempts = 3\nmin_delay = 5\n"),
            "FILE:4: retry.min_delay: unknown field `min_delay`, expected one of `max_attempts`, `min_delay_ms`, `max_delay_ms`, `max_retry_after_seconds`"
        );
        assert_eq!(
            error("base_url = \"https://x.se\"\nwrite_profile = \"strict\"\n"),
            "FILE:2: write_profile: unknown variant `strict`, expected `se-base` or `ehr-strict`"
        );
        assert_eq!(
            error("base_url = \"https://x.se\"\n[tls]\nclient_certificate = \"c.pem\"\n"),
            "FILE:2: tls.client_key: missing: mutual TLS needs both client_certificate and client_key"
        );
        assert_eq!(
            error(
                "base_url = \"https://x.se\"\n[auth]\nmethod = \"client_credentials\"\ntoken_url = \"https://x.se/token\"\nclient_id = \"b\"\n"
            ),
            "FILE:2: auth.client_secret_env: missing: give client_secret_env (an environment variable's name) or client_secret_file"
        );
        assert_eq!(
            error("base_url = \"https://x.se\"\nmax_bundle_entries = 0\n"),
            "FILE:2: max_bundle_entries: must be at least 1"
        );
        assert!(error("base_url = \"https://x.se\"\nbase_url = 1\n").starts_with("FILE:2: "));
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let base = checked_url("https://Fhir.Example.se/fhir", false).expect("valid");
        assert!(base.same_origin("https://fhir.example.se:443/fhir/Patient?page=2"));
        assert!(!base.same_origin("https://fhir.example.se:8443/fhir/Patient"));
        assert!(!base.same_origin("http://fhir.example.se/fhir/Patient"));
        assert!(!base.same_origin("https://elsewhere.example/fhir/Patient"));
        assert!(!base.same_origin("/fhir/Patient?page=2"));
        assert!(checked_url("https://user:pw@x.se/", false).is_err());
        assert!(checked_url("https://x.se/fhir?x=1", false).is_err());
    }
}
