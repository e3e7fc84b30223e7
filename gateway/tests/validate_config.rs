//! `brygga validate-config` run as users run it: the real binary, real files,
//! and the exit codes and output that scripts and CI depend on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn brygga(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the brygga binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// A fresh directory holding `name` with `text`. The directory is
/// canonicalised so paths printed by brygga compare equal on systems where the
/// temp directory is behind a symbolic link.
fn config_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir
        .path()
        .canonicalize()
        .expect("temp dir exists")
        .join(name);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate is in the workspace")
        .to_owned()
}

#[test]
fn the_shipped_configuration_is_valid_and_uses_the_repositorys_data_directory() {
    let repo = repository();
    let output = brygga(&repo, &["validate-config", "config/brygga.toml"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "config/brygga.toml: ok\nstore: sqlite at {}\nlog: level info, format text\n",
            repo.join("config/../data/brygga.sqlite").display()
        )
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn relative_paths_follow_the_file_not_the_current_directory() {
    let (dir, file) = config_file("etc/brygga.toml", "[store]\npath = \"db/b.sqlite\"\n");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let output = brygga(
        elsewhere.path(),
        &["validate-config", file.to_str().expect("UTF-8 temp path")],
    );
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let etc = file.parent().expect("has a parent");
    assert!(
        stdout(&output).contains(&format!(
            "\nstore: sqlite at {}\n",
            etc.join("db/b.sqlite").display()
        )),
        "{}",
        stdout(&output)
    );

    // Named relative to the current directory, the file still anchors its paths.
    let root = file.ancestors().nth(2).expect("temp dir root");
    let output = brygga(root, &["validate-config", "etc/brygga.toml"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "etc/brygga.toml: ok\nstore: sqlite at {}\nlog: level info, format text\n",
            etc.join("db/b.sqlite").display()
        )
    );
    drop(dir);
}

#[test]
fn an_unknown_key_is_one_line_on_stderr_and_exit_code_2() {
    let (dir, file) = config_file(
        "brygga.toml",
        "[store]\nbackend = \"sqlite\"\nbakend = \"x\"\n",
    );
    let output = brygga(dir.path(), &["validate-config", "brygga.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "brygga: brygga.toml:3:1: store.bakend: unknown key; expected one of: backend, path\n"
    );
    drop(file);
}

#[test]
fn a_value_outside_its_list_is_reported_with_the_allowed_values() {
    let (dir, file) = config_file("b.toml", "[log]\nlevel = \"loud\"\n");
    let output = brygga(
        dir.path(),
        &["validate-config", file.to_str().expect("UTF-8")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "brygga: {}:2:9: log.level: \"loud\" is not one of error, warn, info, debug, trace\n",
            file.display()
        )
    );
}

#[test]
fn invalid_toml_is_reported_with_its_position() {
    let (dir, _file) = config_file("b.toml", "[log]\nlevel = info\n");
    let output = brygga(dir.path(), &["validate-config", "b.toml"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.starts_with("brygga: b.toml:2:9: invalid TOML: "),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn a_postgres_password_is_never_printed() {
    let (dir, _file) = config_file(
        "b.toml",
        "[store]\nbackend = \"postgres\"\nurl = \"postgres://brygga:hunter2@db:5432/brygga\"\npool_size = 4\n",
    );
    let output = brygga(dir.path(), &["validate-config", "b.toml"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "b.toml: ok\nstore: postgres at postgres://brygga:***@db:5432/brygga, pool_size 4\nlog: level info, format text\n"
    );

    let (dir, _file) = config_file(
        "b.toml",
        "[store]\nbackend = \"postgres\"\nurl = \"mysql://brygga:hunter2@db/brygga\"\n",
    );
    let output = brygga(dir.path(), &["validate-config", "b.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "brygga: b.toml:3:7: store.url: not a PostgreSQL URL: must start with postgres:// or postgresql://\n"
    );
}

#[test]
fn a_missing_file_is_exit_code_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = brygga(dir.path(), &["validate-config", "nowhere.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert!(
        message.starts_with("brygga: nowhere.toml: cannot read: "),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn the_file_argument_is_required() {
    let output = brygga(&repository(), &["validate-config"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("<FILE>"), "{}", stderr(&output));
}
