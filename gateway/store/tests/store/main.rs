//! The store's shared test suite: every test in `suite` runs against both
//! backends, SQLite on a real file and PostgreSQL on a real server started
//! for this test binary (one cluster, one database per test). `crash` kills
//! writers with SIGKILL and checks what survived.

mod crash;
mod specific;
mod suite;
mod support;

/// Generates, for each named test in `suite`, one test per backend:
/// `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::suite::$test(crate::support::Fixture::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::suite::$test(crate::support::Fixture::postgres()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_apply_from_an_empty_database,
    reopening_applies_nothing_and_keeps_the_data,
    a_newer_schema_is_refused_in_one_line,
    concurrent_openers_apply_each_migration_once,
    jobs_are_created_once_and_found_again_by_key,
    a_job_key_with_another_plan_is_refused,
    the_state_changes_with_the_commit_that_carries_it,
    checkpoints_are_written_together_and_read_back,
    a_failed_commit_changes_nothing,
    report_rows_are_idempotent_on_their_key,
    many_report_rows_stream_back_in_order,
    reports_of_different_jobs_stay_apart,
    bad_input_is_refused_before_anything_is_written,
    a_commit_to_an_unknown_job_fails_cleanly,
);
