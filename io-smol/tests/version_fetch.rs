//! `fetch_web_version_from` against a local HTTPS server serving an `sw.js`
//! of the real page's shape (a JSON blob escaped inside JavaScript, as the
//! public clients' matchers describe it: `\"client_revision\":<digits>`) and
//! broken variants.

mod http_support;

use std::sync::{Arc, Mutex};

use http_support::{Server, bounded, respond, sw_js};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use wa_core::store::AppVersion;
use wa_io_smol::http::{HttpError, SmolHttpClient};
use wa_io_smol::version::{MAX_SW_JS_SIZE, WebVersionError, fetch_web_version_from};

fn rev(n: &str) -> String {
    format!("\\\"client_revision\\\":{n}")
}

/// Serves `/sw.js` (the good shape), broken variants, and records the last
/// request's headers.
fn sw_server(seen: Arc<Mutex<Vec<(String, String)>>>) -> Server {
    Server::https(Arc::new(move |req, w| {
        *seen.lock().unwrap() = req.headers.clone();
        match req.path.as_str() {
            "/sw.js" => respond(w, 200, sw_js(&rev("1045649367")).as_bytes()),
            "/moved.js" => respond(w, 200, sw_js("\\\"build\\\":1045649367").as_bytes()),
            "/nan.js" => respond(w, 200, sw_js(&rev("\\\"abc\\\"")).as_bytes()),
            "/two.js" => {
                let body = sw_js(&rev("1045649367")) + &sw_js(&rev("1045649368"));
                respond(w, 200, body.as_bytes())
            }
            "/huge.js" => {
                // A good key at the start, then more than the accepted size.
                let mut body = sw_js(&rev("1045649367")).into_bytes();
                body.resize(MAX_SW_JS_SIZE + 1, b' ');
                respond(w, 200, &body)
            }
            "/login" => {
                // Redirects are followed; the final status is what counts.
                w.write_all(
                    b"HTTP/1.1 302 Found\r\nlocation: /gone.js\r\ncontent-length: 0\r\n\r\n",
                )
            }
            _ => respond(w, 404, b"<html>not found</html>"),
        }
    }))
}

fn client_for(server: &Server) -> SmolHttpClient {
    let ca = Certificate::from_der(server.ca_der().as_ref()).to_owned();
    SmolHttpClient::builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[ca]))
                .build(),
        )
        .build()
}

#[test]
fn the_real_shape_gives_2_3000_revision_and_sends_browser_headers() {
    bounded(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server = sw_server(seen.clone());
        let client = client_for(&server);
        let v = smol::block_on(fetch_web_version_from(&client, &server.url("/sw.js"))).unwrap();
        assert_eq!(
            v,
            AppVersion {
                primary: 2,
                secondary: 3000,
                tertiary: 1_045_649_367
            }
        );
        let headers = seen.lock().unwrap().clone();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("sec-fetch-site").as_deref(), Some("none"));
        assert!(get("user-agent").is_some_and(|ua| ua.starts_with("Mozilla/5.0")));
    });
}

#[test]
fn broken_pages_give_typed_errors() {
    bounded(|| {
        let server = sw_server(Arc::default());
        let client = client_for(&server);
        let fetch = |path: &str| smol::block_on(fetch_web_version_from(&client, &server.url(path)));

        assert!(matches!(
            fetch("/moved.js"),
            Err(WebVersionError::MissingRevision)
        ));
        assert!(matches!(
            fetch("/nan.js"),
            Err(WebVersionError::InvalidRevision)
        ));
        assert!(matches!(
            fetch("/two.js"),
            Err(WebVersionError::ConflictingRevisions {
                first: 1_045_649_367,
                second: 1_045_649_368
            })
        ));
        match fetch("/gone.js") {
            Err(e @ WebVersionError::Status { status: 404, .. }) => {
                assert!(e.to_string().contains("404"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            fetch("/login"),
            Err(WebVersionError::Status { status: 404, .. })
        ));
        match fetch("/huge.js") {
            Err(WebVersionError::TooLarge { len, limit, .. }) => {
                assert_eq!((len, limit), (MAX_SW_JS_SIZE + 1, MAX_SW_JS_SIZE));
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn the_http_clients_own_cap_and_failures_are_http_errors() {
    bounded(|| {
        let server = sw_server(Arc::default());
        let capped = client_for(&server).with_max_body_size(1024);
        match smol::block_on(fetch_web_version_from(&capped, &server.url("/huge.js"))) {
            Err(WebVersionError::Http { error, .. }) => {
                assert!(
                    matches!(
                        error.downcast_ref::<HttpError>(),
                        Some(HttpError::BodyTooLarge { limit: 1024, .. })
                    ),
                    "{error:#}"
                )
            }
            other => panic!("{other:?}"),
        }
        // Untrusted certificate: the default client does not know the test CA.
        let err = smol::block_on(fetch_web_version_from(
            &SmolHttpClient::new(),
            &server.url("/sw.js"),
        ))
        .unwrap_err();
        assert!(matches!(err, WebVersionError::Http { .. }), "{err}");
    });
}
