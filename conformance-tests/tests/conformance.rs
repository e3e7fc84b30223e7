//! Every registered format runs the conformance kit against its golden
//! vectors. A format joins with one line in `FORMATS_UNDER_TEST`.

use std::path::{Path, PathBuf};

use brygga_adapters::registry;

const FORMATS_UNDER_TEST: &[&str] = &[
    "canonical",
    "pmo",
    "fhir-ndjson",
    "fhir-bundle",
    "prorenata",
    "bhv",
];

/// How much input the streaming check pushes through each decoder; set
/// `BRYGGA_STREAM_BYTES` to change it.
const STREAM_BYTES: u64 = 1 << 30;

/// How much resident memory may grow between the first tenth of a streamed
/// input and its end. Any per-record leak over a gigabyte of input shows
/// far above this; buffers and the allocator's slack stay well below it.
const MAX_GROWTH_KIB: u64 = 32 * 1024;

fn vectors(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name)
}

#[test]
fn golden_vectors_decode_round_trip_and_report_rejects() {
    for name in FORMATS_UNDER_TEST {
        let format = registry::format(name).expect("registered format");
        let (cases, failures) =
            brygga_conformance::run_golden_vectors(format, &vectors(name)).expect("vectors");
        assert!(cases >= 2, "{name}: expected golden vectors, found {cases}");
        let report: Vec<String> = failures
            .iter()
            .map(|f| format!("{}:\n{}", f.case.display(), f.message))
            .collect();
        assert!(report.is_empty(), "{name}:\n{}", report.join("\n"));
    }
}

#[test]
fn a_gigabyte_streams_through_every_decoder_with_flat_memory() {
    let target = std::env::var("BRYGGA_STREAM_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STREAM_BYTES);
    for name in FORMATS_UNDER_TEST {
        let format = registry::format(name).expect("registered format");
        let sample = brygga_conformance::vector_records(&vectors(name)).expect("vector records");
        let started = std::time::Instant::now();
        let report = brygga_conformance::stream_check(
            format,
            &sample,
            brygga_conformance::default_profile(format),
            target,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let growth = report.rss_peak_kib.saturating_sub(report.rss_warm_kib);
        eprintln!(
            "{name}: streamed {} MiB, {} records in {:.1} s; resident {} KiB after a tenth, peak {} KiB",
            report.bytes >> 20,
            report.records,
            started.elapsed().as_secs_f64(),
            report.rss_warm_kib,
            report.rss_peak_kib
        );
        assert!(
            report.bytes >= target,
            "{name}: only {} bytes",
            report.bytes
        );
        assert!(
            growth <= MAX_GROWTH_KIB,
            "{name}: resident memory grew by {growth} KiB while streaming"
        );
    }
}
