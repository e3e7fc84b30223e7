//! `brygga id` as support staff and scripts use it: one line per value on
//! stdout, reasons on stderr, exit code 1 when any value is invalid.

use std::process::Command;

fn brygga_id(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brygga"))
        .arg("id")
        .args(args)
        .output()
        .expect("run brygga");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn valid_values_print_kind_and_normalised_form() {
    // Skatteverket's published test number 640823-3234, in three written forms.
    let (code, stdout, stderr) = brygga_id(&[
        "--reference-date",
        "2026-11-23",
        "640823-3234",
        "19640823-3234",
        "SE2321000131-e000000000001",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "640823-3234\tpersonnummer\t196408233234\n\
         19640823-3234\tpersonnummer\t196408233234\n\
         SE2321000131-e000000000001\thsa-id\tSE2321000131-E000000000001\n"
    );
}

#[test]
fn the_plus_sign_moves_the_century() {
    let (code, stdout, _) = brygga_id(&["--reference-date", "2066-01-01", "640823+3234"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "640823+3234\tpersonnummer\t196408233234\n");
}

#[test]
fn an_invalid_value_exits_1_says_why_and_the_rest_are_still_checked() {
    let (code, stdout, stderr) = brygga_id(&[
        "--reference-date",
        "2026-11-23",
        "19640823-3235",
        "19640823-3234",
    ]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "19640823-3234\tpersonnummer\t196408233234\n");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("check digit"), "{stderr}");
    assert!(
        !stderr.contains("3235"),
        "the full number must not be echoed: {stderr}"
    );
}

/// Luhn check digit over the nine digits YYMMDDNNN (weights 2,1,2,1…).
fn check_digit(nine: &str) -> u32 {
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[test]
fn a_samordningsnummer_is_recognised() {
    // Generated at test time: born 2012-05-07, day + 60, serial 985.
    let nine = "120567985";
    let value = format!("{nine}{}", check_digit(nine));
    let (code, stdout, stderr) = brygga_id(&["--reference-date", "2026-11-23", &value]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("{value}\tsamordningsnummer\t20{value}\n"));
}
