//! [`Config`]: everything a [`Connection`](super::Connection) needs besides the
//! device, with the defaults and the reasons for them.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::cert::WA_ROOT_PUBLIC_KEY;
use crate::pair::PairingOptions;
use crate::proto::DeviceProps;
use crate::proto::client_payload::ConnectReason;
use crate::proto::client_payload::user_agent::{Platform, ReleaseChannel};
use crate::proto::device_props::{self, HistorySyncConfig, PlatformType};
use crate::store::AppVersion;

/// How long the server has to complete the handshake: the Noise response wait
/// of every reference client (docs/protocol.md §1.1), here also covering the login
/// answer after the ClientFinish (`<success>`, `<failure>` or a pairing
/// stanza).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long [`Connection::logout`](super::Connection::logout) waits for the
/// server to confirm the removal.
pub const LOGOUT_TIMEOUT: Duration = Duration::from_secs(20);

/// Default timeout of an IQ request: 75 s, as whatsapp-rust and whatsmeow
/// (docs/protocol.md §5.2).
pub const DEFAULT_IQ_TIMEOUT: Duration = Duration::from_secs(75);

/// Shortest keepalive interval: WA Web's `healthCheckInterval` is
/// 15 s · (1 + random), so 15–30 s (docs/protocol.md §5.3, whatsapp-rust).
pub const KEEPALIVE_INTERVAL_MIN: Duration = Duration::from_secs(15);

/// Longest keepalive interval (see [`KEEPALIVE_INTERVAL_MIN`]).
pub const KEEPALIVE_INTERVAL_MAX: Duration = Duration::from_secs(30);

/// How long an outstanding keepalive ping may go with nothing at all received
/// before the connection is declared dead: 20 s (whatsapp-rust's response
/// deadline and WA Web's `deadSocketTime`).
pub const KEEPALIVE_DEADLINE: Duration = Duration::from_secs(20);

/// How long a keepalive ping may stay unanswered, whatever else arrives,
/// before the connection is declared dead: 60 s (three deadlines; see the
/// [`keepalive`](super::keepalive) module).
pub const KEEPALIVE_HARD_LIMIT: Duration = Duration::from_secs(60);

/// The dead-socket rule: when nothing has been received for this long after
/// the first send that followed the last receive, probe with a keepalive ping
/// right away instead of waiting for the interval (docs/protocol.md §5.3).
pub const DEAD_SOCKET_TIMEOUT: Duration = Duration::from_secs(20);

/// The default WhatsApp Web version announced: whatsmeow's
/// `2.3000.1045649367`, the newest of the three reference defaults
/// (docs/protocol.md §3.4). A version that is too old gets `<failure reason="405">`;
/// a driver may fetch a current one and store it in `Device::app_version`,
/// which takes precedence.
pub const DEFAULT_APP_VERSION: AppVersion = AppVersion {
    primary: 2,
    secondary: 3000,
    tertiary: 1_045_649_367,
};

/// Configuration of one connection. Build it with [`Config::new`] and set the
/// public fields; the type is `#[non_exhaustive]` so fields can be added.
///
/// `Debug` does not print the RNG seed.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Seed of the connection's ChaCha20 CSPRNG (ephemeral keys, IQ id prefix,
    /// keepalive jitter). Required: the driver fills it from the OS random
    /// source, tests pass a constant. Same seed and same inputs give the same
    /// bytes on the wire. Never reuse a seed for two real connections: the
    /// ephemeral key would repeat.
    pub rng_seed: [u8; 32],
    /// The wall-clock time at the `now` given to
    /// [`Connection::new`](super::Connection::new); later wall-clock times are
    /// derived from the monotonic clock (and can be corrected with
    /// [`Connection::set_wall_clock`](super::Connection::set_wall_clock)). Used
    /// for the certificate validity window.
    pub wall_clock: SystemTime,
    /// The key the server certificate chain must be signed with:
    /// [`WA_ROOT_PUBLIC_KEY`] by default, a test root for a test server. There
    /// is no way to skip verification.
    pub trusted_root: [u8; 32],
    /// See [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// See [`KEEPALIVE_INTERVAL_MIN`]; the interval is drawn uniformly from
    /// `[keepalive_interval_min, keepalive_interval_max]` after every ping.
    pub keepalive_interval_min: Duration,
    /// See [`KEEPALIVE_INTERVAL_MAX`].
    pub keepalive_interval_max: Duration,
    /// See [`KEEPALIVE_DEADLINE`].
    pub keepalive_deadline: Duration,
    /// See [`KEEPALIVE_HARD_LIMIT`].
    pub keepalive_hard_limit: Duration,
    /// See [`DEAD_SOCKET_TIMEOUT`].
    pub dead_socket_timeout: Duration,
    /// What the ClientPayload says about this client.
    pub profile: ClientProfile,
    /// QR and pair-code options (docs/protocol.md §6); see [`PairingOptions`].
    pub pairing: PairingOptions,
}

impl Config {
    /// A configuration with the given RNG seed and wall-clock time, the real
    /// WhatsApp root, and the default timings and profile.
    pub fn new(rng_seed: [u8; 32], wall_clock: SystemTime) -> Config {
        Config {
            rng_seed,
            wall_clock,
            trusted_root: WA_ROOT_PUBLIC_KEY,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            keepalive_interval_min: KEEPALIVE_INTERVAL_MIN,
            keepalive_interval_max: KEEPALIVE_INTERVAL_MAX,
            keepalive_deadline: KEEPALIVE_DEADLINE,
            keepalive_hard_limit: KEEPALIVE_HARD_LIMIT,
            dead_socket_timeout: DEAD_SOCKET_TIMEOUT,
            profile: ClientProfile::default(),
            pairing: PairingOptions::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("rng_seed", &"<redacted>")
            .field("wall_clock", &self.wall_clock)
            .field("trusted_root", &crate::keys::Hex(&self.trusted_root))
            .field("handshake_timeout", &self.handshake_timeout)
            .field("keepalive_interval_min", &self.keepalive_interval_min)
            .field("keepalive_interval_max", &self.keepalive_interval_max)
            .field("keepalive_deadline", &self.keepalive_deadline)
            .field("keepalive_hard_limit", &self.keepalive_hard_limit)
            .field("dead_socket_timeout", &self.dead_socket_timeout)
            .field("profile", &self.profile)
            .field("pairing", &self.pairing)
            .finish()
    }
}

/// The client description sent in every ClientPayload (docs/protocol.md §3.4).
///
/// Defaults follow the common base of the three reference clients — platform
/// WEB, release channel RELEASE, mcc/mnc `"000"`, device `"Desktop"`, locale
/// en-US, WEB_BROWSER sub-platform, WIFI_UNKNOWN, USER_ACTIVATED — and, where
/// they disagree (docs/protocol.md §8):
///
/// - **passive** (row 4): `false`, WA Web's own default (whatsapp-rust).
///   With `true` the server holds offline traffic until the client sends
///   `<iq xmlns="passive" type="set"><active/></iq>`, which this core does not
///   send by itself; `false` cannot strand the offline queue.
/// - **lc** (row 4): the device's persisted `login_counter`, always sent
///   (whatsapp-rust mirrors WA Web's `getLoginCounter`).
/// - **lidDbMigrated** (row 4): the device's persisted `lid_migrated`, i.e.
///   what the phone reported at pairing, rather than a constant.
/// - **osVersion / osBuildNumber** (row 5): `"0.1"` (whatsmeow, Baileys).
/// - **DeviceProps** (row 6): os `"wa"`, version 0.1.0, platform UNKNOWN,
///   no full sync, storage quota 10 240 MB and 60 days of thumbnails
///   (whatsmeow's values; advertising support flags for history features this
///   crate does not implement would invite payloads it cannot use).
/// - **app version** (row 7): [`DEFAULT_APP_VERSION`].
/// - no `phoneId` (whatsapp-rust: a per-build random id looked like a
///   rotating fingerprint).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientProfile {
    /// The announced version, unless the device stores one.
    pub app_version: AppVersion,
    /// `UserAgent.platform`.
    pub platform: Platform,
    /// `UserAgent.releaseChannel`.
    pub release_channel: ReleaseChannel,
    /// `UserAgent.osVersion`.
    pub os_version: String,
    /// `UserAgent.osBuildNumber`.
    pub os_build_number: String,
    /// `UserAgent.manufacturer`.
    pub manufacturer: String,
    /// `UserAgent.device`.
    pub device: String,
    /// `UserAgent.localeLanguageIso6391`.
    pub locale_language: String,
    /// `UserAgent.localeCountryIso31661Alpha2`.
    pub locale_country: String,
    /// `ClientPayload.passive` on login (see above).
    pub passive_login: bool,
    /// `ClientPayload.connectReason`; a driver may say `ErrorReconnect` on a
    /// reconnect.
    pub connect_reason: ConnectReason,
    /// The DeviceProps sent at registration (they name the device on the
    /// phone's list of linked devices).
    pub device_props: DeviceProps,
}

impl Default for ClientProfile {
    fn default() -> ClientProfile {
        ClientProfile {
            app_version: DEFAULT_APP_VERSION,
            platform: Platform::Web,
            release_channel: ReleaseChannel::Release,
            os_version: "0.1".to_owned(),
            os_build_number: "0.1".to_owned(),
            manufacturer: String::new(),
            device: "Desktop".to_owned(),
            locale_language: "en".to_owned(),
            locale_country: "US".to_owned(),
            passive_login: false,
            connect_reason: ConnectReason::UserActivated,
            device_props: DeviceProps {
                os: Some("wa".to_owned()),
                version: Some(device_props::AppVersion {
                    primary: Some(0),
                    secondary: Some(1),
                    tertiary: Some(0),
                    quaternary: None,
                    quinary: None,
                }),
                platform_type: Some(PlatformType::Unknown as i32),
                require_full_sync: Some(false),
                history_sync_config: Some(HistorySyncConfig {
                    storage_quota_mb: Some(10_240),
                    thumbnail_sync_days_limit: Some(60),
                    ..Default::default()
                }),
            },
        }
    }
}
