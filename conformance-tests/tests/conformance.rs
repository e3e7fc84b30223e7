//! Every registered format runs the conformance kit against its golden
//! vectors. A format joins with one line in `FORMATS_UNDER_TEST`.

use std::path::Path;

use brygga_adapters::registry;

const FORMATS_UNDER_TEST: &[&str] = &["canonical"];

#[test]
fn golden_vectors_decode_round_trip_and_report_rejects() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    for name in FORMATS_UNDER_TEST {
        let format = registry::format(name).expect("registered format");
        let (cases, failures) =
            brygga_conformance::run_golden_vectors(format, &vectors.join(name)).expect("vectors");
        assert!(cases >= 2, "{name}: expected golden vectors, found {cases}");
        let report: Vec<String> = failures
            .iter()
            .map(|f| format!("{}:\n{}", f.case.display(), f.message))
            .collect();
        assert!(report.is_empty(), "{name}:\n{}", report.join("\n"));
    }
}
