//! The sink against the test server over real HTTPS on loopback.

use std::time::{Duration, Instant};

use brygga_adapters::stream::{Delivery, Sink};
use brygga_fhir_rest::testing::{Bearer, Fault, ServerOptions};
use brygga_fhir_rest::{AuthConfig, ClientCredentials, RestError, RestSink};

use crate::common::*;

fn all_delivered(answers: &[Delivery]) {
    let failed: Vec<_> = answers
        .iter()
        .filter(|a| **a != Delivery::Delivered)
        .collect();
    assert!(failed.is_empty(), "not delivered: {failed:?}");
}

#[test]
fn everything_is_delivered_once_and_in_order() {
    let mut setup = setup(ServerOptions::default());
    // No fault is injected here, so no request may time out and be sent
    // again; a loaded machine must not make it look so.
    setup.config.timeout_seconds = 60.0;
    let pupils = pupils(200);
    let answers = deliver(&setup.config, &pupils);
    assert_eq!(
        answers.len(),
        organisations().len() + pupils.iter().map(Vec::len).sum::<usize>()
    );
    all_delivered(&answers);
    assert_once_and_in_order(&setup.server, &pupils);
    let transactions: Vec<_> = setup
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_transaction())
        .collect();
    // One transaction for the organisations and one per pupil; no retries.
    assert_eq!(transactions.len(), 1 + pupils.len());
    assert!(transactions.iter().all(|r| r.status == Some(200)));

    let writes = setup.server.changed_writes();
    all_delivered(&deliver(&setup.config, &pupils));
    assert_eq!(
        setup.server.changed_writes(),
        writes,
        "a replay wrote something"
    );
}

#[test]
fn injected_failures_are_survived_delivering_everything_once_in_order() {
    let mut setup = setup(ServerOptions::default());
    // Several transactions per pupil, so a retry in the middle of one
    // pupil must not disturb its order.
    setup.config.max_bundle_entries = 20;
    // Shorter than the injected delays, so those requests time out.
    setup.config.timeout_seconds = 0.5;
    let pupils = pupils(60);
    let faults = [
        Fault::Pass,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        Fault::Pass,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::Delay(Duration::from_millis(800)),
        Fault::Pass,
        Fault::Drop,
        Fault::ApplyThenStatus(500),
        Fault::Pass,
        Fault::ApplyThenDrop,
        Fault::Status {
            status: 502,
            retry_after: None,
        },
        Fault::Delay(Duration::from_millis(800)),
        Fault::Pass,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        Fault::Drop,
        Fault::ApplyThenStatus(503),
    ];
    let injected = faults.len();
    // Spread over the run: a few now, the rest once some pupils are in.
    setup.server.inject(faults[..9].iter().cloned());
    let mut sink = RestSink::new(&setup.config).expect("sink");
    let mut answers = sink.send(&organisations());
    for (i, pupil) in pupils.iter().enumerate() {
        if i == 30 {
            setup.server.inject(faults[9..].iter().cloned());
        }
        answers.extend(sink.send(pupil));
    }
    all_delivered(&answers);
    assert_eq!(setup.server.pending_faults(), 0, "every fault was met");
    assert_once_and_in_order(&setup.server, &pupils);

    let requests = setup.server.requests();
    let transactions: Vec<_> = requests.iter().filter(|r| r.is_transaction()).collect();
    let faulted = transactions.iter().filter(|r| r.fault.is_some()).count();
    assert_eq!(faulted, injected);
    // Retry-After was waited out before the next attempt.
    let mut checked = 0;
    for (i, request) in transactions.iter().enumerate() {
        if let Some(Fault::Status {
            retry_after: Some(seconds),
            ..
        }) = request.fault
        {
            let next = transactions.get(i + 1).expect("a retry follows");
            let gap = next.received - request.received;
            assert!(gap >= Duration::from_secs(seconds), "retried after {gap:?}");
            assert_eq!(
                next.entry_urls, request.entry_urls,
                "the same transaction is retried"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2);
    // Every failed attempt was followed by the same transaction again; a
    // delayed one was given up at the client's timeout, before the server
    // answered.
    for (i, request) in transactions.iter().enumerate() {
        let Some(fault) = &request.fault else {
            continue;
        };
        if *fault == Fault::Pass {
            continue;
        }
        let next = transactions.get(i + 1).expect("a retry follows");
        assert_eq!(next.entry_urls, request.entry_urls, "{fault:?} was retried");
        if let Fault::Delay(delay) = fault {
            let gap = next.received - request.received;
            assert!(
                gap >= Duration::from_millis(500) && gap < *delay,
                "retried {gap:?} after a delayed request"
            );
        }
    }

    // A replay of the whole run writes nothing new.
    let writes = setup.server.changed_writes();
    all_delivered(&deliver(&setup.config, &pupils));
    assert_eq!(
        setup.server.changed_writes(),
        writes,
        "a replay wrote something"
    );
    assert_once_and_in_order(&setup.server, &pupils);
}

#[test]
fn a_refusal_is_permanent_for_that_pupil_alone() {
    let setup = setup(ServerOptions::default());
    let pupils = pupils(12);
    let mut sink = RestSink::new(&setup.config).expect("sink");
    all_delivered(&sink.send(&organisations()));
    // All pupils in one batch: the sixth pupil's transaction is refused.
    let mut faults = vec![Fault::Pass; 5];
    faults.push(Fault::Refuse {
        status: 422,
        text: "Patient.name: the family name is required here".into(),
    });
    setup.server.inject(faults);
    let batch: Vec<_> = pupils.iter().flatten().cloned().collect();
    let answers = sink.send(&batch);
    assert_eq!(answers.len(), batch.len());
    let mut offset = 0;
    for (i, pupil) in pupils.iter().enumerate() {
        let theirs = &answers[offset..offset + pupil.len()];
        offset += pupil.len();
        if i == 5 {
            for answer in theirs {
                let Delivery::Permanent(reason) = answer else {
                    panic!("pupil 5: {answer:?}");
                };
                assert_eq!(
                    reason,
                    "transaction: HTTP 422 Unprocessable Entity: error invalid: Patient.name: the family name is required here"
                );
            }
            assert_eq!(setup.server.versions("Patient", &patient_id(pupil)), 0);
        } else {
            all_delivered(theirs);
            assert_eq!(
                setup.server.first_writes(&patient_id(pupil)),
                expected_order(pupil)
            );
        }
    }
}

#[test]
fn transient_failures_past_the_last_attempt_are_retryable_and_stop_the_pupil() {
    let mut setup = setup(ServerOptions::default());
    setup.config.max_bundle_entries = 10;
    setup.config.retry.max_attempts = 3;
    let pupils = pupils(2);
    let mut sink = RestSink::new(&setup.config).expect("sink");
    all_delivered(&sink.send(&organisations()));
    let before = setup.server.requests().len();
    // The first pupil's first transaction succeeds, its second fails three
    // times.
    let unavailable = Fault::Status {
        status: 503,
        retry_after: None,
    };
    setup.server.inject([
        Fault::Pass,
        unavailable.clone(),
        unavailable.clone(),
        unavailable,
    ]);
    let batch: Vec<_> = pupils.iter().flatten().cloned().collect();
    let answers = sink.send(&batch);
    assert_eq!(answers.len(), batch.len());
    let first = pupils[0].len();
    for answer in &answers[..first] {
        let Delivery::Retryable(reason) = answer else {
            panic!("first pupil: {answer:?}");
        };
        assert!(
            reason.contains("HTTP 503 Service Unavailable")
                && reason.contains("gave up after 3 attempts"),
            "{reason}"
        );
        assert!(reason.contains("after 10 of"), "{reason}");
    }
    for answer in &answers[first..] {
        assert!(
            matches!(answer, Delivery::Retryable(reason) if reason.starts_with("not sent: an earlier delivery failed")),
            "{answer:?}"
        );
    }
    let sent: Vec<_> = setup.server.requests()[before..]
        .iter()
        .filter(|r| r.is_transaction())
        .cloned()
        .collect();
    assert_eq!(
        sent.len(),
        4,
        "one success, three failed attempts, nothing after"
    );
    assert_ne!(sent[0].entry_urls, sent[1].entry_urls);
    assert!(sent[1..].iter().all(|r| r.entry_urls == sent[1].entry_urls));

    // The rerun job delivers everything, in order, once.
    let mut sink = RestSink::new(&setup.config).expect("sink");
    all_delivered(&sink.send(&batch));
    assert_once_and_in_order(&setup.server, &pupils);
}

#[test]
fn a_retry_after_beyond_the_limit_is_not_waited_out() {
    let mut setup = setup(ServerOptions::default());
    setup.config.retry.max_retry_after_seconds = 60;
    let mut sink = RestSink::new(&setup.config).expect("sink");
    setup.server.inject([Fault::Status {
        status: 429,
        retry_after: Some(3600),
    }]);
    let started = Instant::now();
    let answers = sink.send(&organisations());
    assert!(started.elapsed() < Duration::from_secs(5));
    for answer in answers {
        assert!(
            matches!(&answer, Delivery::Retryable(reason) if reason.contains("HTTP 429 Too Many Requests") && reason.contains("asks to wait 3600 s")),
            "{answer:?}"
        );
    }
}

fn with_client_credentials(lifetime: u64) -> Setup {
    let mut setup = setup(ServerOptions {
        client_credentials: Some(("brygga".into(), "s3cret äl".into())),
        token_lifetime_seconds: lifetime,
        ..ServerOptions::default()
    });
    let secret = setup.dir.path().join("secret");
    std::fs::write(&secret, "s3cret äl\n").expect("secret written");
    setup.config.auth = AuthConfig::ClientCredentials(ClientCredentials {
        token_url: setup.server.token_url(),
        client_id: "brygga".into(),
        client_secret_env: None,
        client_secret_file: Some(secret),
        scope: Some("system/*.write".into()),
    });
    setup
}

fn token_requests(setup: &Setup) -> usize {
    setup
        .server
        .requests()
        .iter()
        .filter(|r| r.target == "/token")
        .count()
}

#[test]
fn a_token_is_cached_and_a_refused_one_is_replaced_once() {
    let setup = with_client_credentials(3600);
    let pupils = pupils(10);
    all_delivered(&deliver(&setup.config, &pupils[..5]));
    assert_eq!(token_requests(&setup), 1);
    let fhir: Vec<_> = setup
        .server
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/fhir"))
        .collect();
    assert!(fhir.len() > 5);
    assert!(fhir.iter().all(|r| r.bearer == Bearer::Valid));

    let mut sink = RestSink::new(&setup.config).expect("sink");
    all_delivered(&sink.send(&pupils[5]));
    setup.server.revoke_tokens();
    for pupil in &pupils[6..] {
        all_delivered(&sink.send(pupil));
    }
    assert_eq!(token_requests(&setup), 3);
    let refused: Vec<_> = setup
        .server
        .requests()
        .into_iter()
        .filter(|r| r.bearer == Bearer::Unknown)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].status, Some(401));
    assert_once_and_in_order(&setup.server, &pupils);
}

#[test]
fn tokens_are_renewed_before_they_expire() {
    // A 61 s token is used for 1 s (a minute before its end).
    let setup = with_client_credentials(61);
    let pupils = pupils(12);
    let mut sink = RestSink::new(&setup.config).expect("sink");
    all_delivered(&sink.send(&organisations()));
    for pupil in &pupils {
        std::thread::sleep(Duration::from_millis(250));
        all_delivered(&sink.send(pupil));
    }
    // Renewed (the run lasts seconds) yet cached (fewer than requests).
    let tokens = token_requests(&setup);
    let fhir = setup.server.requests().len() - tokens;
    assert!(
        tokens >= 2 && tokens * 2 <= fhir,
        "{tokens} tokens for {fhir} requests"
    );

    // A 1 s token is never used at all after it was issued: a pause longer
    // than its life finds no stale token in use.
    let setup = with_client_credentials(1);
    let mut sink = RestSink::new(&setup.config).expect("sink");
    all_delivered(&sink.send(&organisations()));
    std::thread::sleep(Duration::from_millis(1200));
    all_delivered(&sink.send(&pupils[0]));
    let requests = setup.server.requests();
    assert!(
        requests
            .iter()
            .filter(|r| r.target.starts_with("/fhir"))
            .all(|r| r.bearer == Bearer::Valid),
        "{requests:?}"
    );
}

#[test]
fn refused_or_missing_credentials_fail_clearly() {
    let setup = with_client_credentials(3600);
    std::fs::write(setup.dir.path().join("secret"), "wrong").expect("secret written");
    let mut sink = RestSink::new(&setup.config).expect("sink");
    let answers = sink.send(&organisations());
    for answer in answers {
        assert!(
            matches!(&answer, Delivery::Retryable(reason) if reason.contains("the token endpoint refused the client credentials: HTTP 401 Unauthorized: invalid_client")),
            "{answer:?}"
        );
    }
    let requests = setup.server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].target, "/token");

    // No credentials at all: the server's 401 stops the job, it does not
    // dead-letter the records.
    let mut config = setup.config.clone();
    config.auth = AuthConfig::None;
    let mut sink = RestSink::new(&config).expect("sink");
    for answer in sink.send(&organisations()) {
        assert!(
            matches!(&answer, Delivery::Retryable(reason) if reason.contains("HTTP 401 Unauthorized: error login: a bearer token is required; the server wants authorisation, and none is configured")),
            "{answer:?}"
        );
    }
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let mut setup = setup(ServerOptions {
        require_client_certificate: true,
        ..ServerOptions::default()
    });
    setup.config.retry.max_attempts = 2;
    let pupils = pupils(3);
    let mut sink = RestSink::new(&setup.config).expect("sink");
    for answer in sink.send(&organisations()) {
        assert!(
            matches!(&answer, Delivery::Retryable(reason) if reason.contains("connection failed")),
            "{answer:?}"
        );
    }
    assert!(setup.server.refused_handshakes() >= 1);
    assert!(setup.server.requests().is_empty());

    let certificate = setup.dir.path().join("client.pem");
    let key = setup.dir.path().join("client-key.pem");
    setup
        .server
        .issue_client_certificate(&certificate, &key)
        .expect("issued");
    setup.config.tls.client_certificate = Some(certificate);
    setup.config.tls.client_key = Some(key);
    all_delivered(&deliver(&setup.config, &pupils));
    assert_once_and_in_order(&setup.server, &pupils);
}

#[test]
fn plain_http_is_refused_unless_allowed() {
    let mut setup = setup(ServerOptions {
        tls: false,
        ..ServerOptions::default()
    });
    assert!(setup.server.base_url().starts_with("http://"));
    setup.config.allow_plain_http = false;
    match RestSink::new(&setup.config) {
        Err(RestError::Config(message)) => {
            assert!(
                message.starts_with("base_url: must be an https:// URL"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    setup.config.allow_plain_http = true;
    let pupils = pupils(2);
    all_delivered(&deliver(&setup.config, &pupils));
    assert_once_and_in_order(&setup.server, &pupils);
}
