//! The current WhatsApp Web version, read from `https://web.whatsapp.com/sw.js`,
//! and the policy that decides when to read it.
//!
//! The server refuses a client whose announced version is too old with
//! `<failure reason="405">` (docs/protocol.md §3.4). WhatsApp Web's service worker
//! script carries the current build number as `client_revision` inside a JSON
//! blob embedded in the JavaScript (as `\"client_revision\":1045649367` in the
//! escaped string, or unescaped); the version to announce is
//! `(2, 3000, client_revision)`.
//!
//! - [`fetch_web_version`] / [`fetch_web_version_from`] fetch and parse it
//!   through any [`HttpClient`]; [`parse_sw_js`] is the parser alone.
//! - [`WebVersionPolicy`] is what a client runs before connecting: use the
//!   stored version while it is younger than [`WebVersionPolicy::max_age`]
//!   (24 h), otherwise fetch, waiting at most
//!   [`WebVersionPolicy::fetch_timeout`] (5 s); on any failure keep the stored
//!   version or the compiled-in [`DEFAULT_APP_VERSION`], whichever is newer,
//!   and log a warning. Its answer says whether the device record must be
//!   saved.
//!
//! # Example
//!
//! ```no_run
//! use wa_core::store::{Device, DeviceKeys, KeyPair};
//! use wa_io_smol::http::SmolHttpClient;
//! use wa_io_smol::version::{WebVersionPolicy, now_unix_ms};
//!
//! # fn main() {
//! # let kp = KeyPair::from_bytes(&[1; 64]);
//! # let mut device = Device::from_keys(DeviceKeys {
//! #     noise_key: kp.clone(), identity_key: kp.clone(), registration_id: 1,
//! #     signed_pre_key: kp, signed_pre_key_id: 1, signed_pre_key_signature: [0; 64],
//! #     adv_secret_key: [0; 32],
//! # });
//! // `device` is the record loaded from the store.
//! let http = SmolHttpClient::new();
//! let policy = WebVersionPolicy::default();
//! let resolved = smol::block_on(policy.resolve_for_device(&http, &mut device, now_unix_ms()));
//! if resolved.device_changed {
//!     // save `device` before connecting
//! }
//! println!("announcing {:?}", resolved.version);
//! # }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wa_core::net::{HttpClient, HttpRequest};
use wa_core::store::{AppVersion, Device};

pub use wa_core::connection::DEFAULT_APP_VERSION;

/// Where WhatsApp Web's service worker script is served.
pub const SW_JS_URL: &str = "https://web.whatsapp.com/sw.js";

/// Largest `sw.js` body accepted: 4 MiB, a bound on what a changed or hostile
/// page can make the parser scan.
pub const MAX_SW_JS_SIZE: usize = 4 << 20;

/// Default age after which a stored version is fetched again: 24 h.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Default bound on the whole fetch before falling back: 5 s.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The key whose value is the build number.
const REVISION_KEY: &[u8] = b"client_revision";

/// `web.whatsapp.com` serves `sw.js` only to a request that looks like a
/// browser's top-level navigation (`Sec-Fetch-Site: none`); other requests
/// get a 400 (whatsapp-rust's findings, `src/version.rs`).
const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Why the WhatsApp Web version could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebVersionError {
    /// No HTTP exchange happened (DNS, TLS, connect or read timeout, ...).
    #[error("fetching {url} failed: {error:#}")]
    Http {
        /// The URL fetched.
        url: String,
        /// The HTTP client's error (for [`SmolHttpClient`](crate::http::SmolHttpClient),
        /// `error.downcast_ref::<HttpError>()` gives the
        /// [`HttpError`](crate::http::HttpError)).
        #[source]
        error: anyhow::Error,
    },
    /// The fetch took longer than the policy's timeout.
    #[error("fetching {url} took longer than {timeout:?}")]
    Timeout {
        /// The URL fetched.
        url: String,
        /// The bound that expired.
        timeout: Duration,
    },
    /// The server answered with a status other than 200.
    #[error("{url} answered with status {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than [`MAX_SW_JS_SIZE`].
    #[error("{url} sent {len} bytes, more than the {limit} accepted")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The body length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The script has no `client_revision` key: the page changed shape.
    #[error("sw.js has no client_revision (the page changed shape)")]
    MissingRevision,
    /// `client_revision` is there but its value is not a number in 1..=u32::MAX.
    #[error("sw.js has a client_revision that is not a valid number (the page changed shape)")]
    InvalidRevision,
    /// The script holds two different `client_revision` values.
    #[error("sw.js has conflicting client_revision values {first} and {second}")]
    ConflictingRevisions {
        /// The first value found.
        first: u32,
        /// A later, different value.
        second: u32,
    },
}

/// Fetches [`SW_JS_URL`] and returns `(2, 3000, client_revision)`.
///
/// Any status but 200 is [`WebVersionError::Status`]; a body without a usable
/// `client_revision` is [`WebVersionError::MissingRevision`],
/// [`WebVersionError::InvalidRevision`] or
/// [`WebVersionError::ConflictingRevisions`]. No timeout of its own: the HTTP
/// client's timeouts apply (see [`WebVersionPolicy`] for a bounded wait).
pub async fn fetch_web_version(http: &dyn HttpClient) -> Result<AppVersion, WebVersionError> {
    fetch_web_version_from(http, SW_JS_URL).await
}

/// [`fetch_web_version`] from another URL (a mirror, or a test server).
pub async fn fetch_web_version_from(
    http: &dyn HttpClient,
    url: &str,
) -> Result<AppVersion, WebVersionError> {
    let request = HttpRequest::get(url)
        .with_header("Sec-Fetch-Site", "none")
        .with_header("User-Agent", BROWSER_USER_AGENT)
        .with_header("Accept", "*/*");
    let response = http
        .execute(request)
        .await
        .map_err(|error| WebVersionError::Http {
            url: url.to_owned(),
            error,
        })?;
    if response.status_code != 200 {
        return Err(WebVersionError::Status {
            url: url.to_owned(),
            status: response.status_code,
        });
    }
    if response.body.len() > MAX_SW_JS_SIZE {
        return Err(WebVersionError::TooLarge {
            url: url.to_owned(),
            len: response.body.len(),
            limit: MAX_SW_JS_SIZE,
        });
    }
    parse_sw_js(&response.body)
}

/// Reads `(2, 3000, client_revision)` from the text of `sw.js`.
///
/// A match is the key in quotes (`"client_revision"`, or `\"client_revision\"`
/// inside an escaped JSON string), then `:`, then the number, bare or quoted,
/// with optional spaces between. Every match must agree. Never panics and
/// never allocates.
///
/// ```
/// use wa_io_smol::version::parse_sw_js;
///
/// let js = br#"self.__d=JSON.parse("{\"site\":{\"client_revision\":1045649367}}");"#;
/// let v = parse_sw_js(js).unwrap();
/// assert_eq!((v.primary, v.secondary, v.tertiary), (2, 3000, 1045649367));
/// assert!(parse_sw_js(b"console.log('moved')").is_err());
/// ```
pub fn parse_sw_js(body: &[u8]) -> Result<AppVersion, WebVersionError> {
    let mut found: Option<u32> = None;
    let mut saw_bad_value = false;
    let mut from = 0;
    while let Some(pos) = find(&body[from..], REVISION_KEY) {
        let start = from + pos;
        let end = start + REVISION_KEY.len();
        from = end;
        if start == 0 || body[start - 1] != b'"' {
            continue; // not a quoted key: an identifier or a longer word
        }
        let Some(after_key) = closing_quote(&body[end..]) else {
            continue; // `"client_revision_x"` and the like
        };
        let rest = skip_spaces(after_key);
        let Some(rest) = rest.strip_prefix(b":") else {
            continue; // the string as a value, not as a key
        };
        match revision_value(skip_spaces(rest)) {
            Some(revision) => match found {
                Some(first) if first != revision => {
                    return Err(WebVersionError::ConflictingRevisions {
                        first,
                        second: revision,
                    });
                }
                _ => found = Some(revision),
            },
            None => saw_bad_value = true,
        }
    }
    match found {
        Some(tertiary) => Ok(AppVersion {
            primary: 2,
            secondary: 3000,
            tertiary,
        }),
        None if saw_bad_value => Err(WebVersionError::InvalidRevision),
        None => Err(WebVersionError::MissingRevision),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// After the key: `"` or `\"`; returns what follows it.
fn closing_quote(s: &[u8]) -> Option<&[u8]> {
    s.strip_prefix(b"\"").or_else(|| s.strip_prefix(b"\\\""))
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

/// A number in 1..=u32::MAX, bare or between `"`/`\"` quotes.
fn revision_value(s: &[u8]) -> Option<u32> {
    let (quote, s): (&[u8], &[u8]) = if let Some(rest) = s.strip_prefix(b"\\\"") {
        (b"\\\"", rest)
    } else if let Some(rest) = s.strip_prefix(b"\"") {
        (b"\"", rest)
    } else {
        (b"", s)
    };
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    // More than ten digits cannot fit in a u32; do not even try.
    if digits == 0 || digits > 10 {
        return None;
    }
    let after = &s[digits..];
    if !after.starts_with(quote) {
        return None;
    }
    // A bare number must end at a delimiter, not run into letters (`123abc`).
    if quote.is_empty() && after.first().is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let value = s[..digits].iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })?;
    (value != 0).then_some(value)
}

/// The current time as unix milliseconds, the unit of
/// `Device::app_version_last_fetched_ms` (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// `time` as unix milliseconds (0 before 1970, saturating far in the future).
pub fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A version kept in the device record, with when it was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredWebVersion {
    /// The version.
    pub version: AppVersion,
    /// When it was fetched, unix milliseconds (0 = never).
    pub fetched_at_ms: i64,
}

impl StoredWebVersion {
    /// The device's `app_version` and `app_version_last_fetched_ms`, if it has
    /// a version.
    pub fn from_device(device: &Device) -> Option<Self> {
        device.app_version.map(|version| Self {
            version,
            fetched_at_ms: device.app_version_last_fetched_ms,
        })
    }
}

/// What [`WebVersionPolicy::resolve`] did.
#[derive(Debug)]
pub enum VersionOutcome {
    /// The stored version is younger than the maximum age; nothing fetched.
    Fresh,
    /// A new version was fetched at `fetched_at_ms`; store it.
    Fetched {
        /// The fetch time, unix milliseconds.
        fetched_at_ms: i64,
    },
    /// The fetch failed (already logged as a warning); the version is the
    /// stored one or the fallback, whichever is newer. Nothing to store: the
    /// next resolve tries again.
    Fallback {
        /// Why the fetch failed.
        error: WebVersionError,
    },
}

/// The version to announce and how it was chosen.
#[derive(Debug)]
pub struct ResolvedWebVersion {
    /// The version to announce on the next connection.
    pub version: AppVersion,
    /// How it was chosen.
    pub outcome: VersionOutcome,
}

impl ResolvedWebVersion {
    /// The record to save, when a version was fetched.
    pub fn to_store(&self) -> Option<StoredWebVersion> {
        match self.outcome {
            VersionOutcome::Fetched { fetched_at_ms } => Some(StoredWebVersion {
                version: self.version,
                fetched_at_ms,
            }),
            VersionOutcome::Fresh | VersionOutcome::Fallback { .. } => None,
        }
    }

    /// Writes the outcome into `device`: the version (which takes precedence
    /// over the connection config's when the login payload is built) and, for
    /// a fetched one, its fetch time. A fallback leaves the fetch time alone so
    /// the next resolve tries again. Returns whether `device` changed (and so
    /// must be saved).
    pub fn apply_to(&self, device: &mut Device) -> bool {
        let mut changed = false;
        if device.app_version != Some(self.version) {
            device.app_version = Some(self.version);
            changed = true;
        }
        if let Some(stored) = self.to_store()
            && device.app_version_last_fetched_ms != stored.fetched_at_ms
        {
            device.app_version_last_fetched_ms = stored.fetched_at_ms;
            changed = true;
        }
        changed
    }
}

/// What [`WebVersionPolicy::resolve_for_device`] decided and did.
#[derive(Debug)]
pub struct DeviceVersionUpdate {
    /// The version now in the device record, to announce.
    pub version: AppVersion,
    /// How it was chosen.
    pub outcome: VersionOutcome,
    /// Whether the device record changed and must be saved.
    pub device_changed: bool,
}

/// When and how to refresh the announced WhatsApp Web version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebVersionPolicy {
    /// A stored version younger than this is used without fetching (default
    /// [`DEFAULT_MAX_AGE`]).
    pub max_age: Duration,
    /// The longest the fetch may take before the fallback is used (default
    /// [`DEFAULT_FETCH_TIMEOUT`]); the connection never waits longer.
    pub fetch_timeout: Duration,
    /// Where to fetch `sw.js` (default [`SW_JS_URL`]).
    pub url: String,
    /// The compiled-in version used when nothing better is known (default
    /// [`DEFAULT_APP_VERSION`]).
    pub fallback: AppVersion,
}

impl Default for WebVersionPolicy {
    fn default() -> Self {
        Self {
            max_age: DEFAULT_MAX_AGE,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            url: SW_JS_URL.to_owned(),
            fallback: DEFAULT_APP_VERSION,
        }
    }
}

impl WebVersionPolicy {
    /// The defaults: 24 h, 5 s, [`SW_JS_URL`], [`DEFAULT_APP_VERSION`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`WebVersionPolicy::max_age`].
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets [`WebVersionPolicy::fetch_timeout`].
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Sets [`WebVersionPolicy::url`].
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Sets [`WebVersionPolicy::fallback`].
    pub fn with_fallback(mut self, version: AppVersion) -> Self {
        self.fallback = version;
        self
    }

    /// Whether `stored` must be refreshed at `now_unix_ms`: there is none, it
    /// was never fetched, it is at least [`WebVersionPolicy::max_age`] old, or
    /// its fetch time lies in the future (the clock went back: trust neither).
    pub fn is_stale(&self, stored: Option<&StoredWebVersion>, now_unix_ms: i64) -> bool {
        let Some(stored) = stored else { return true };
        if stored.fetched_at_ms <= 0 || stored.fetched_at_ms > now_unix_ms {
            return true;
        }
        let age_ms = u128::from(now_unix_ms.abs_diff(stored.fetched_at_ms));
        age_ms >= self.max_age.as_millis()
    }

    /// Picks the version to announce: the stored one while fresh; otherwise a
    /// fetched one, waiting at most [`WebVersionPolicy::fetch_timeout`]; if that
    /// fails, the newer of the stored version and the fallback, with a
    /// `tracing` warning. Never fails.
    pub async fn resolve(
        &self,
        http: &dyn HttpClient,
        stored: Option<StoredWebVersion>,
        now_unix_ms: i64,
    ) -> ResolvedWebVersion {
        if let Some(fresh) = stored.filter(|s| !self.is_stale(Some(s), now_unix_ms)) {
            return ResolvedWebVersion {
                version: fresh.version,
                outcome: VersionOutcome::Fresh,
            };
        }
        let fetch = async { Some(fetch_web_version_from(http, &self.url).await) };
        let timeout = async {
            smol::Timer::after(self.fetch_timeout).await;
            None
        };
        let result = futures_lite::future::or(fetch, timeout)
            .await
            .unwrap_or_else(|| {
                Err(WebVersionError::Timeout {
                    url: self.url.clone(),
                    timeout: self.fetch_timeout,
                })
            });
        match result {
            Ok(version) => ResolvedWebVersion {
                version,
                outcome: VersionOutcome::Fetched {
                    fetched_at_ms: now_unix_ms,
                },
            },
            Err(error) => {
                let version = match stored {
                    Some(s) if newer_or_equal(s.version, self.fallback) => s.version,
                    _ => self.fallback,
                };
                tracing::warn!(
                    "could not refresh the WhatsApp Web version, announcing {}.{}.{}: {error}",
                    version.primary,
                    version.secondary,
                    version.tertiary
                );
                ResolvedWebVersion {
                    version,
                    outcome: VersionOutcome::Fallback { error },
                }
            }
        }
    }

    /// [`WebVersionPolicy::resolve`] on the device's stored version, writing
    /// the result into `device` ([`ResolvedWebVersion::apply_to`]). Save the
    /// device when [`DeviceVersionUpdate::device_changed`] says so.
    pub async fn resolve_for_device(
        &self,
        http: &dyn HttpClient,
        device: &mut Device,
        now_unix_ms: i64,
    ) -> DeviceVersionUpdate {
        let resolved = self
            .resolve(http, StoredWebVersion::from_device(device), now_unix_ms)
            .await;
        let device_changed = resolved.apply_to(device);
        DeviceVersionUpdate {
            version: resolved.version,
            outcome: resolved.outcome,
            device_changed,
        }
    }
}

fn newer_or_equal(a: AppVersion, b: AppVersion) -> bool {
    (a.primary, a.secondary, a.tertiary) >= (b.primary, b.secondary, b.tertiary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(body: &str) -> Result<u32, WebVersionError> {
        parse_sw_js(body.as_bytes()).map(|v| {
            assert_eq!((v.primary, v.secondary), (2, 3000));
            v.tertiary
        })
    }

    #[test]
    fn escaped_json_inside_javascript() {
        let js = r#"self.__swData=JSON.parse(/*x*/"{\"dynamic_data\":{\"SiteData\":{\"server_revision\":1045649300,\"client_revision\":1045649367,\"push_phase\":\"C3\"}}}");"#;
        assert_eq!(rev(js).unwrap(), 1_045_649_367);
    }

    #[test]
    fn plain_json_quoted_values_and_spaces() {
        assert_eq!(rev(r#"{"client_revision":12345}"#).unwrap(), 12345);
        assert_eq!(rev(r#"{"client_revision" : 12345 ,"#).unwrap(), 12345);
        assert_eq!(rev(r#"{"client_revision":"12345"}"#).unwrap(), 12345);
        assert_eq!(rev(r#"{\"client_revision\":\"12345\"}"#).unwrap(), 12345);
        assert_eq!(
            rev("{\"client_revision\":\n\t4294967295}").unwrap(),
            u32::MAX
        );
    }

    #[test]
    fn words_that_only_look_like_the_key_are_skipped() {
        // Identifier, longer key, the name as a value, then the real one.
        let js = r#"e.client_revision=1;{"client_revision_x":2,"k":"client_revision","client_revision":3}"#;
        assert_eq!(rev(js).unwrap(), 3);
        assert!(matches!(
            rev(r#"var client_revision = 5; {"xclient_revision":6}"#),
            Err(WebVersionError::MissingRevision)
        ));
    }

    #[test]
    fn missing_and_invalid_values() {
        assert!(matches!(rev(""), Err(WebVersionError::MissingRevision)));
        assert!(matches!(
            rev("importScripts('a.js')"),
            Err(WebVersionError::MissingRevision)
        ));
        // The key cut off before its colon is no key.
        assert!(matches!(
            rev(r#"{"client_revision""#),
            Err(WebVersionError::MissingRevision)
        ));
        for bad in [
            r#"{"client_revision":null}"#,
            r#"{"client_revision":"abc"}"#,
            r#"{"client_revision":-5}"#,
            r#"{"client_revision":0}"#,
            r#"{"client_revision":4294967296}"#,
            r#"{"client_revision":123456789012345678901234567890}"#,
            r#"{"client_revision":12ab}"#,
            r#"{"client_revision":"12}"#,
            r#"{"client_revision":"#,
        ] {
            assert!(
                matches!(rev(bad), Err(WebVersionError::InvalidRevision)),
                "{bad}: {:?}",
                rev(bad)
            );
        }
    }

    #[test]
    fn repeated_values_must_agree() {
        assert_eq!(
            rev(r#"{"client_revision":7},{"client_revision":7}"#).unwrap(),
            7
        );
        assert!(matches!(
            rev(r#"{"client_revision":7},{\"client_revision\":8}"#),
            Err(WebVersionError::ConflictingRevisions {
                first: 7,
                second: 8
            })
        ));
        // A broken candidate next to a good one does not hide the good one.
        assert_eq!(
            rev(r#"{"client_revision":null},{"client_revision":9}"#).unwrap(),
            9
        );
    }

    #[test]
    fn every_truncation_and_byte_flip_is_handled_without_panic() {
        let js = br#"x=JSON.parse("{\"client_revision\":1045649367,\"a\":1}")"#;
        for end in 0..=js.len() {
            let _ = parse_sw_js(&js[..end]);
        }
        for i in 0..js.len() {
            for b in [0u8, b'"', b'\\', b':', b'9', 0xff] {
                let mut m = js.to_vec();
                m[i] = b;
                let _ = parse_sw_js(&m);
            }
        }
    }

    #[test]
    fn staleness() {
        let p = WebVersionPolicy::default();
        let stored = |at| StoredWebVersion {
            version: DEFAULT_APP_VERSION,
            fetched_at_ms: at,
        };
        let day = 24 * 60 * 60 * 1000;
        let now = 1_700_000_000_000;
        assert!(p.is_stale(None, now));
        assert!(p.is_stale(Some(&stored(0)), now));
        assert!(!p.is_stale(Some(&stored(now)), now));
        assert!(!p.is_stale(Some(&stored(now - day + 1)), now));
        assert!(p.is_stale(Some(&stored(now - day)), now));
        assert!(p.is_stale(Some(&stored(now + 1)), now));
        let short = p.clone().with_max_age(Duration::from_millis(10));
        assert!(short.is_stale(Some(&stored(now - 10)), now));
        assert!(!short.is_stale(Some(&stored(now - 9)), now));
    }

    #[test]
    fn unix_ms_conversion() {
        assert_eq!(unix_ms(UNIX_EPOCH + Duration::from_millis(1234)), 1234);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert!(now_unix_ms() > 1_600_000_000_000);
    }

    #[test]
    fn version_ordering() {
        let v = |p, s, t| AppVersion {
            primary: p,
            secondary: s,
            tertiary: t,
        };
        assert!(newer_or_equal(v(2, 3000, 5), v(2, 3000, 5)));
        assert!(newer_or_equal(v(2, 3000, 6), v(2, 3000, 5)));
        assert!(!newer_or_equal(v(2, 2999, 9), v(2, 3000, 1)));
        assert!(newer_or_equal(v(3, 0, 0), v(2, 3000, 1)));
    }
}
