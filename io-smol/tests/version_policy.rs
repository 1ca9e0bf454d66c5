//! `WebVersionPolicy`: fresh stored version → no fetch; stale → fetch and
//! store; failure or a stalled server → stored version or the compiled-in
//! default, with a warning, within the fetch timeout.

mod http_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_support::{Server, bounded, respond, sw_js};
use wa_core::store::{AppVersion, Device, DeviceKeys, KeyPair};
use wa_io_smol::http::SmolHttpClient;
use wa_io_smol::version::{
    DEFAULT_APP_VERSION, StoredWebVersion, VersionOutcome, WebVersionError, WebVersionPolicy,
};

const NOW: i64 = 1_750_000_000_000;
const HOUR: i64 = 60 * 60 * 1000;

fn v(tertiary: u32) -> AppVersion {
    AppVersion {
        primary: 2,
        secondary: 3000,
        tertiary,
    }
}

fn device() -> Device {
    Device::from_keys(DeviceKeys {
        noise_key: KeyPair::from_bytes(&[1; 64]),
        identity_key: KeyPair::from_bytes(&[2; 64]),
        registration_id: 7,
        signed_pre_key: KeyPair::from_bytes(&[3; 64]),
        signed_pre_key_id: 1,
        signed_pre_key_signature: [4; 64],
        adv_secret_key: [5; 32],
    })
}

/// `/sw.js` → revision 1045700000; `/broken.js` → 500; `/stall.js` → never
/// answers until the test ends.
fn server(release: Arc<AtomicBool>) -> Server {
    Server::http(Arc::new(move |req, w| match req.path.as_str() {
        "/sw.js" => respond(
            w,
            200,
            sw_js("\\\"client_revision\\\":1045700000").as_bytes(),
        ),
        "/stall.js" => {
            let start = Instant::now();
            while !release.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::io::Error::other("released"))
        }
        _ => respond(w, 500, b"oops"),
    }))
}

fn policy(server: &Server, path: &str) -> WebVersionPolicy {
    WebVersionPolicy::default().with_url(server.url(path))
}

#[test]
fn a_fresh_stored_version_is_used_without_fetching() {
    bounded(|| {
        let server = server(Arc::default());
        let http = SmolHttpClient::new();
        let stored = StoredWebVersion {
            version: v(1_000_000_001),
            fetched_at_ms: NOW - 23 * HOUR,
        };
        let r = smol::block_on(policy(&server, "/sw.js").resolve(&http, Some(stored), NOW));
        assert!(matches!(r.outcome, VersionOutcome::Fresh), "{r:?}");
        assert_eq!(r.version, v(1_000_000_001));
        assert_eq!(r.to_store(), None);
        assert_eq!(server.requests(), 0);
    });
}

#[test]
fn a_stale_or_missing_version_is_fetched_and_stored() {
    bounded(|| {
        let server = server(Arc::default());
        let http = SmolHttpClient::new();
        let p = policy(&server, "/sw.js");

        let stale = StoredWebVersion {
            version: v(1_000_000_001),
            fetched_at_ms: NOW - 25 * HOUR,
        };
        let r = smol::block_on(p.resolve(&http, Some(stale), NOW));
        assert!(
            matches!(r.outcome, VersionOutcome::Fetched { fetched_at_ms: NOW }),
            "{r:?}"
        );
        assert_eq!(r.version, v(1_045_700_000));
        assert_eq!(
            r.to_store(),
            Some(StoredWebVersion {
                version: v(1_045_700_000),
                fetched_at_ms: NOW
            })
        );
        assert_eq!(server.requests(), 1);

        // Through a device record: nothing stored yet → fetched, written in,
        // and the next resolve an hour later needs no request.
        let mut d = device();
        assert_eq!(d.app_version, None);
        let u = smol::block_on(p.resolve_for_device(&http, &mut d, NOW));
        assert!(u.device_changed);
        assert_eq!(d.app_version, Some(v(1_045_700_000)));
        assert_eq!(d.app_version_last_fetched_ms, NOW);
        assert_eq!(server.requests(), 2);
        let u = smol::block_on(p.resolve_for_device(&http, &mut d, NOW + HOUR));
        assert!(matches!(u.outcome, VersionOutcome::Fresh));
        assert!(!u.device_changed);
        assert_eq!(server.requests(), 2);
        // A custom maximum age makes the same record stale.
        let short = p.clone().with_max_age(Duration::from_secs(60));
        let u = smol::block_on(short.resolve_for_device(&http, &mut d, NOW + HOUR));
        assert!(matches!(u.outcome, VersionOutcome::Fetched { .. }));
        assert_eq!(d.app_version_last_fetched_ms, NOW + HOUR);
        assert_eq!(server.requests(), 3);
    });
}

#[test]
fn a_failed_fetch_falls_back_to_the_newer_of_stored_and_default_with_a_warning() {
    let _serial = serial();
    bounded(|| {
        let server = server(Arc::default());
        let http = SmolHttpClient::new();
        let p = policy(&server, "/broken.js").with_fallback(v(1_040_000_000));
        let stale = |t| StoredWebVersion {
            version: v(t),
            fetched_at_ms: NOW - 48 * HOUR,
        };

        let (r, warnings) = capture_warnings(|| smol::block_on(p.resolve(&http, None, NOW)));
        assert_eq!(
            r.version,
            v(1_040_000_000),
            "no stored version: the default"
        );
        assert!(matches!(
            r.outcome,
            VersionOutcome::Fallback {
                error: WebVersionError::Status { status: 500, .. }
            }
        ));
        assert_eq!(r.to_store(), None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("2.3000.1040000000"), "{warnings:?}");
        assert!(warnings[0].contains("500"), "{warnings:?}");

        let r = smol::block_on(p.resolve(&http, Some(stale(1_041_000_000)), NOW));
        assert_eq!(r.version, v(1_041_000_000), "a newer stored version wins");
        let r = smol::block_on(p.resolve(&http, Some(stale(1_039_000_000)), NOW));
        assert_eq!(r.version, v(1_040_000_000), "an older stored version loses");

        // On a device: the version is written, the fetch time is not, so the
        // next connect tries again.
        let mut d = device();
        d.app_version = Some(v(1_039_000_000));
        d.app_version_last_fetched_ms = NOW - 48 * HOUR;
        let u = smol::block_on(p.resolve_for_device(&http, &mut d, NOW));
        assert!(u.device_changed);
        assert_eq!(d.app_version, Some(v(1_040_000_000)));
        assert_eq!(d.app_version_last_fetched_ms, NOW - 48 * HOUR);
        // Unreachable host (nothing listening) behaves the same way.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gone = WebVersionPolicy::default().with_url(format!("http://127.0.0.1:{port}/sw.js"));
        let r = smol::block_on(gone.resolve(&http, None, NOW));
        assert_eq!(r.version, DEFAULT_APP_VERSION);
        assert!(matches!(
            r.outcome,
            VersionOutcome::Fallback {
                error: WebVersionError::Http { .. }
            }
        ));
    });
}

#[test]
fn a_stalled_server_costs_no_more_than_the_fetch_timeout() {
    let _serial = serial();
    bounded(|| {
        let release = Arc::new(AtomicBool::new(false));
        let server = server(release.clone());
        // The HTTP client would wait 30 s per read; the policy gives up first.
        let http = SmolHttpClient::new();
        let p = policy(&server, "/stall.js").with_fetch_timeout(Duration::from_millis(300));
        let stored = StoredWebVersion {
            version: v(1_099_000_000),
            fetched_at_ms: NOW - 30 * HOUR,
        };
        let r = smol::block_on(p.resolve(&http, Some(stored), NOW));
        assert_eq!(r.version, v(1_099_000_000));
        match r.outcome {
            VersionOutcome::Fallback {
                error: WebVersionError::Timeout { timeout, .. },
            } => assert_eq!(timeout, Duration::from_millis(300)),
            other => panic!("{other:?}"),
        }
        release.store(true, Ordering::SeqCst);
    });
}

/// Serialises the tests that reach the fallback `warn!`. tracing caches a
/// callsite's interest process-wide: a test hitting that callsite with no
/// subscriber while another installs its capture can leave it cached as
/// "never", and the capture then misses the warning.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` with a subscriber that records WARN events' messages.
fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let sub = Capture::default();
    let seen = sub.warnings.clone();
    let out = tracing::subscriber::with_default(sub, f);
    let w = seen.lock().unwrap().clone();
    (out, w)
}

#[derive(Default)]
struct Capture {
    warnings: Arc<Mutex<Vec<String>>>,
}

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut m = Message(String::new());
            event.record(&mut m);
            self.warnings.lock().unwrap().push(m.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
