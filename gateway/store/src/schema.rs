//! The store's schema versions: numbered migrations, embedded in the binary
//! in one SQL dialect per backend, applied in order when a store is opened.
//!
//! Rules for adding one (the service's queue, dead letters and access log
//! will each come as a new version):
//!
//! - append a [`Migration`] with the next number and a file per dialect under
//!   `migrations/sqlite/` and `migrations/postgres/`;
//! - never edit a migration that has been released: a database that already
//!   applied it would not apply the change;
//! - a migration runs in one transaction together with the row that records
//!   it in `schema_version`, so it is applied entirely or not at all. Keep
//!   it free of statements that cannot run in a transaction (PostgreSQL's
//!   `CREATE INDEX CONCURRENTLY`, SQLite's `VACUUM`).

use crate::error::ErrorKind;

/// One schema version: what it adds and its SQL for each backend.
#[derive(Debug)]
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every schema version, in order; `MIGRATIONS[i].version == i + 1`.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "jobs, checkpoints and report rows",
    sqlite: include_str!("../migrations/sqlite/0001_jobs.sql"),
    postgres: include_str!("../migrations/postgres/0001_jobs.sql"),
}];

/// The schema version this build of the store creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The table that records which versions a database has applied. It is the
/// one table outside the numbered migrations, and it never changes, so that
/// every version of Brygga can read a database's version.
pub(crate) const SQLITE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
)";

/// [`SQLITE_VERSION_TABLE`] for PostgreSQL.
pub(crate) const POSTGRES_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER     PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)";

/// The migration that follows version `current`, `None` when the database is
/// up to date, or an error when it is newer than this build.
pub(crate) fn next_after(current: i64) -> Result<Option<&'static Migration>, ErrorKind> {
    if current > i64::from(SCHEMA_VERSION) {
        return Err(ErrorKind::SchemaTooNew {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    // `current` is in 0..=SCHEMA_VERSION here; a negative version (a table
    // someone else wrote) counts as empty and fails on the first CREATE.
    let index = usize::try_from(current.max(0)).unwrap_or(usize::MAX);
    Ok(MIGRATIONS.get(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_numbered_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "{}", migration.name);
            assert!(!migration.sqlite.trim().is_empty());
            assert!(!migration.postgres.trim().is_empty());
        }
        assert_eq!(SCHEMA_VERSION as usize, MIGRATIONS.len());
    }

    #[test]
    fn migrations_do_not_manage_their_own_transactions() {
        // The runner wraps each migration in a transaction; a COMMIT inside
        // one would split it.
        for migration in MIGRATIONS {
            for sql in [migration.sqlite, migration.postgres] {
                let upper = sql.to_uppercase();
                for word in ["BEGIN", "COMMIT", "ROLLBACK", "CONCURRENTLY", "VACUUM"] {
                    assert!(
                        !upper.contains(word),
                        "migration {} contains {word}",
                        migration.version
                    );
                }
            }
        }
    }

    #[test]
    fn the_next_migration_follows_the_current_version() {
        assert_eq!(next_after(0).ok().flatten().map(|m| m.version), Some(1));
        assert!(matches!(next_after(i64::from(SCHEMA_VERSION)), Ok(None)));
        assert!(matches!(
            next_after(i64::from(SCHEMA_VERSION) + 1),
            Err(ErrorKind::SchemaTooNew { found, known }) if found == i64::from(SCHEMA_VERSION) + 1 && known == SCHEMA_VERSION
        ));
    }
}
