//! The offline demo (`cargo run -p wa-io-smol --example demo`) as a test:
//! the same code, run against the same bundled server, checked step by step.

#[path = "../examples/demo.rs"]
#[allow(dead_code)] // the example's `main`
mod demo;

use std::time::Duration;

use futures_lite::future::or;

#[test]
fn the_offline_demo_links_restarts_logs_in_sends_an_iq_and_chats() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.redb");
    let mut out = Vec::new();
    let report = smol::block_on(or(
        async { Some(demo::run_demo(&db, &mut out).await) },
        async {
            smol::Timer::after(Duration::from_secs(40)).await;
            None
        },
    ))
    .expect("the demo bounds itself at 30 s");
    let text = String::from_utf8_lossy(&out);
    let report = match report {
        Ok(report) => report,
        Err(error) => panic!("demo failed: {error:#}\n{text}"),
    };
    assert_eq!(report.first_run_qr_codes, 1, "{text}");
    assert_eq!(report.second_run_qr_codes, 0, "{text}");
    assert!(report.linked_as.ends_with(":12@s.whatsapp.net"), "{text}");
    assert!(report.pings_answered >= 2, "{text}");
    assert_eq!(report.iq_answer.attr_str("type"), Some("result"));
    // Pairing connection, login after the restart, login of the second run.
    assert_eq!(report.connections, 3, "{text}");
    for step in [
        "created a new identity",
        "waiting for a scan",
        "the simulated phone scans the code",
        "; device saved",
        "restart required (515)",
        "(no QR code needed)",
        "keepalive ping answered (2)",
        "answer: <iq",
        "done: linked as",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
    assert!(text.contains('█'), "the QR code is drawn");
    // The conversation: the greeting kept in the inbox across the restart,
    // the contact's answers alone and in the group, read receipts.
    assert_eq!(
        report.received,
        [
            "15550009999@s.whatsapp.net: Hi! I'm a simulated contact. Say something.",
            "15550009999@s.whatsapp.net: you said: hello Alice",
            "120363000000000042@g.us: you said: hello group",
        ],
        "{text}"
    );
    assert_eq!(report.read_receipts, 2, "{text}");
}
