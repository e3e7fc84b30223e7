//! Profiles as integration engineers write them: real files in a temporary
//! directory, and the exact one-line messages they get back.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tempfile::TempDir;

use super::*;

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, text).expect("temp file is writable");
    path
}

/// Loads `text` as `name` in a fresh directory and returns the error message.
fn error_of(text: &str) -> (String, PathBuf, TempDir) {
    let dir = TempDir::new().expect("temp dir");
    let path = write(&dir, "kommun.toml", text);
    let error = Profile::load(&path).expect_err("the profile is refused");
    (error.to_string(), path, dir)
}

fn repo_mappings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/mappings")
}

const HEADER: &str = "[profile]\nsystem = \"pmo\"\n";

// ---------------------------------------------------------------------------
// The shipped files
// ---------------------------------------------------------------------------

#[test]
fn the_builtin_default_loads_for_every_system() {
    for system in SYSTEMS {
        let profile = Profile::builtin_checked(system).expect("default.toml is valid");
        assert_eq!(profile.system(), *system);
        assert_eq!(profile.name(), "Brygga standard");
        assert_eq!(profile.source_path(), None);
        assert_eq!(profile.unmapped_policy(), UnmappedPolicy::Unclassified);
    }
}

#[test]
fn the_default_names_every_code_so_encoders_never_write_snake_case() {
    let profile = Profile::builtin("pmo");
    for &code in NoteTypeCode::ALL {
        if code != NoteTypeCode::Unclassified {
            assert_ne!(profile.note_type_name(code), code.code_name(), "{code:?}");
        }
    }
    for &kind in MeasurementKind::ALL {
        assert_ne!(profile.measurement_name(kind), kind.code_name(), "{kind:?}");
    }
    for &profession in Profession::ALL {
        assert_ne!(profile.profession_name(profession), profession.code_name());
    }
    for &domain in SecrecyDomain::ALL {
        let name = profile.secrecy_domain_name(domain);
        assert_ne!(name, domain.code_name(), "{domain:?}");
        assert_eq!(profile.secrecy_domain_of(name), Some(domain), "{name}");
    }
    assert_eq!(
        profile.secrecy_domain_name(SecrecyDomain::EmiMedical),
        "Elevhälsans medicinska insats"
    );
}

#[test]
fn the_default_maps_the_health_programme() {
    let profile = Profile::builtin("pmo");
    let code = |name: &str| profile.note_type(name).expect("unclassified policy").code;
    assert_eq!(code("Hälsobesök åk 4"), NoteTypeCode::HealthVisit);
    assert_eq!(code("Rygg/Skolios"), NoteTypeCode::Scoliosis);
    assert_eq!(code("Slutanteckning BHV"), NoteTypeCode::FinalNote);
    assert_eq!(
        code("Läkarundersökning 6–8 veckor"),
        NoteTypeCode::HealthVisit
    );
    assert_eq!(code("Remissvar"), NoteTypeCode::ReferralResponse);
    assert_eq!(
        profile.note_type_name(NoteTypeCode::HealthVisit),
        "Hälsobesök"
    );
    assert_eq!(profile.measurement("längd"), Some(MeasurementKind::Height));
    assert_eq!(
        profile.measurement("Syn vänster"),
        Some(MeasurementKind::VisionLeft)
    );
    assert_eq!(profile.profession("skolsköterska"), Some(Profession::Nurse));
    assert_eq!(
        profile.profession("BHV-sjuksköterska"),
        Some(Profession::Nurse)
    );
    assert_eq!(
        profile.secrecy_domain("Psykologanteckning"),
        SecrecyDomain::Psychological
    );
    assert_eq!(
        profile.secrecy_domain("Kuratorsanteckning"),
        SecrecyDomain::Counsellor
    );
    assert_eq!(
        profile.secrecy_domain("Hälsobesök"),
        SecrecyDomain::EmiMedical
    );
    assert!(profile.unclassified_counts().is_empty());
}

#[test]
fn every_note_type_of_another_profession_has_its_secrecy_domain_in_the_default() {
    // A psychologist's or counsellor's template left to the default domain
    // would put their notes on the school nurses' side of the boundary.
    let text = DEFAULT_PROFILE;
    let doc = toml::de::DeTable::parse(text).expect("TOML");
    let note_types = doc.get_ref()["note_types"]
        .get_ref()
        .as_table()
        .expect("table");
    let profile = Profile::builtin("pmo");
    for (key, value) in note_types {
        let expected = match value.get_ref().as_str() {
            Some("psychological_assessment") => SecrecyDomain::Psychological,
            Some("counsellor_note") => SecrecyDomain::Counsellor,
            Some("special_education_note") => SecrecyDomain::SpecialEducation,
            _ => SecrecyDomain::EmiMedical,
        };
        assert_eq!(
            profile.secrecy_domain(key.get_ref()),
            expected,
            "{}",
            key.get_ref()
        );
    }
}

#[test]
fn default_toml_on_disk_is_for_extending_and_says_so_when_loaded_directly() {
    let path = repo_mappings().join("default.toml");
    let message = Profile::load(&path).expect_err("no system").to_string();
    assert_eq!(
        message,
        format!(
            "{}:18:2: profile.system: required key is missing; expected one of pmo, prorenata, bhv",
            path.display()
        )
    );
}

/// The templates `brygga synth` writes (gateway/src/synth/school_health.rs).
const SYNTHETIC_PMO: &[(&str, NoteTypeCode)] = &[
    ("Hälsobesök F-klass", NoteTypeCode::HealthVisit),
    ("Hälsobesök åk 4", NoteTypeCode::HealthVisit),
    ("Hälsobesök åk 8", NoteTypeCode::HealthVisit),
    ("Hälsobesök gy 1", NoteTypeCode::HealthVisit),
    ("Hälsosamtal åk 2", NoteTypeCode::HealthTalk),
    ("Hälsosamtal åk 6", NoteTypeCode::HealthTalk),
    ("Mottagningsbesök", NoteTypeCode::Visit),
    ("Telefonkontakt", NoteTypeCode::PhoneContact),
    ("Remiss", NoteTypeCode::Referral),
    ("Remissvar", NoteTypeCode::ReferralResponse),
    ("Vaccination", NoteTypeCode::Vaccination),
    ("Psykologanteckning", NoteTypeCode::PsychologicalAssessment),
    ("Kuratorsanteckning", NoteTypeCode::CounsellorNote),
    ("Journalanteckning", NoteTypeCode::GeneralNote),
];

const SYNTHETIC_PRORENATA: &[(&str, NoteTypeCode)] = &[
    ("Hälsobesök förskoleklass", NoteTypeCode::HealthVisit),
    ("Hälsobesök årskurs 4", NoteTypeCode::HealthVisit),
    ("Hälsobesök årskurs 8", NoteTypeCode::HealthVisit),
    ("Hälsobesök gymnasiet år 1", NoteTypeCode::HealthVisit),
    ("Kort hälsosamtal årskurs 2", NoteTypeCode::HealthTalk),
    ("Kort hälsosamtal årskurs 6", NoteTypeCode::HealthTalk),
    ("Besök skolsköterska", NoteTypeCode::Visit),
    ("Telefonsamtal", NoteTypeCode::PhoneContact),
    ("Remiss", NoteTypeCode::Referral),
    ("Remissvar", NoteTypeCode::ReferralResponse),
    ("Vaccinationsanteckning", NoteTypeCode::Vaccination),
    ("Psykolog - samtal", NoteTypeCode::PsychologicalAssessment),
    ("Kurator - samtal", NoteTypeCode::CounsellorNote),
    ("Anteckning", NoteTypeCode::GeneralNote),
];

fn check_example(file: &str, system: &str, templates: &[(&str, NoteTypeCode)]) -> Profile {
    let path = repo_mappings().join(file);
    let profile = Profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(profile.system(), system);
    assert_eq!(profile.source_path(), Some(path.as_path()));
    profile.check_system(system).expect("right system");
    profile.check_elements(&[]).expect("sets no elements");
    for &(template, code) in templates {
        let note_type = profile.note_type(template).expect("mapped");
        assert_eq!(note_type.code, code, "{template}");
        assert_eq!(note_type.original.as_deref(), Some(template));
        let domain = match code {
            NoteTypeCode::PsychologicalAssessment => SecrecyDomain::Psychological,
            NoteTypeCode::CounsellorNote => SecrecyDomain::Counsellor,
            _ => SecrecyDomain::EmiMedical,
        };
        assert_eq!(profile.secrecy_domain(template), domain, "{template}");
    }
    assert!(profile.unclassified_counts().is_empty());
    profile
}

#[test]
fn the_synthetic_pmo_profile_maps_every_template_and_rejects_others() {
    let profile = check_example("syntetisk-pmo.toml", "pmo", SYNTHETIC_PMO);
    assert_eq!(profile.name(), "Syntetisk kommun – PMO");
    assert_eq!(profile.unmapped_policy(), UnmappedPolicy::Reject);
    assert_eq!(
        profile.note_type_name(NoteTypeCode::HealthVisit),
        "Hälsobesök F-klass"
    );
    // Inherited from the default.
    assert_eq!(profile.measurement("Vikt"), Some(MeasurementKind::Weight));
    assert!(profile.note_type("Hälsobesök årskurs 4").is_ok());
    assert!(profile.note_type("Besök hos tandläkaren").is_err());
}

#[test]
fn the_synthetic_prorenata_profile_maps_every_template() {
    let profile = check_example("syntetisk-prorenata.toml", "prorenata", SYNTHETIC_PRORENATA);
    assert_eq!(profile.unmapped_policy(), UnmappedPolicy::Unclassified);
    assert_eq!(
        profile.profession("elevhälsans skolsköterska"),
        Some(Profession::Nurse)
    );
    assert_eq!(
        profile.note_type_name(NoteTypeCode::PsychologicalAssessment),
        "Psykolog - samtal"
    );
}

#[test]
fn a_wrong_system_names_the_line_that_sets_it() {
    let path = repo_mappings().join("syntetisk-prorenata.toml");
    let profile = Profile::load(&path).expect("loads");
    let message = profile
        .check_system("pmo")
        .expect_err("wrong system")
        .to_string();
    assert_eq!(
        message,
        format!(
            "{}:12:10: profile.system: profile is for \"prorenata\", but this format reads \"pmo\" profiles",
            path.display()
        )
    );
}

// ---------------------------------------------------------------------------
// Errors: one line each, FILE:LINE:COLUMN: KEY: REASON
// ---------------------------------------------------------------------------

#[test]
fn an_unknown_code_lists_the_allowed_ones() {
    let (message, path, _dir) = error_of(&format!("{HEADER}[note_types]\n\"Syn\" = \"visoin\"\n"));
    let allowed = NoteTypeCode::allowed().join(", ");
    assert_eq!(
        message,
        format!(
            "{}:4:9: note_types.Syn: \"visoin\" is not a note type; expected one of {allowed}",
            path.display()
        )
    );
}

#[test]
fn an_unknown_code_in_each_table_names_its_kind() {
    for (table, what) in [
        ("measurements", "a measurement kind"),
        ("secrecy_domains", "a secrecy domain"),
        ("professions", "a profession"),
    ] {
        let (message, path, _dir) = error_of(&format!("{HEADER}[{table}]\nx = \"nope\"\n"));
        assert!(
            message.starts_with(&format!(
                "{}:4:5: {table}.x: \"nope\" is not {what}; expected one of ",
                path.display()
            )),
            "{message}"
        );
    }
}

#[test]
fn keys_that_clash_after_normalising_name_both_lines() {
    let (message, path, _dir) = error_of(&format!(
        "{HEADER}[note_types]\n\"Hälsobesök\" = \"health_visit\"\n\" hälsobesök \" = \"visit\"\n"
    ));
    assert_eq!(
        message,
        format!(
            "{}:5:1: note_types.\" hälsobesök \": same key as note_types.\"Hälsobesök\" on line 4 (keys match ignoring case and extra whitespace)",
            path.display()
        )
    );
}

#[test]
fn keys_that_differ_only_in_inner_whitespace_clash() {
    let (message, _, _dir) = error_of(&format!(
        "{HEADER}[measurements]\n\"Syn höger\" = \"vision_right\"\n\"SYN  HÖGER\" = \"vision_left\"\n"
    ));
    assert!(
        message.contains(
            ":5:1: measurements.\"SYN  HÖGER\": same key as measurements.\"Syn höger\" on line 4"
        ),
        "{message}"
    );
}

#[test]
fn an_unknown_table_lists_the_tables() {
    let (message, path, _dir) = error_of(&format!("{HEADER}\n[note_type]\nSyn = \"vision\"\n"));
    assert_eq!(
        message,
        format!(
            "{}:4:2: note_type: unknown table; expected one of profile, note_types, measurements, secrecy_domains, professions, elements",
            path.display()
        )
    );
}

#[test]
fn an_unknown_profile_key_lists_the_keys() {
    let (message, path, _dir) = error_of("[profile]\nsystem = \"pmo\"\nnmae = \"Götene\"\n");
    assert_eq!(
        message,
        format!(
            "{}:3:1: profile.nmae: unknown key; expected one of name, system, extends, unmapped_keywords, default_secrecy_domain",
            path.display()
        )
    );
}

#[test]
fn an_unknown_system_policy_or_domain_is_refused() {
    let (message, path, _dir) = error_of(
        "[profile]\nsystem = \"cosmic\"\nunmapped_keywords = \"ignore\"\ndefault_secrecy_domain = \"emi\"\n",
    );
    let file = path.display();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{file}:2:10: profile.system: \"cosmic\" is not a source system kind; expected one of pmo, prorenata, bhv"
            ),
            format!(
                "{file}:3:21: profile.unmapped_keywords: \"ignore\" is not an unmapped-keyword policy; expected one of unclassified, reject"
            ),
            format!(
                "{file}:4:26: profile.default_secrecy_domain: \"emi\" is not a secrecy domain; expected one of emi_medical, psychological, counsellor, special_education, school_administration"
            ),
        ]
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    let (message, path, _dir) = error_of(&format!(
        "{HEADER}[note_types]\nSyn = 3\n[elements]\nnote = \"\"\n"
    ));
    let file = path.display();
    assert_eq!(
        message.lines().collect::<Vec<_>>(),
        [
            format!("{file}:4:7: note_types.Syn: wrong type: expected a string, found integer"),
            format!("{file}:6:8: elements.note: must not be empty"),
        ]
    );
}

#[test]
fn a_table_that_is_not_a_table_is_refused() {
    let (message, path, _dir) = error_of(&format!("note_types = \"x\"\n{HEADER}"));
    assert_eq!(
        message,
        format!(
            "{}:1:14: note_types: wrong type: expected a table, found string",
            path.display()
        )
    );
}

#[test]
fn an_empty_key_is_refused() {
    let (message, path, _dir) = error_of(&format!("{HEADER}[note_types]\n\"  \" = \"visit\"\n"));
    assert_eq!(
        message,
        format!(
            "{}:4:1: note_types.\"  \": key is empty once whitespace is ignored",
            path.display()
        )
    );
}

#[test]
fn a_missing_system_points_at_the_profile_table() {
    let (message, path, _dir) = error_of("# Götene\n\n[profile]\nname = \"Götene\"\n");
    assert_eq!(
        message,
        format!(
            "{}:3:2: profile.system: required key is missing; expected one of pmo, prorenata, bhv",
            path.display()
        )
    );
}

#[test]
fn a_syntax_error_names_its_line() {
    let (message, path, _dir) = error_of(&format!("{HEADER}[note_types]\n\"Syn = \"vision\"\n"));
    assert!(
        message.starts_with(&format!("{}:4:", path.display())),
        "{message}"
    );
    assert!(message.contains("invalid TOML"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn a_literal_duplicate_key_is_a_syntax_error_on_the_second_line() {
    let (message, path, _dir) = error_of(&format!(
        "{HEADER}[note_types]\nSyn = \"vision\"\nSyn = \"hearing\"\n"
    ));
    assert!(
        message.starts_with(&format!("{}:5:", path.display())),
        "{message}"
    );
}

#[test]
fn every_problem_in_a_file_is_reported_at_once() {
    let (message, _, _dir) = error_of(&format!(
        "{HEADER}[note_types]\nA = \"a\"\nB = \"b\"\n[measurement]\n"
    ));
    assert_eq!(message.lines().count(), 3, "{message}");
}

#[test]
fn a_missing_file_cannot_be_read() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("saknas.toml");
    let message = Profile::load(&path).expect_err("missing").to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read: ", path.display())),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("latin1.toml");
    fs::write(&path, b"[profile]\nname = \"G\xf6tene\"\n").expect("write");
    let message = Profile::load(&path).expect_err("latin-1").to_string();
    assert_eq!(message, format!("{}: not UTF-8 text", path.display()));
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = TempDir::new().expect("temp dir");
    let path = write(&dir, "bom.toml", &format!("\u{feff}{HEADER}"));
    assert_eq!(Profile::load(&path).expect("loads").system(), "pmo");
}

#[test]
fn unknown_elements_are_refused_by_the_adapter_check() {
    let dir = TempDir::new().expect("temp dir");
    let path = write(
        &dir,
        "k.toml",
        &format!("{HEADER}[elements]\nnote = \"anteckning\"\nnotee = \"x\"\n"),
    );
    let profile = Profile::load(&path).expect("loads");
    assert_eq!(profile.element("note", "note"), "anteckning");
    assert_eq!(profile.element("patient", "patient"), "patient");
    profile
        .check_elements(&["note", "notee"])
        .expect("both known");
    let message = profile
        .check_elements(&["note", "patient"])
        .expect_err("notee is unknown")
        .to_string();
    assert_eq!(
        message,
        format!(
            "{}:5:1: elements.notee: unknown key; expected one of note, patient",
            path.display()
        )
    );
    let message = profile
        .check_elements(&[])
        .expect_err("none known")
        .to_string();
    assert_eq!(message.lines().count(), 2, "{message}");
    assert!(
        message.contains("this format has no element names"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// extends
// ---------------------------------------------------------------------------

#[test]
fn extends_merges_tables_and_the_extending_file_wins() {
    let dir = TempDir::new().expect("temp dir");
    write(
        &dir,
        "bas.toml",
        "[profile]\nname = \"Bas\"\nsystem = \"prorenata\"\nunmapped_keywords = \"reject\"\n\
         default_secrecy_domain = \"counsellor\"\n\
         [note_types]\nSyn = \"vision\"\n\"Hörsel\" = \"hearing\"\n\
         [professions]\nKurator = \"counsellor\"\n\
         [elements]\nnote = \"bas-note\"\npatient = \"bas-patient\"\n",
    );
    fs::create_dir(dir.path().join("kommuner")).expect("mkdir");
    let path = write(
        &dir,
        "kommuner/gotene.toml",
        "[profile]\nextends = \"../bas.toml\"\nunmapped_keywords = \"unclassified\"\n\
         [note_types]\n\"SYN \" = \"hearing\"\nSynkontroll = \"vision\"\n\
         [elements]\nnote = \"anteckning\"\n",
    );
    let profile = Profile::load(&path).expect("loads");
    // Not inherited: the name; inherited: the system and the default domain.
    assert_eq!(profile.name(), "gotene");
    assert_eq!(profile.system(), "prorenata");
    assert_eq!(profile.default_secrecy_domain(), SecrecyDomain::Counsellor);
    // Overridden.
    assert_eq!(profile.unmapped_policy(), UnmappedPolicy::Unclassified);
    assert_eq!(
        profile.note_type("syn").expect("mapped").code,
        NoteTypeCode::Hearing
    );
    assert_eq!(profile.element("note", "x"), "anteckning");
    // Merged.
    assert_eq!(
        profile.note_type("Hörsel").expect("mapped").code,
        NoteTypeCode::Hearing
    );
    assert_eq!(profile.profession("kurator"), Some(Profession::Counsellor));
    assert_eq!(profile.element("patient", "x"), "bas-patient");
    // The extending file's names come first.
    assert_eq!(profile.note_type_name(NoteTypeCode::Hearing), "SYN ");
    assert_eq!(profile.note_type_name(NoteTypeCode::Vision), "Synkontroll");
    assert!(profile.unclassified_counts().is_empty());
}

#[test]
fn extends_the_shipped_default_from_a_copy() {
    let dir = TempDir::new().expect("temp dir");
    write(&dir, "default.toml", DEFAULT_PROFILE);
    let path = write(
        &dir,
        "kommun.toml",
        "[profile]\nsystem = \"bhv\"\nextends = \"default.toml\"\n[note_types]\nHB4 = \"health_visit\"\n",
    );
    let profile = Profile::load(&path).expect("loads");
    assert_eq!(
        profile.note_type("hb4").expect("mapped").code,
        NoteTypeCode::HealthVisit
    );
    assert_eq!(profile.note_type_name(NoteTypeCode::HealthVisit), "HB4");
    assert_eq!(
        profile.note_type("Remissvar").expect("inherited").code,
        NoteTypeCode::ReferralResponse
    );
}

#[test]
fn a_missing_base_names_the_extends_line() {
    let (message, path, dir) = error_of(&format!("{HEADER}extends = \"saknas.toml\"\n"));
    let expected = format!(
        "{}:3:11: profile.extends: cannot read {}: ",
        path.display(),
        dir.path().join("saknas.toml").display()
    );
    assert!(message.starts_with(&expected), "{message}");
}

#[test]
fn an_extends_cycle_is_refused_with_the_chain() {
    let dir = TempDir::new().expect("temp dir");
    let a = write(&dir, "a.toml", &format!("{HEADER}extends = \"b.toml\"\n"));
    write(&dir, "b.toml", "[profile]\nextends = \"a.toml\"\n");
    let message = Profile::load(&a).expect_err("cycle").to_string();
    let b = dir.path().join("b.toml");
    let a_again = dir.path().join("a.toml");
    assert_eq!(
        message,
        format!(
            "{}:2:11: profile.extends: extends itself: {} -> {} -> {}",
            b.display(),
            a.display(),
            b.display(),
            a_again.display()
        )
    );
}

#[test]
fn a_file_extending_itself_is_a_cycle() {
    let (message, path, _dir) = error_of(&format!("{HEADER}extends = \"./kommun.toml\"\n"));
    assert!(
        message.starts_with(&format!(
            "{}:3:11: profile.extends: extends itself: ",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn problems_in_the_base_name_the_base_file() {
    let dir = TempDir::new().expect("temp dir");
    let base = write(&dir, "bas.toml", "[note_types]\nSyn = \"vison\"\n");
    let path = write(&dir, "k.toml", &format!("{HEADER}extends = \"bas.toml\"\n"));
    let message = Profile::load(&path).expect_err("bad base").to_string();
    assert!(
        message.starts_with(&format!(
            "{}:2:7: note_types.Syn: \"vison\" is not a note type",
            base.display()
        )),
        "{message}"
    );
}

#[test]
fn a_chain_too_deep_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    for i in 0..20 {
        write(
            &dir,
            &format!("p{i}.toml"),
            &format!("{HEADER}extends = \"p{}.toml\"\n", i + 1),
        );
    }
    write(&dir, "p20.toml", HEADER);
    let message = Profile::load(&dir.path().join("p0.toml"))
        .expect_err("too deep")
        .to_string();
    assert!(message.contains("more than 16 deep"), "{message}");
}

// ---------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------

fn sample(policy: &str) -> (Profile, TempDir) {
    let dir = TempDir::new().expect("temp dir");
    let path = write(
        &dir,
        "gotene.toml",
        &format!(
            "[profile]\nname = \"Götene\"\nsystem = \"pmo\"\nunmapped_keywords = \"{policy}\"\n\
             [note_types]\n\"Hälsobesök  åk 4\" = \"health_visit\"\n\
             [measurements]\n\"Längd\" = \"height\"\nLNGD = \"height\"\n\
             [secrecy_domains]\n\"Psykolog - samtal\" = \"psychological\"\n\
             [professions]\n\"Skolsköterska\" = \"nurse\"\n"
        ),
    );
    (Profile::load(&path).expect("loads"), dir)
}

#[test]
fn lookups_ignore_case_and_whitespace_and_keep_the_original() {
    let (profile, _dir) = sample("reject");
    let note_type = profile
        .note_type(" HÄLSOBESÖK\tåk\u{a0}4 ")
        .expect("mapped");
    assert_eq!(note_type.code, NoteTypeCode::HealthVisit);
    assert_eq!(
        note_type.original.as_deref(),
        Some(" HÄLSOBESÖK\tåk\u{a0}4 ")
    );
    assert_eq!(profile.measurement("LÄNGD"), Some(MeasurementKind::Height));
    assert_eq!(profile.measurement("lngd"), Some(MeasurementKind::Height));
    assert_eq!(profile.measurement("Vikt"), None);
    assert_eq!(
        profile.profession("skolsköterska "),
        Some(Profession::Nurse)
    );
    assert_eq!(profile.profession("Kurator"), None);
    assert_eq!(
        profile.secrecy_domain("psykolog -  samtal"),
        SecrecyDomain::Psychological
    );
    assert_eq!(
        profile.secrecy_domain("Okänd mall"),
        SecrecyDomain::EmiMedical
    );
}

#[test]
fn decomposed_letters_in_the_source_match() {
    let (profile, _dir) = sample("reject");
    let decomposed = "Ha\u{308}lsobeso\u{308}k a\u{30a}k 4";
    assert_eq!(
        profile.note_type(decomposed).expect("mapped").code,
        NoteTypeCode::HealthVisit
    );
}

#[test]
fn reverse_names_are_the_first_key_else_the_code() {
    let (profile, _dir) = sample("reject");
    assert_eq!(
        profile.note_type_name(NoteTypeCode::HealthVisit),
        "Hälsobesök  åk 4"
    );
    assert_eq!(profile.note_type_name(NoteTypeCode::Vision), "vision");
    assert_eq!(profile.measurement_name(MeasurementKind::Height), "Längd");
    assert_eq!(profile.measurement_name(MeasurementKind::Bmi), "bmi");
    assert_eq!(profile.profession_name(Profession::Nurse), "Skolsköterska");
    assert_eq!(
        profile.profession_name(Profession::Psychologist),
        "psychologist"
    );
}

#[test]
fn unmapped_under_reject_names_the_keyword_and_the_profile() {
    let (profile, dir) = sample("reject");
    let error = profile.note_type("Tandvård").expect_err("rejected");
    assert_eq!(error.keyword, "Tandvård");
    assert_eq!(
        error.to_string(),
        format!(
            "note type \"Tandvård\" is not mapped by profile \"Götene\" ({}), which rejects unmapped keywords; add it under [note_types]",
            dir.path().join("gotene.toml").display()
        )
    );
    assert!(profile.unclassified_counts().is_empty());
}

#[test]
fn unmapped_under_unclassified_is_kept_and_counted() {
    let (profile, _dir) = sample("unclassified");
    for source in ["Tandvård", " tandvård", "TANDVÅRD", "Logoped"] {
        let note_type = profile.note_type(source).expect("kept");
        assert_eq!(note_type.code, NoteTypeCode::Unclassified);
        assert_eq!(note_type.original.as_deref(), Some(source));
    }
    profile.note_type("Hälsobesök åk 4").expect("mapped");
    let counts: Vec<(String, u64)> = profile.unclassified_counts().into_iter().collect();
    assert_eq!(
        counts,
        [("Logoped".to_owned(), 1), ("Tandvård".to_owned(), 3)]
    );
}

#[test]
fn a_key_mapped_to_unclassified_on_purpose_is_not_counted() {
    let dir = TempDir::new().expect("temp dir");
    let path = write(
        &dir,
        "k.toml",
        &format!(
            "{HEADER}unmapped_keywords = \"reject\"\n[note_types]\nDiverse = \"unclassified\"\n"
        ),
    );
    let profile = Profile::load(&path).expect("loads");
    assert_eq!(
        profile.note_type("diverse").expect("mapped").code,
        NoteTypeCode::Unclassified
    );
    assert!(profile.unclassified_counts().is_empty());
}

#[test]
fn the_profile_is_shared_between_threads() {
    let (profile, _dir) = sample("unclassified");
    let profile = Arc::new(profile);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let profile = Arc::clone(&profile);
            std::thread::spawn(move || {
                for _ in 0..100 {
                    profile.note_type("Okänd").expect("kept");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no panic");
    }
    assert_eq!(profile.unclassified_counts().get("Okänd"), Some(&400));
}

// ---------------------------------------------------------------------------
// Never a panic
// ---------------------------------------------------------------------------

/// Lines a profile might hold, right and wrong, to build TOML-ish text from.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[profile]".to_owned()),
        Just("[note_types]".to_owned()),
        Just("[measurements]".to_owned()),
        Just("[elements]".to_owned()),
        Just("[professions]".to_owned()),
        Just("[secrecy_domains]".to_owned()),
        Just("[[note_types]]".to_owned()),
        Just("system = \"pmo\"".to_owned()),
        Just("extends = \"fuzz.toml\"".to_owned()),
        Just("extends = \"\"".to_owned()),
        Just("extends = \"..\"".to_owned()),
        Just("unmapped_keywords = \"reject\"".to_owned()),
        "[a-zåäöA-ZÅÄÖ \\t\u{a0}\u{308}]{0,8}".prop_map(|k| format!("\"{k}\" = \"vision\"")),
        "[a-z_]{0,12}".prop_map(|v| format!("Syn = \"{v}\"")),
        "[a-z]{1,4}".prop_map(|k| format!("{k} = {{ a = 1 }}")),
        "[a-z]{1,4}".prop_map(|k| format!("{k}.x = [1, 2]")),
        "\\PC{0,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_text_makes_loading_panic(lines in prop::collection::vec(fragment(), 0..12)) {
        let text = lines.join("\n");
        let dir = TempDir::new().expect("temp dir");
        let path = write(&dir, "fuzz.toml", &text);
        match Profile::load(&path) {
            Ok(profile) => {
                let _ = profile.note_type("Syn");
                let _ = profile.check_elements(&["note"]);
                prop_assert_eq!(profile.system(), "pmo");
            }
            Err(error) => {
                for issue in error.issues() {
                    let line = issue.to_string();
                    prop_assert!(!line.contains('\n') || matches!(issue.problem, Problem::Syntax(_)));
                    prop_assert!(line.starts_with(&dir.path().display().to_string()));
                }
            }
        }
        let file: Arc<Path> = Arc::from(Path::new("fuzz.toml"));
        let _ = load::from_text(&file, &text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = TempDir::new().expect("temp dir");
        let path = dir.path().join("bytes.toml");
        fs::write(&path, &bytes).expect("write");
        let _ = Profile::load(&path);
    }
}

#[test]
fn an_unquoted_swedish_key_gets_a_hint() {
    let (message, path, _dir) = error_of(&format!("{HEADER}[measurements]\nLängd = \"height\"\n"));
    assert!(
        message.starts_with(&format!("{}:4:", path.display())),
        "{message}"
    );
    assert!(
        message.ends_with(
            "put keys with å, ä, ö, spaces or punctuation in quotes, e.g. \"Längd\" = \"height\""
        ),
        "{message}"
    );
}

#[test]
fn a_base_that_is_a_directory_names_the_extends_line() {
    let (message, path, dir) = error_of(&format!("{HEADER}extends = \".\"\n"));
    assert!(
        message.starts_with(&format!(
            "{}:3:11: profile.extends: cannot read {}: ",
            path.display(),
            dir.path().join(".").display()
        )),
        "{message}"
    );
}

#[test]
fn unmapped_names_past_the_limit_are_counted_together() {
    let (profile, _dir) = sample("unclassified");
    for i in 0..MAX_UNCLASSIFIED_NAMES + 5 {
        profile.note_type(&format!("Mall {i}")).expect("kept");
    }
    profile.note_type("Mall 0").expect("kept");
    let counts = profile.unclassified_counts();
    assert_eq!(counts.len(), MAX_UNCLASSIFIED_NAMES + 1);
    assert_eq!(counts.get("Mall 0"), Some(&2));
    assert_eq!(counts.get(OTHER_UNCLASSIFIED), Some(&5));
}
