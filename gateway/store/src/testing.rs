//! A real, throwaway PostgreSQL server for tests (feature `testing`).
//!
//! [`PgCluster::start`] creates a cluster with `initdb` in a new directory
//! under the system's temporary directory, starts it with `pg_ctl` on a free
//! port of 127.0.0.1 (its Unix socket in the same directory), and removes
//! it all again when the cluster is dropped. [`PgCluster::shared`] gives
//! every test in one test binary the same cluster, started on first use;
//! [`PgCluster::create_database`] gives each test its own database.
//!
//! ```no_run
//! use brygga_store::testing::PgCluster;
//!
//! let cluster = PgCluster::shared().expect("PostgreSQL starts");
//! let database = cluster.create_database().expect("database is created");
//! // postgres://postgres@127.0.0.1:PORT/brygga_test_N, no password:
//! println!("{}", database.url());
//! ```
//!
//! Cleaning up does not depend on the test process ending well. A small
//! watchdog shell process holds the read end of a pipe whose write end only
//! the test process has; when the test process ends in any way (a normal
//! exit, where statics are never dropped, a panic, Ctrl-C or `kill -9`) the
//! pipe closes, and the watchdog stops the server and deletes the directory.
//!
//! The server binaries are found in `BRYGGA_PG_BINDIR` if set, else the
//! newest `/usr/lib/postgresql/*/bin` (Debian's layout), else on `PATH`
//! (`.ci/install-postgres` installs them). PostgreSQL refuses to run as root,
//! so when the tests run as root (as CI does) the server side runs as the
//! `postgres` user through `runuser`, in a directory given to that user.
//!
//! The cluster trusts every local connection and runs with `fsync = off`:
//! it exists for one test run, and `fsync` only matters if the machine
//! itself goes down. Killing a client or the server keeps every commit.

use std::env;
use std::fmt;
use std::fs;
use std::io;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why the test cluster could not be set up; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessError(String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "test PostgreSQL: {}", self.0)
    }
}

impl std::error::Error for HarnessError {}

fn fail(message: impl Into<String>) -> HarnessError {
    HarnessError(message.into())
}

/// A running throwaway PostgreSQL server; stopped and deleted when dropped.
#[derive(Debug)]
pub struct PgCluster {
    base: PathBuf,
    port: u16,
    bin_dir: PathBuf,
    /// Closing it tells the watchdog to clean up.
    watchdog_pipe: Option<ChildStdin>,
    watchdog: Child,
    databases: AtomicU32,
}

/// One database in a [`PgCluster`], for one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// `postgres://postgres@127.0.0.1:PORT/NAME`: no password, as the
    /// cluster trusts local connections. Passes `brygga validate-config`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How the server-side binaries are run: directly, or as the `postgres`
/// user when this process is root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunAs {
    Me,
    Postgres,
}

impl PgCluster {
    /// The cluster shared by every test in this process, started on first
    /// use. A failure to start is remembered and returned to every caller.
    pub fn shared() -> Result<&'static PgCluster, HarnessError> {
        static SHARED: OnceLock<Result<PgCluster, HarnessError>> = OnceLock::new();
        SHARED
            .get_or_init(PgCluster::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Creates and starts a new cluster (about a second).
    pub fn start() -> Result<PgCluster, HarnessError> {
        let bin_dir = find_bin_dir()?;
        let run_as = if running_as_root() {
            RunAs::Postgres
        } else {
            RunAs::Me
        };
        let base = make_base_dir(run_as)?;
        let watchdog = spawn_watchdog(&base, &bin_dir, run_as);
        let (watchdog, watchdog_pipe) = match watchdog {
            Ok(mut child) => {
                let pipe = child.stdin.take();
                (child, pipe)
            }
            Err(error) => {
                let _ = fs::remove_dir_all(&base);
                return Err(error);
            }
        };
        // From here on, dropping `cluster` (also on an error) cleans up.
        let mut cluster = PgCluster {
            base,
            port: 0,
            bin_dir,
            watchdog_pipe,
            watchdog,
            databases: AtomicU32::new(0),
        };
        cluster.init(run_as)?;
        cluster.start_server(run_as)?;
        Ok(cluster)
    }

    /// The TCP port the server listens on at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.base.join("socket")
    }

    /// Creates a new, empty database with a unique name.
    pub fn create_database(&self) -> Result<TestDatabase, HarnessError> {
        let number = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("brygga_test_{number}");
        let port = self.port.to_string();
        let output = run(
            Command::new(self.bin_dir.join("createdb")).args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                &name,
            ]),
            RunAs::Me,
            &self.base,
        )?;
        check("createdb", &output)?;
        Ok(TestDatabase {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            name,
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    fn init(&self, run_as: RunAs) -> Result<(), HarnessError> {
        let data = self.data_dir();
        let output = run(
            Command::new(self.bin_dir.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]),
            run_as,
            &self.base,
        )?;
        check("initdb", &output)?;
        fs::create_dir(self.socket_dir())
            .and_then(|()| chown_to_postgres(&self.socket_dir(), run_as))
            .map_err(|error| fail(format!("cannot create the socket directory: {error}")))
    }

    /// Starts the server on a free port; a port taken between choosing and
    /// binding it is retried with another.
    fn start_server(&mut self, run_as: RunAs) -> Result<(), HarnessError> {
        let mut last_error = fail("not started");
        for _attempt in 0..5 {
            self.port = free_port()?;
            // Settings go in the configuration file rather than on pg_ctl's
            // command line, which it passes through a shell.
            let settings = format!(
                "\n# brygga test harness\nport = {}\nlisten_addresses = '127.0.0.1'\n\
                 unix_socket_directories = '{}'\nfsync = off\nmax_connections = 300\n\
                 shared_buffers = 32MB\n",
                self.port,
                self.socket_dir().display()
            );
            fs::OpenOptions::new()
                .append(true)
                .open(self.data_dir().join("postgresql.conf"))
                .and_then(|mut file| file.write_all(settings.as_bytes()))
                .map_err(|error| fail(format!("cannot write the server settings: {error}")))?;
            let log = self.base.join("server.log");
            let output = run(
                Command::new(self.bin_dir.join("pg_ctl"))
                    .arg("-D")
                    .arg(self.data_dir())
                    .arg("-l")
                    .arg(&log)
                    .args(["-w", "-t", "60", "start"]),
                run_as,
                &self.base,
            )?;
            match check("pg_ctl start", &output) {
                Ok(()) => return Ok(()),
                Err(error) => {
                    let tail = fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    last_error = fail(format!("{}; server log: {}", error.0, tail.join(" | ")));
                }
            }
        }
        Err(last_error)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Closing the pipe makes the watchdog stop the server and delete the
        // directory; waiting for it means both are done when drop returns.
        drop(self.watchdog_pipe.take());
        let _ = self.watchdog.wait();
    }
}

/// The watchdog: waits for its standard input to close, then stops the
/// server and deletes the cluster's directory. It ignores the signals a
/// terminal sends on Ctrl-C so that it outlives the test process.
const WATCHDOG: &str = r#"trap '' HUP INT TERM
read -r _ignored
if [ "$3" = postgres ]; then
    runuser -u postgres -- "$2" -D "$1/data" -m immediate -w stop
else
    "$2" -D "$1/data" -m immediate -w stop
fi >/dev/null 2>&1
rm -rf -- "$1"
"#;

fn spawn_watchdog(base: &Path, bin_dir: &Path, run_as: RunAs) -> Result<Child, HarnessError> {
    let user = match run_as {
        RunAs::Postgres => "postgres",
        RunAs::Me => "me",
    };
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("brygga-pg-watchdog")
        .arg(base)
        .arg(bin_dir.join("pg_ctl"))
        .arg(user)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| fail(format!("cannot start the cleanup watchdog (sh): {error}")))
}

/// Runs a server-side command as `run_as`, in `dir` (which the postgres user
/// can enter; the test's own directory may not be).
fn run(command: &mut Command, run_as: RunAs, dir: &Path) -> Result<Output, HarnessError> {
    let program = command.get_program().to_owned();
    let mut command = match run_as {
        RunAs::Me => {
            let mut plain = Command::new(&program);
            plain.args(command.get_args());
            plain
        }
        RunAs::Postgres => {
            let mut runuser = Command::new("runuser");
            runuser
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(command.get_args());
            runuser
        }
    };
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| {
            let name = match run_as {
                RunAs::Me => program.to_string_lossy().into_owned(),
                RunAs::Postgres => "runuser".to_owned(),
            };
            fail(format!("cannot run {name}: {error}"))
        })
}

fn check(what: &str, output: &Output) -> Result<(), HarnessError> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let said = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    Err(fail(format!(
        "{what} failed ({}): {}",
        output.status,
        said.split_whitespace().collect::<Vec<_>>().join(" ")
    )))
}

fn find_bin_dir() -> Result<PathBuf, HarnessError> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = env::var_os("BRYGGA_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(fail(format!(
                "BRYGGA_PG_BINDIR={} has no initdb and pg_ctl",
                dir.display()
            )))
        };
    }
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Ok(bin);
    }
    env::var_os("PATH")
        .iter()
        .flat_map(env::split_paths)
        .find(|dir| has_server(dir))
        .ok_or_else(|| {
            fail(
                "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on \
                 PATH; install them with `bash .ci/install-postgres` or set BRYGGA_PG_BINDIR",
            )
        })
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// A new directory for the cluster, owned by the user the server runs as.
fn make_base_dir(run_as: RunAs) -> Result<PathBuf, HarnessError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    let tmp = env::temp_dir();
    for attempt in 0..100u32 {
        let base = tmp.join(format!(
            "brygga-pg-{}-{nanos:08x}-{attempt}",
            std::process::id()
        ));
        match fs::create_dir(&base) {
            Ok(()) => {
                return chown_to_postgres(&base, run_as)
                    .map(|()| base.clone())
                    .map_err(|error| {
                        let _ = fs::remove_dir_all(&base);
                        fail(format!(
                            "cannot give {} to the postgres user: {error}",
                            base.display()
                        ))
                    });
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(fail(format!(
                    "cannot create a directory in {}: {error}",
                    tmp.display()
                )));
            }
        }
    }
    Err(fail(format!(
        "cannot find a free directory name in {}",
        tmp.display()
    )))
}

fn chown_to_postgres(path: &Path, run_as: RunAs) -> io::Result<()> {
    if run_as == RunAs::Me {
        return Ok(());
    }
    let id = |flag: &str| -> io::Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| io::Error::other("there is no postgres user (`id postgres` failed)"))
    };
    std::os::unix::fs::chown(path, Some(id("-u")?), Some(id("-g")?))
}

fn free_port() -> Result<u16, HarnessError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| fail(format!("cannot find a free port: {error}")))
}
