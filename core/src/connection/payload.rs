//! The ClientPayload sent in the ClientFinish: login for a linked device,
//! registration for a fresh one (docs/protocol.md §3.2–3.4).

use md5::{Digest, Md5};
use prost::Message as _;

use crate::binary::{Jid, Server};
use crate::keys::DJB_KEY_TYPE;
use crate::proto::ClientPayload;
use crate::proto::client_payload::{
    ConnectType, DevicePairingRegistrationData, UserAgent, WebInfo, user_agent, web_info,
};
use crate::store::{AppVersion, Device};

use super::config::ClientProfile;
use super::error::ConfigError;

/// The ClientPayload for `device`: the login payload when the device is
/// registered ([`Device::is_registered`]), the registration payload otherwise.
///
/// - Login: the common base plus `username` and `device` from `Device::pn`,
///   `passive` from the profile, `pull = true`, `lc = Device::login_counter`,
///   `lidDbMigrated = Device::lid_migrated`.
/// - Registration: the common base plus `passive = false`, `pull = false`,
///   `pushName` if the device has one, and `devicePairingData` (`eRegid` as 4
///   bytes BE, `eKeytype = [5]`, `eIdent`, `eSkeyId` as 3 bytes BE, `eSkeyVal`,
///   `eSkeySig`, `buildHash`, the serialized DeviceProps).
///
/// The app version is `Device::app_version` if set, else the profile's.
pub fn client_payload(
    profile: &ClientProfile,
    device: &Device,
) -> Result<ClientPayload, ConfigError> {
    let version = device.app_version.unwrap_or(profile.app_version);
    let mut payload = ClientPayload {
        user_agent: Some(user_agent(profile, version)),
        web_info: Some(WebInfo {
            web_sub_platform: Some(web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(profile.connect_reason as i32),
        ..Default::default()
    };
    match &device.pn {
        Some(pn) => {
            let (username, device_id) = login_identity(pn)?;
            payload.username = Some(username);
            payload.device = Some(device_id);
            payload.passive = Some(profile.passive_login);
            payload.pull = Some(true);
            payload.lc = Some(device.login_counter);
            payload.lid_db_migrated = Some(device.lid_migrated);
        }
        None => {
            payload.passive = Some(false);
            payload.pull = Some(false);
            if !device.push_name.is_empty() {
                payload.push_name = Some(device.push_name.clone());
            }
            payload.device_pairing_data = Some(registration_data(profile, device, version)?);
        }
    }
    Ok(payload)
}

/// `(username, device)` from a PN JID such as `5511987650001:7@s.whatsapp.net`.
fn login_identity(jid: &Jid) -> Result<(u64, u32), ConfigError> {
    let invalid = || ConfigError::InvalidPn(jid.to_string());
    if jid.server() != Server::Pn {
        return Err(invalid());
    }
    let username = jid.user().parse().map_err(|_| invalid())?;
    Ok((username, u32::from(jid.device())))
}

fn user_agent(profile: &ClientProfile, version: AppVersion) -> UserAgent {
    UserAgent {
        platform: Some(profile.platform as i32),
        app_version: Some(user_agent::AppVersion {
            primary: Some(version.primary),
            secondary: Some(version.secondary),
            tertiary: Some(version.tertiary),
            quaternary: None,
            quinary: None,
        }),
        mcc: Some("000".to_owned()),
        mnc: Some("000".to_owned()),
        os_version: Some(profile.os_version.clone()),
        manufacturer: Some(profile.manufacturer.clone()),
        device: Some(profile.device.clone()),
        os_build_number: Some(profile.os_build_number.clone()),
        release_channel: Some(profile.release_channel as i32),
        locale_language_iso6391: Some(profile.locale_language.clone()),
        locale_country_iso31661_alpha2: Some(profile.locale_country.clone()),
        ..Default::default()
    }
}

fn registration_data(
    profile: &ClientProfile,
    device: &Device,
    version: AppVersion,
) -> Result<DevicePairingRegistrationData, ConfigError> {
    let skey_id = device.signed_pre_key_id;
    if skey_id > 0xFF_FFFF {
        return Err(ConfigError::SignedPreKeyId(skey_id));
    }
    let [_, a, b, c] = skey_id.to_be_bytes();
    Ok(DevicePairingRegistrationData {
        e_regid: Some(device.registration_id.to_be_bytes().to_vec()),
        e_keytype: Some(vec![DJB_KEY_TYPE]),
        e_ident: Some(device.identity_key.public.to_vec()),
        e_skey_id: Some(vec![a, b, c]),
        e_skey_val: Some(device.signed_pre_key.public.to_vec()),
        e_skey_sig: Some(device.signed_pre_key_signature.to_vec()),
        build_hash: Some(build_hash(version).to_vec()),
        device_props: Some(profile.device_props.encode_to_vec()),
    })
}

/// `buildHash`: MD5 of `"<primary>.<secondary>.<tertiary>"` (docs/protocol.md §3.2).
pub fn build_hash(version: AppVersion) -> [u8; 16] {
    let text = format!(
        "{}.{}.{}",
        version.primary, version.secondary, version.tertiary
    );
    Md5::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_hash_is_md5_of_the_dotted_version() {
        // RFC 1321 test suite value for "abc" checks the MD5 wiring itself...
        assert_eq!(
            <[u8; 16]>::from(Md5::digest(b"abc")),
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
        // ...and the version string is "2.3000.1" (no trailing components).
        let v = AppVersion {
            primary: 2,
            secondary: 3000,
            tertiary: 1,
        };
        assert_eq!(build_hash(v), <[u8; 16]>::from(Md5::digest(b"2.3000.1")));
    }

    #[test]
    fn login_identity_reads_user_and_device() {
        let jid = |s: &str| s.parse::<Jid>().unwrap();
        assert_eq!(
            login_identity(&jid("5511987650001:7@s.whatsapp.net")).unwrap(),
            (5_511_987_650_001, 7)
        );
        assert_eq!(
            login_identity(&jid("123@s.whatsapp.net")).unwrap(),
            (123, 0)
        );
        for bad in ["abc@s.whatsapp.net", "123@lid", "123:7@g.us"] {
            assert_eq!(
                login_identity(&jid(bad)),
                Err(ConfigError::InvalidPn(jid(bad).to_string())),
                "{bad}"
            );
        }
    }
}
