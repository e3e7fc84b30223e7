//! The gateway's configuration file (`brygga.toml`): what it may contain, how
//! it is read, and how it is checked before anything is started.
//!
//! A configuration is meant to live in version control and be checked in CI
//! with `brygga validate-config`, so loading is split in steps that do no
//! I/O beyond reading the file:
//!
//! 1. parse: TOML into the `Raw*` structs below. Every struct denies unknown
//!    keys, so a misspelt key is an error instead of a silently used default.
//! 2. validate: the rules serde cannot express (ranges, URL form, path
//!    resolution) turn the raw values into a [`Config`].
//! 3. Opening the store and installing logging happen where those live, from
//!    a [`Config`] that is already known to be good.
//!
//! Every error is one line, `FILE:LINE:COLUMN: KEY: REASON` (see [`ConfigError`]).
//!
//! The doc comments on the `Raw*` structs are the reference for each key;
//! `docs/configuration.md` and the commented `config/brygga.toml` say the same.
//!
//! Relative paths are resolved against the directory that holds the
//! configuration file, never the current directory: a service's working
//! directory depends on how it was started, the file's location does not.

mod error;
mod tagged;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, Deserializer};

use self::error::Spot;
pub use self::error::{ConfigError, Problem};
use self::tagged::Tagged;
use crate::logging::{LogFormat, LogLevel};

/// No configuration comes near this size. A bigger file is a wrong path (a
/// database, a log, `/dev/zero`), and reading it whole would only cost memory.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The sqlite database when `[store]` does not give a `path`, relative to the
/// configuration file's directory.
const DEFAULT_SQLITE_PATH: &str = "data/brygga.sqlite";
const DEFAULT_POOL_SIZE: u32 = 10;
/// PostgreSQL refuses a `max_connections` above 2^18 - 1, so a larger pool
/// could never fill; a value past it is a typo.
const MAX_POOL_SIZE: u32 = 262_143;
const DEFAULT_LOG_LEVEL: LogLevel = LogLevel::Info;
const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Text;

/// Tables whose variant is chosen by a key inside them.
const TAGGED: &[Tagged] = &[Tagged {
    table: "store",
    tag: "backend",
    default: "sqlite",
}];

/// A checked configuration: every value is in range and every path absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub store: StoreConfig,
    pub log: LogConfig,
}

/// Where acknowledged messages are kept until they are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// The embedded store: one SQLite file, for a single gateway instance.
    Sqlite { path: PathBuf },
    /// PostgreSQL, which several gateway instances can share.
    Postgres { url: PostgresUrl, pool_size: u32 },
}

/// How the service logs; the command line's `RUST_LOG` still overrides `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

/// A `postgres://` or `postgresql://` URL. It may hold a password, so neither
/// `Debug` nor `Display` shows it: a configuration can be logged or printed
/// without leaking the database password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl Config {
    /// Reads, parses and validates the configuration file at `path`. Errors
    /// name `path` as given; relative paths inside the file are resolved
    /// against the file's own directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |source| ConfigError::Read {
            file: path.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            let too_large = Spot {
                span: None,
                key: None,
                problem: Problem::TooLarge {
                    limit_kib: MAX_FILE_BYTES / 1024,
                },
            };
            return Err(too_large.locate(path.to_owned(), ""));
        }
        let absolute = std::path::absolute(path).map_err(read_error)?;
        let base_dir = absolute.parent().unwrap_or(Path::new("/"));
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(error) => {
                let valid = std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or("");
                return Err(Spot::not_utf8(error.valid_up_to()).locate(path.to_owned(), valid));
            }
        };
        Config::parse(text, path, base_dir)
    }

    /// Parses and validates `text` without any I/O. `file` is the name used in
    /// errors; relative paths are resolved against `base_dir`, which should be
    /// absolute.
    fn parse(text: &str, file: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
        RawConfig::parse(text)
            .and_then(|raw| raw.validate(base_dir))
            .map_err(|spot| spot.locate(file.to_owned(), text))
    }
}

/// The whole file. Every table and key is optional; an empty file means an
/// embedded store in `data/brygga.sqlite` next to the file, logging at `info`
/// as text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// `[store]`: where acknowledged messages are kept until delivered.
    store: Option<RawStore>,
    /// `[log]`: what the service writes to standard error.
    log: Option<RawLog>,
}

/// `[store]`. The `backend` key picks the kind of store; each kind has its own
/// keys, and a key of the other kind is an error.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawStore {
    /// `backend = "sqlite"` (the default): an embedded database in one file.
    /// For a single gateway instance; nothing else to install or run.
    Sqlite(RawSqlite),
    /// `backend = "postgres"`: a PostgreSQL database, which several gateway
    /// instances can share for high availability.
    Postgres(RawPostgres),
}

/// `[store]` with `backend = "sqlite"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSqlite {
    /// The database file, created on first start. A relative path is resolved
    /// against the directory that holds the configuration file.
    /// Default: `data/brygga.sqlite`.
    path: Option<Spanned<String>>,
}

/// `[store]` with `backend = "postgres"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    /// Required. `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTIONS]`
    /// (`postgresql://` works too). Anyone who can read the file can read a
    /// password written here.
    url: Spanned<String>,
    /// The most connections this instance opens to the database, from 1 to
    /// 262143. Default: 10.
    pool_size: Option<Spanned<i64>>,
}

/// `[log]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    /// `error`, `warn`, `info`, `debug` or `trace`. Default: `info`.
    /// `RUST_LOG`, when set, overrides it.
    level: Option<Spanned<String>>,
    /// `text` (lines for people) or `json` (one object per line, for log
    /// collectors). Default: `text`.
    format: Option<Spanned<String>>,
}

impl RawConfig {
    fn parse(text: &str) -> Result<RawConfig, Spot> {
        let mut doc = DeTable::parse(text).map_err(|error| Spot::syntax(&error))?;
        for tagged in TAGGED {
            tagged::retag(doc.get_mut(), tagged)?;
        }
        serde_path_to_error::deserialize(Deserializer::from(doc))
            .map_err(|error| Spot::from_serde(error, TAGGED))
    }

    /// The checks serde cannot make. Pure: no file or network is touched, so a
    /// configuration can be checked anywhere.
    fn validate(self, base_dir: &Path) -> Result<Config, Spot> {
        let store = match self.store {
            None => StoreConfig::Sqlite {
                path: resolve(base_dir, DEFAULT_SQLITE_PATH),
            },
            Some(RawStore::Sqlite(sqlite)) => sqlite.validate(base_dir)?,
            Some(RawStore::Postgres(postgres)) => postgres.validate()?,
        };
        let log = match self.log {
            None => LogConfig {
                level: DEFAULT_LOG_LEVEL,
                format: DEFAULT_LOG_FORMAT,
            },
            Some(log) => log.validate()?,
        };
        Ok(Config { store, log })
    }
}

impl RawSqlite {
    fn validate(self, base_dir: &Path) -> Result<StoreConfig, Spot> {
        let path = match self.path {
            None => resolve(base_dir, DEFAULT_SQLITE_PATH),
            Some(path) => {
                let span = path.span();
                let path = path.into_inner();
                if path.is_empty() {
                    return Err(Spot::at(span, "store.path", Problem::Empty));
                }
                if path.starts_with('~') {
                    return Err(Spot::at(span, "store.path", Problem::HomeRelative));
                }
                resolve(base_dir, &path)
            }
        };
        Ok(StoreConfig::Sqlite { path })
    }
}

impl RawPostgres {
    fn validate(self) -> Result<StoreConfig, Spot> {
        let span = self.url.span();
        let url = self.url.into_inner();
        check_postgres_url(&url)
            .map_err(|reason| Spot::at(span, "store.url", Problem::NotPostgresUrl(reason)))?;
        let pool_size = match self.pool_size {
            None => DEFAULT_POOL_SIZE,
            Some(size) => u32::try_from(*size.get_ref())
                .ok()
                .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                .ok_or_else(|| {
                    Spot::at(
                        size.span(),
                        "store.pool_size",
                        Problem::OutOfRange {
                            value: *size.get_ref(),
                            min: 1,
                            max: MAX_POOL_SIZE.into(),
                        },
                    )
                })?,
        };
        Ok(StoreConfig::Postgres {
            url: PostgresUrl(url),
            pool_size,
        })
    }
}

impl RawLog {
    fn validate(self) -> Result<LogConfig, Spot> {
        Ok(LogConfig {
            level: one_of(self.level, "log.level", DEFAULT_LOG_LEVEL)?,
            format: one_of(self.format, "log.format", DEFAULT_LOG_FORMAT)?,
        })
    }
}

/// Reads a value by the same names the command line accepts for it, so the
/// file and the flags can never disagree on spelling.
fn one_of<T: ValueEnum>(value: Option<Spanned<String>>, key: &str, default: T) -> Result<T, Spot> {
    let Some(value) = value else {
        return Ok(default);
    };
    T::from_str(value.get_ref(), false).map_err(|_| {
        Spot::at(
            value.span(),
            key,
            Problem::NotOneOf {
                value: value.get_ref().clone(),
                allowed: T::value_variants().iter().map(value_name).collect(),
            },
        )
    })
}

fn value_name<T: ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// `base_dir` joined with `path` (an absolute `path` stays as it is), without
/// the `.` components; `..` is kept, since removing it is only right when
/// nothing on the way is a symbolic link.
fn resolve(base_dir: &Path, path: &str) -> PathBuf {
    base_dir.join(path).components().collect()
}

/// A structural check of a PostgreSQL connection URL: the scheme, and that
/// every port is a port number. The database driver does the full parse when
/// it connects; this catches the common mistakes (a `host:port` with no
/// scheme, a MySQL URL, a stray space) at load time.
fn check_postgres_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("must start with postgres:// or postgresql://")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hosts = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hosts)| hosts);
    // libpq accepts several `host:port` separated by commas; an IPv6 address
    // is written in brackets, so its colons are not port separators.
    for host in hosts.split(',') {
        let after_address = host.rsplit_once(']').map_or(host, |(_, rest)| rest);
        if let Some((_, port)) = after_address.rsplit_once(':') {
            let valid = port.parse::<u16>().is_ok_and(|port| port != 0)
                && port.bytes().all(|b| b.is_ascii_digit());
            if !valid {
                return Err("a port must be a number from 1 to 65535");
            }
        }
    }
    Ok(())
}

impl PostgresUrl {
    /// The URL with the password replaced by `***` and the query string (which
    /// may also carry `password=`) left out.
    fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "***".to_owned();
        };
        let (user, address) = match rest.rsplit_once('@') {
            Some((userinfo, address)) => {
                // A user name cannot hold these unescaped; stopping at them
                // keeps anything after them out of the output, whatever it is.
                let end = userinfo
                    .find([':', '/', '?', '#'])
                    .unwrap_or(userinfo.len());
                let masked = if end < userinfo.len() { ":***" } else { "" };
                (format!("{}{masked}@", &userinfo[..end]), address)
            }
            None => (String::new(), rest),
        };
        let address = address.split(['?', '#']).next().unwrap_or("");
        format!("{scheme}://{user}{address}")
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// One line for `brygga validate-config`: what kind of store, and where.
impl fmt::Display for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreConfig::Sqlite { path } => write!(f, "sqlite at {}", path.display()),
            StoreConfig::Postgres { url, pool_size } => {
                write!(f, "postgres at {url}, pool_size {pool_size}")
            }
        }
    }
}

impl fmt::Display for LogConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "level {}, format {}",
            value_name(&self.level),
            value_name(&self.format)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "conf/brygga.toml";
    const BASE: &str = "/etc/brygga";

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new(FILE), Path::new(BASE))
    }

    fn error(text: &str) -> String {
        load(text).expect_err("the text is invalid").to_string()
    }

    fn postgres(url: &str) -> String {
        format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n")
    }

    // --- what a good file means ---

    #[test]
    fn an_empty_file_is_the_embedded_store_next_to_it() {
        let config = load("").expect("valid");
        assert_eq!(
            config,
            Config {
                store: StoreConfig::Sqlite {
                    path: PathBuf::from("/etc/brygga/data/brygga.sqlite")
                },
                log: LogConfig {
                    level: LogLevel::Info,
                    format: LogFormat::Text
                },
            }
        );
    }

    #[test]
    fn relative_paths_are_resolved_against_the_files_directory() {
        let config = load("[store]\npath = \"./db/x.sqlite\"\n").expect("valid");
        assert_eq!(
            config.store,
            StoreConfig::Sqlite {
                path: PathBuf::from("/etc/brygga/db/x.sqlite")
            }
        );
        let config = load("[store]\npath = \"../var/x.sqlite\"\n").expect("valid");
        assert_eq!(
            config.store.to_string(),
            "sqlite at /etc/brygga/../var/x.sqlite"
        );
    }

    #[test]
    fn absolute_paths_are_kept() {
        let config = load("[store]\npath = \"/var/lib/brygga/b.sqlite\"\n").expect("valid");
        assert_eq!(
            config.store.to_string(),
            "sqlite at /var/lib/brygga/b.sqlite"
        );
    }

    #[test]
    fn the_backend_may_be_named_or_left_to_the_default() {
        let named = load("[store]\nbackend = \"sqlite\"\npath = \"a\"\n").expect("valid");
        let defaulted = load("[store]\npath = \"a\"\n").expect("valid");
        assert_eq!(named, defaulted);
    }

    #[test]
    fn a_postgres_store_reads_url_and_pool_size() {
        let text = "[store]\nbackend = \"postgres\"\nurl = \"postgresql://u@db:5432/brygga\"\npool_size = 4\n";
        let config = load(text).expect("valid");
        assert_eq!(
            config.store,
            StoreConfig::Postgres {
                url: PostgresUrl("postgresql://u@db:5432/brygga".to_owned()),
                pool_size: 4
            }
        );
        let config = load(&postgres("postgres://db/brygga")).expect("valid");
        assert_eq!(
            config.store.to_string(),
            "postgres at postgres://db/brygga, pool_size 10"
        );
    }

    #[test]
    fn log_settings_use_the_command_line_names() {
        let config = load("[log]\nlevel = \"trace\"\nformat = \"json\"\n").expect("valid");
        assert_eq!(
            config.log,
            LogConfig {
                level: LogLevel::Trace,
                format: LogFormat::Json
            }
        );
        assert_eq!(config.log.to_string(), "level trace, format json");
    }

    #[test]
    fn inline_tables_and_dotted_keys_work_like_sections() {
        let inline = load("store = { backend = \"sqlite\", path = \"a\" }\n").expect("valid");
        let dotted = load("store.path = \"a\"\n").expect("valid");
        assert_eq!(inline, dotted);
    }

    #[test]
    fn windows_line_endings_and_a_byte_order_mark_are_accepted() {
        let config = load("\u{feff}[log]\r\nlevel = \"warn\"\r\n").expect("valid");
        assert_eq!(config.log.level, LogLevel::Warn);
        assert_eq!(
            error("\u{feff}[log]\r\nlevel = \"loud\"\r\n"),
            "conf/brygga.toml:2:9: log.level: \"loud\" is not one of error, warn, info, debug, trace"
        );
    }

    // --- every kind of error names file, line, column and key ---

    #[test]
    fn unknown_keys_list_the_allowed_ones() {
        assert_eq!(
            error("# comment\n[store]\nbakend = \"sqlite\"\n"),
            "conf/brygga.toml:3:1: store.bakend: unknown key; expected one of: backend, path"
        );
        assert_eq!(
            error("[log]\nlevel = \"info\"\n  colour = true\n"),
            "conf/brygga.toml:3:3: log.colour: unknown key; expected one of: level, format"
        );
        assert_eq!(
            error("[stor]\n"),
            "conf/brygga.toml:1:2: stor: unknown key; expected one of: store, log"
        );
        assert_eq!(
            error("\"odd key\" = 1\n"),
            "conf/brygga.toml:1:1: \"odd key\": unknown key; expected one of: store, log"
        );
    }

    #[test]
    fn a_key_of_the_other_backend_is_an_error_not_ignored() {
        assert_eq!(
            error("[store]\nbackend = \"sqlite\"\nurl = \"postgres://db/b\"\n"),
            "conf/brygga.toml:3:1: store.url: unknown key; expected one of: backend, path"
        );
        assert_eq!(
            error(&format!("{}path = \"x\"\n", postgres("postgres://db/b"))),
            "conf/brygga.toml:4:1: store.path: unknown key; expected one of: backend, url, pool_size"
        );
        // A sub-table under [store] is a key of [store] too.
        assert_eq!(
            error("[store.sqlite]\npath = \"x\"\n"),
            "conf/brygga.toml:1:8: store.sqlite: unknown key; expected one of: backend, path"
        );
    }

    #[test]
    fn an_unknown_backend_lists_the_known_ones() {
        assert_eq!(
            error("[store]\nbackend = \"mysql\"\n"),
            "conf/brygga.toml:2:11: store.backend: \"mysql\" is not one of sqlite, postgres"
        );
    }

    #[test]
    fn values_outside_a_list_list_the_allowed_ones() {
        assert_eq!(
            error("[log]\nlevel = \"loud\"\n"),
            "conf/brygga.toml:2:9: log.level: \"loud\" is not one of error, warn, info, debug, trace"
        );
        assert_eq!(
            error("[log]\nformat = \"JSON\"\n"),
            "conf/brygga.toml:2:10: log.format: \"JSON\" is not one of text, json"
        );
    }

    #[test]
    fn wrong_types_say_what_was_expected_and_found() {
        assert_eq!(
            error("[log]\nlevel = 3\n"),
            "conf/brygga.toml:2:9: log.level: wrong type: expected a string, found integer `3`"
        );
        assert_eq!(
            error(&format!(
                "{}pool_size = \"8\"\n",
                postgres("postgres://db/b")
            )),
            "conf/brygga.toml:4:13: store.pool_size: wrong type: expected an integer, found string \"8\""
        );
        assert_eq!(
            error("log = \"info\"\n"),
            "conf/brygga.toml:1:7: log: wrong type: expected a table, found string \"info\""
        );
        assert_eq!(
            error("[[store]]\n"),
            "conf/brygga.toml:1:1: store: wrong type: expected a table, found array"
        );
        assert_eq!(
            error("[store]\nbackend = true\n"),
            "conf/brygga.toml:2:11: store.backend: wrong type: expected a string, found boolean"
        );
        assert_eq!(
            error("[store]\npath = [\"a\"]\n"),
            "conf/brygga.toml:2:8: store.path: wrong type: expected a string, found an array"
        );
    }

    #[test]
    fn a_missing_required_key_points_at_its_table() {
        assert_eq!(
            error("[log]\n\n[store]\nbackend = \"postgres\"\npool_size = 2\n"),
            "conf/brygga.toml:3:1: store.url: required key is missing"
        );
    }

    #[test]
    fn syntax_errors_have_a_position_and_no_key() {
        assert_eq!(
            error("[log]\nlevel = \"info\n"),
            "conf/brygga.toml:2:14: invalid TOML: invalid basic string, expected `\"`"
        );
        assert_eq!(
            error("[log\n"),
            "conf/brygga.toml:1:5: invalid TOML: unclosed table, expected `]`"
        );
        assert_eq!(
            error("[log]\nlevel = \"info\"\n[log]\n"),
            "conf/brygga.toml:3:2: invalid TOML: duplicate key"
        );
    }

    #[test]
    fn an_empty_or_home_relative_path_is_rejected() {
        assert_eq!(
            error("[store]\npath = \"\"\n"),
            "conf/brygga.toml:2:8: store.path: must not be empty"
        );
        assert_eq!(
            error("[store]\npath = \"~/brygga.sqlite\"\n"),
            "conf/brygga.toml:2:8: store.path: starts with `~`, which is not expanded here; write the full path"
        );
    }

    #[test]
    fn a_url_that_is_not_postgres_is_rejected_without_repeating_it() {
        for (url, reason) in [
            (
                "mysql://u:hunter2@db/b",
                "must start with postgres:// or postgresql://",
            ),
            (
                "db.example:5432",
                "must start with postgres:// or postgresql://",
            ),
            (
                "POSTGRES://db/b",
                "must start with postgres:// or postgresql://",
            ),
            (
                "postgres://u:hunter2@db:54x2/b",
                "a port must be a number from 1 to 65535",
            ),
            (
                "postgres://db:0/b",
                "a port must be a number from 1 to 65535",
            ),
            (
                "postgres://db:65536/b",
                "a port must be a number from 1 to 65535",
            ),
            (
                "postgres://db:+5432/b",
                "a port must be a number from 1 to 65535",
            ),
            (
                "postgres://a:5432,b:x/b",
                "a port must be a number from 1 to 65535",
            ),
            (
                "postgres://db/b b",
                "must not contain spaces or control characters",
            ),
        ] {
            let message = error(&postgres(url));
            assert_eq!(
                message,
                format!("conf/brygga.toml:3:7: store.url: not a PostgreSQL URL: {reason}"),
                "{url}"
            );
            assert!(!message.contains("hunter2"));
        }
    }

    #[test]
    fn usual_postgres_urls_are_accepted() {
        for url in [
            "postgres://db/brygga",
            "postgresql://brygga:p%40ss@db.kommun.se:5432/brygga?sslmode=verify-full",
            "postgres://u@[2001:db8::1]:5432/b",
            "postgres://u@[::1]/b",
            "postgres://a:5432,b:5433/brygga?target_session_attrs=read-write",
            "postgresql:///brygga?host=/var/run/postgresql",
        ] {
            assert!(load(&postgres(url)).is_ok(), "{url}");
        }
    }

    #[test]
    fn pool_size_must_be_a_possible_number_of_connections() {
        for (size, column) in [("0", 13), ("-1", 13), ("262144", 13), ("9999999999999", 13)] {
            assert_eq!(
                error(&format!(
                    "{}pool_size = {size}\n",
                    postgres("postgres://db/b")
                )),
                format!(
                    "conf/brygga.toml:4:{column}: store.pool_size: must be from 1 to 262143, not {size}"
                )
            );
        }
        let text = format!("{}pool_size = 262143\n", postgres("postgres://db/b"));
        assert!(load(&text).is_ok());
    }

    // --- the password stays out of everything printed ---

    #[test]
    fn the_password_is_never_shown() {
        for (url, shown) in [
            (
                "postgres://brygga:hunter2@db:5432/b",
                "postgres://brygga:***@db:5432/b",
            ),
            (
                "postgres://brygga@db/b?password=hunter2",
                "postgres://brygga@db/b",
            ),
            ("postgres://db/b?password=hunter2", "postgres://db/b"),
            (
                "postgres://brygga:hun@ter2@db/b",
                "postgres://brygga:***@db/b",
            ),
            (
                "postgres://brygga:hun/ter2@db/b",
                "postgres://brygga:***@db/b",
            ),
            // An `@` in the query garbles the output, but leaks nothing.
            (
                "postgres://db/b?password=hunter2&options=a@b",
                "postgres://db:***@b",
            ),
        ] {
            let url = PostgresUrl(url.to_owned());
            assert_eq!(url.to_string(), shown);
            assert!(!format!("{url:?}").contains("hunter2"));
        }
    }

    // --- the shipped file ---

    const SHIPPED: &str = include_str!("../../../config/brygga.toml");

    #[test]
    fn the_shipped_file_keeps_the_store_in_the_repositorys_data_directory() {
        let config = Config::parse(
            SHIPPED,
            Path::new("config/brygga.toml"),
            Path::new("/repo/config"),
        )
        .expect("the shipped configuration is valid");
        assert_eq!(
            config.store.to_string(),
            "sqlite at /repo/config/../data/brygga.sqlite"
        );
        assert_eq!(config.log, load("").expect("valid").log);
    }

    /// The PostgreSQL example is commented out in the shipped file; it must
    /// still be valid once a user uncomments it in place of the sqlite keys.
    #[test]
    fn the_shipped_postgres_example_is_valid_when_uncommented() {
        let mut uncommented = 0;
        let text: String = SHIPPED
            .lines()
            .filter(|line| {
                !line.starts_with("backend = \"sqlite\"") && !line.starts_with("path = ")
            })
            .map(|line| match line.strip_prefix("# ") {
                Some(setting)
                    if ["backend = ", "url = ", "pool_size = "]
                        .iter()
                        .any(|key| setting.starts_with(key)) =>
                {
                    uncommented += 1;
                    format!("{setting}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        assert_eq!(uncommented, 3, "the example has backend, url and pool_size");
        let config = load(&text).expect("the example is valid");
        assert!(matches!(config.store, StoreConfig::Postgres { .. }));
    }

    /// Whatever the bytes, loading returns an error or a config; it never panics.
    #[test]
    fn no_prefix_or_single_byte_change_of_a_file_panics() {
        let samples = [
            SHIPPED.to_owned(),
            format!(
                "{}pool_size = 3\n[log]\nformat = \"json\"\n",
                postgres("postgres://u:p@[::1]:1/b")
            ),
        ];
        for sample in &samples {
            for end in (0..=sample.len()).filter(|&i| sample.is_char_boundary(i)) {
                let _ = load(&sample[..end]);
            }
            for (i, _) in sample.char_indices() {
                for replacement in ["\"", "[", "]", "=", "\n", "'", "{", ".", "0", "é", "\u{0}"] {
                    let mut changed = sample.clone();
                    changed.replace_range(
                        i..i + sample[i..].chars().next().map_or(0, char::len_utf8),
                        replacement,
                    );
                    if let Err(error) = load(&changed) {
                        assert!(!error.to_string().contains('\n'), "one line: {error}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_file_that_cannot_be_read_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope.toml");
        let message = Config::load(&missing).expect_err("missing").to_string();
        assert!(
            message.starts_with(&format!("{}: cannot read: ", missing.display())),
            "{message}"
        );
        let message = Config::load(dir.path())
            .expect_err("a directory")
            .to_string();
        assert!(message.starts_with(&format!("{}: cannot read: ", dir.path().display())));
    }

    #[test]
    fn a_file_too_large_to_be_a_configuration_is_not_read_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("big.toml");
        let limit = usize::try_from(MAX_FILE_BYTES).expect("fits");
        let mut text = "#".repeat(limit - 1);
        text.push('\n');
        std::fs::write(&file, &text).expect("write");
        assert!(Config::load(&file).is_ok(), "exactly the limit is fine");
        text.push('\n');
        std::fs::write(&file, &text).expect("write");
        assert_eq!(
            Config::load(&file).expect_err("too large").to_string(),
            format!(
                "{}: is larger than 1024 KiB, more than any configuration needs; is it the right file?",
                file.display()
            )
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_gives_the_position_of_the_first_bad_byte() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("latin1.toml");
        std::fs::write(&file, b"[log]\n# K\xf6ping\n").expect("write");
        assert_eq!(
            Config::load(&file).expect_err("not UTF-8").to_string(),
            format!("{}:2:4: not UTF-8 text", file.display())
        );
    }

    #[test]
    fn load_resolves_against_the_files_own_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("brygga.toml");
        std::fs::write(&file, "[store]\npath = \"db.sqlite\"\n").expect("write");
        let config = Config::load(&file).expect("valid");
        assert_eq!(
            config.store,
            StoreConfig::Sqlite {
                path: dir.path().join("db.sqlite")
            }
        );
    }
}
