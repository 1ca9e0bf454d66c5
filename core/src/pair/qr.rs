//! The QR string a phone scans to link a companion (docs/protocol.md §6.1).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::proto::device_props::PlatformType;
use crate::store::Device;

/// The native-camera deep link whatsmeow and Baileys put in front of the QR
/// fields (docs/protocol.md §8 row 12); see
/// [`PairingOptions::qr_deep_link`](super::PairingOptions::qr_deep_link).
pub const QR_DEEP_LINK_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// How long the first ref's QR is shown (docs/protocol.md §6.1 step 6).
pub const FIRST_QR_TTL: Duration = Duration::from_secs(60);

/// How long every later ref's QR is shown.
pub const NEXT_QR_TTL: Duration = Duration::from_secs(20);

/// Length of a base64 (standard alphabet, padded) 32-byte key.
const B64_KEY_LEN: usize = 44;

/// The companion platform character of the QR string and of the pair-code
/// `companion_platform_id` (docs/protocol.md §6.1): `1` Chrome, `2` Edge,
/// `3` Firefox, `4` IE, `5` Opera, `6` Safari, `7` Electron (`DESKTOP`),
/// `8` UWP, and `9` ("other web client") for everything else, `UNKNOWN`
/// included — whatsapp-rust avoids `0`, which the server is reported to refuse.
pub fn platform_id(platform: Option<PlatformType>) -> char {
    match platform {
        Some(PlatformType::Chrome) => '1',
        Some(PlatformType::Edge) => '2',
        Some(PlatformType::Firefox) => '3',
        Some(PlatformType::Ie) => '4',
        Some(PlatformType::Opera) => '5',
        Some(PlatformType::Safari) => '6',
        Some(PlatformType::Desktop) => '7',
        Some(PlatformType::Uwp) => '8',
        _ => '9',
    }
}

/// The browser named in the pair-code display for a platform: the six
/// browsers WA Web names, `"Chrome"` for everything else.
pub fn browser_name(platform: Option<PlatformType>) -> &'static str {
    match platform {
        Some(PlatformType::Edge) => "Edge",
        Some(PlatformType::Firefox) => "Firefox",
        Some(PlatformType::Ie) => "IE",
        Some(PlatformType::Opera) => "Opera",
        Some(PlatformType::Safari) => "Safari",
        _ => "Chrome",
    }
}

/// The pair-code `companion_platform_display`, `"Browser (OS)"` (docs/protocol.md
/// §6.3 step 5), e.g. `"Chrome (Linux)"`. An empty `os` becomes `"Linux"`.
pub fn platform_display(platform: Option<PlatformType>, os: &str) -> String {
    let os = os.trim();
    let os = if os.is_empty() { "Linux" } else { os };
    format!("{} ({os})", browser_name(platform))
}

/// A QR string ready to render. It embeds the ADV secret, so `Debug` does not
/// print it; read it with [`as_str`](Self::as_str).
#[derive(Clone, PartialEq, Eq)]
pub struct QrCode(String);

impl QrCode {
    /// The string to encode in the QR symbol.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The string, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for QrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QrCode(<redacted>)")
    }
}

/// The five fields of a QR string: `ref , base64(noise.pub) ,
/// base64(identity.pub) , base64(adv_secret) , platform`, base64 being the
/// standard alphabet with padding.
///
/// ```
/// use wa_core::pair::{QrData, QR_DEEP_LINK_PREFIX};
///
/// let data = QrData {
///     pairing_ref: "2@abc".to_owned(),
///     noise_public: [1; 32],
///     identity_public: [2; 32],
///     adv_secret: [3; 32],
///     platform: '9',
/// };
/// let bare = data.encode(false);
/// assert!(bare.as_str().starts_with("2@abc,AQEB"));
/// assert!(bare.as_str().ends_with(",9"));
/// let linked = data.encode(true);
/// assert_eq!(linked.as_str(), format!("{QR_DEEP_LINK_PREFIX}{}", bare.as_str()));
/// assert_eq!(QrData::parse(linked.as_str()), Ok(data));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct QrData {
    /// The server's ref, as text.
    pub pairing_ref: String,
    /// The companion's Noise static public key.
    pub noise_public: [u8; 32],
    /// The companion's identity public key.
    pub identity_public: [u8; 32],
    /// The ADV secret that will key the pair-success HMAC. Secret.
    pub adv_secret: [u8; 32],
    /// The platform character (one per platform type; see `platform_id`).
    pub platform: char,
}

impl QrData {
    /// The QR fields for `device` and one server ref.
    pub fn for_device(pairing_ref: &str, device: &Device, platform: char) -> QrData {
        QrData {
            pairing_ref: pairing_ref.to_owned(),
            noise_public: device.noise_key.public,
            identity_public: device.identity_key.public,
            adv_secret: device.adv_secret_key,
            platform,
        }
    }

    /// The QR string, with [`QR_DEEP_LINK_PREFIX`] in front when `deep_link`.
    pub fn encode(&self, deep_link: bool) -> QrCode {
        let prefix = if deep_link { QR_DEEP_LINK_PREFIX } else { "" };
        QrCode(format!(
            "{prefix}{},{},{},{},{}",
            self.pairing_ref,
            STANDARD.encode(self.noise_public),
            STANDARD.encode(self.identity_public),
            STANDARD.encode(self.adv_secret),
            self.platform,
        ))
    }

    /// Reads a QR string, with or without [`QR_DEEP_LINK_PREFIX`] (what a
    /// phone does when it scans).
    pub fn parse(text: &str) -> Result<QrData, QrParseError> {
        let text = text.strip_prefix(QR_DEEP_LINK_PREFIX).unwrap_or(text);
        let mut fields = text.split(',');
        let (Some(pairing_ref), Some(noise), Some(identity), Some(adv), Some(platform), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(QrParseError::FieldCount);
        };
        if pairing_ref.is_empty() {
            return Err(QrParseError::EmptyRef);
        }
        let mut chars = platform.chars();
        let (Some(platform), None) = (chars.next(), chars.next()) else {
            return Err(QrParseError::Platform);
        };
        if !platform.is_ascii_alphanumeric() {
            return Err(QrParseError::Platform);
        }
        Ok(QrData {
            pairing_ref: pairing_ref.to_owned(),
            noise_public: decode_key(noise, "noise key")?,
            identity_public: decode_key(identity, "identity key")?,
            adv_secret: decode_key(adv, "adv secret")?,
            platform,
        })
    }
}

fn decode_key(field: &str, name: &'static str) -> Result<[u8; 32], QrParseError> {
    if field.len() != B64_KEY_LEN {
        return Err(QrParseError::Key(name));
    }
    let bytes = STANDARD
        .decode(field)
        .map_err(|_| QrParseError::Key(name))?;
    bytes.try_into().map_err(|_| QrParseError::Key(name))
}

impl fmt::Debug for QrData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrData")
            .field("pairing_ref", &self.pairing_ref)
            .field("noise_public", &crate::keys::Hex(&self.noise_public))
            .field("identity_public", &crate::keys::Hex(&self.identity_public))
            .field("adv_secret", &"<redacted>")
            .field("platform", &self.platform)
            .finish()
    }
}

/// Why a QR string was refused by [`QrData::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrParseError {
    /// Not exactly five comma-separated fields.
    #[error("qr string does not have five fields")]
    FieldCount,
    /// The ref is empty.
    #[error("qr ref is empty")]
    EmptyRef,
    /// A key field is not base64 of 32 bytes.
    #[error("qr {0} is not base64 of 32 bytes")]
    Key(&'static str),
    /// The platform is not a single letter or digit.
    #[error("qr platform is not one character")]
    Platform,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_ids_follow_the_companion_web_client_codes() {
        let cases = [
            (Some(PlatformType::Chrome), '1'),
            (Some(PlatformType::Edge), '2'),
            (Some(PlatformType::Firefox), '3'),
            (Some(PlatformType::Ie), '4'),
            (Some(PlatformType::Opera), '5'),
            (Some(PlatformType::Safari), '6'),
            (Some(PlatformType::Desktop), '7'),
            (Some(PlatformType::Uwp), '8'),
            (Some(PlatformType::Unknown), '9'),
            (Some(PlatformType::IosPhone), '9'),
            (None, '9'),
        ];
        for (platform, id) in cases {
            assert_eq!(platform_id(platform), id, "{platform:?}");
        }
        assert_eq!(
            platform_display(Some(PlatformType::Firefox), " "),
            "Firefox (Linux)"
        );
        assert_eq!(platform_display(None, "Windows"), "Chrome (Windows)");
    }

    #[test]
    fn parse_refuses_malformed_strings() {
        let good = QrData {
            pairing_ref: "r".to_owned(),
            noise_public: [1; 32],
            identity_public: [2; 32],
            adv_secret: [3; 32],
            platform: '1',
        }
        .encode(false)
        .into_string();
        assert!(QrData::parse(&good).is_ok());
        let fields: Vec<&str> = good.split(',').collect();
        let with = |i: usize, v: &str| {
            let mut f = fields.clone();
            f[i] = v;
            f.join(",")
        };
        assert_eq!(
            QrData::parse(&fields[..4].join(",")),
            Err(QrParseError::FieldCount)
        );
        assert_eq!(
            QrData::parse(&format!("{good},x")),
            Err(QrParseError::FieldCount)
        );
        assert_eq!(QrData::parse(&with(0, "")), Err(QrParseError::EmptyRef));
        assert_eq!(
            QrData::parse(&with(1, &STANDARD.encode([1u8; 31]))),
            Err(QrParseError::Key("noise key"))
        );
        assert_eq!(
            QrData::parse(&with(3, &"!".repeat(44))),
            Err(QrParseError::Key("adv secret"))
        );
        assert_eq!(QrData::parse(&with(4, "12")), Err(QrParseError::Platform));
        assert_eq!(QrData::parse(&with(4, "")), Err(QrParseError::Platform));
    }
}
