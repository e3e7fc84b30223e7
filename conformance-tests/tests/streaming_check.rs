//! The conformance kit's streaming check must be able to fail: a decoder
//! that keeps what it read is caught. In its own test binary, because it
//! measures the process's resident memory, which other tests would disturb.

use std::path::{Path, PathBuf};

use brygga_adapters::registry;

/// The same bound `tests/conformance.rs` holds every decoder to.
const MAX_GROWTH_KIB: u64 = 32 * 1024;

fn vectors(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name)
}

/// The streaming check must catch a decoder that keeps what it read.
#[test]
fn the_streaming_check_catches_a_decoder_that_hoards_records() {
    use std::io::{BufRead, Write};
    use std::sync::Arc;

    use brygga_adapters::{DecodeError, Decoder, Encoder, Format};
    use brygga_mapping::model::Record;
    use brygga_mapping::profile::Profile;

    struct Hoarding;
    struct HoardingDecoder {
        inner: Box<dyn Decoder>,
        kept: Vec<Record>,
    }
    impl Decoder for HoardingDecoder {
        fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
            let item = self.inner.next_record()?;
            if let Ok(record) = &item {
                self.kept.push(record.clone());
            }
            Some(item)
        }
    }
    let canonical = registry::format("canonical").expect("canonical");
    impl Format for Hoarding {
        fn name(&self) -> &'static str {
            "hoarding"
        }
        fn description(&self) -> &'static str {
            "canonical, but keeps every record"
        }
        fn extension(&self) -> &'static str {
            "ndjson"
        }
        fn profile_system(&self) -> Option<&'static str> {
            None
        }
        fn decoder(
            &self,
            input: Box<dyn BufRead + Send>,
            profile: Arc<Profile>,
        ) -> Box<dyn Decoder> {
            let canonical = registry::format("canonical").expect("canonical");
            Box::new(HoardingDecoder {
                inner: canonical.decoder(input, profile),
                kept: Vec::new(),
            })
        }
        fn encoder(
            &self,
            output: Box<dyn Write + Send>,
            profile: Arc<Profile>,
        ) -> Box<dyn Encoder> {
            registry::format("canonical")
                .expect("canonical")
                .encoder(output, profile)
        }
    }

    let sample = brygga_conformance::vector_records(&vectors("canonical")).expect("records");
    let report = brygga_conformance::stream_check(
        &Hoarding,
        &sample,
        brygga_conformance::default_profile(canonical),
        256 << 20,
    )
    .expect("streams");
    let growth = report.rss_peak_kib.saturating_sub(report.rss_warm_kib);
    assert!(
        growth > MAX_GROWTH_KIB,
        "a hoarding decoder grew only {growth} KiB"
    );
}
