//! The few protobuf messages the connection needs, written by hand with
//! `#[derive(prost::Message)]` (no build script, no `.proto` compilation).
//!
//! All of them are proto2: every scalar field is an `Option`, absent on the wire
//! when `None`, and prost generates a getter (`msg.field()`) that returns the
//! proto2 default for an absent field. Unknown fields (for example the
//! post-quantum handshake fields or newer `ClientPayload` fields left out here)
//! are skipped when decoding. Field numbers come from docs/protocol.md §2.6 and §3,
//! which were checked against two independent copies of WhatsApp's schema.
//!
//! Nested messages and enums live in snake_case modules named after their parent,
//! the way `prost-build` lays them out (`client_payload::UserAgent`,
//! `client_payload::user_agent::Platform`).
//!
//! | message | docs/protocol.md | used for |
//! |---|---|---|
//! | [`HandshakeMessage`] | §3.1 | the three Noise handshake messages |
//! | [`CertChain`] | §2.6 | the server certificate chain in the ServerHello |
//! | [`ClientPayload`] | §3.2, §3.4 | the login / registration payload in the ClientFinish |
//! | [`DeviceProps`] | §3.3 | the companion's description, inside the registration data |
//! | [`AdvSignedDeviceIdentityHmac`], [`AdvSignedDeviceIdentity`], [`AdvDeviceIdentity`] | §3.5 | pair-success |
//! | [`ClientPairingProps`] | §3.5 | `<client-props>` on pair-success |
//!
//! ```
//! use prost::Message;
//! use wa_core::proto::{HandshakeMessage, handshake_message::ClientHello};
//!
//! let msg = HandshakeMessage {
//!     client_hello: Some(ClientHello { ephemeral: Some(vec![7; 32]), ..Default::default() }),
//!     ..Default::default()
//! };
//! let bytes = msg.encode_to_vec();
//! assert_eq!(&bytes[..4], &[0x12, 0x22, 0x0A, 0x20]); // field 2, len 34; field 1, len 32
//! assert_eq!(HandshakeMessage::decode(&bytes[..])?, msg);
//! # Ok::<(), prost::DecodeError>(())
//! ```

/// The envelope of every Noise handshake message (docs/protocol.md §3.1). Exactly one
/// of the three fields is set; there is no field 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HandshakeMessage {
    /// Client → server, message 1.
    #[prost(message, optional, tag = "2")]
    pub client_hello: Option<handshake_message::ClientHello>,
    /// Server → client, message 2.
    #[prost(message, optional, tag = "3")]
    pub server_hello: Option<handshake_message::ServerHello>,
    /// Client → server, message 3.
    #[prost(message, optional, tag = "4")]
    pub client_finish: Option<handshake_message::ClientFinish>,
}

/// The parts of [`HandshakeMessage`].
pub mod handshake_message {
    /// Message 1: the client's ephemeral key (XX). `static` and `payload` are only
    /// used by the IK pattern (docs/protocol.md §2.4).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ClientHello {
        /// The client ephemeral public key, 32 bytes.
        #[prost(bytes = "vec", optional, tag = "1")]
        pub ephemeral: Option<Vec<u8>>,
        /// IK only: the encrypted client static key.
        #[prost(bytes = "vec", optional, tag = "2")]
        pub r#static: Option<Vec<u8>>,
        /// IK only: the encrypted ClientPayload.
        #[prost(bytes = "vec", optional, tag = "3")]
        pub payload: Option<Vec<u8>>,
    }

    /// Message 2: the server's ephemeral, its encrypted static key and the
    /// encrypted certificate chain.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServerHello {
        /// The server ephemeral public key, 32 bytes.
        #[prost(bytes = "vec", optional, tag = "1")]
        pub ephemeral: Option<Vec<u8>>,
        /// The server static public key, encrypted (32 + 16 bytes).
        #[prost(bytes = "vec", optional, tag = "2")]
        pub r#static: Option<Vec<u8>>,
        /// The encrypted [`CertChain`](crate::proto::CertChain).
        #[prost(bytes = "vec", optional, tag = "3")]
        pub payload: Option<Vec<u8>>,
    }

    /// Message 3: the client's encrypted static key and encrypted ClientPayload.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ClientFinish {
        /// The client static public key, encrypted (32 + 16 bytes).
        #[prost(bytes = "vec", optional, tag = "1")]
        pub r#static: Option<Vec<u8>>,
        /// The encrypted [`ClientPayload`](crate::proto::ClientPayload).
        #[prost(bytes = "vec", optional, tag = "2")]
        pub payload: Option<Vec<u8>>,
    }
}

/// The server certificate chain carried (encrypted) in the ServerHello payload
/// (docs/protocol.md §2.6). Verified by [`crate::cert`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct CertChain {
    /// The leaf certificate; its key is the server's Noise static key.
    #[prost(message, optional, tag = "1")]
    pub leaf: Option<cert_chain::NoiseCertificate>,
    /// The intermediate certificate, signed by the WhatsApp root key.
    #[prost(message, optional, tag = "2")]
    pub intermediate: Option<cert_chain::NoiseCertificate>,
}

/// The parts of [`CertChain`].
pub mod cert_chain {
    /// One certificate: serialized details and an XEdDSA signature over exactly
    /// those bytes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NoiseCertificate {
        /// A serialized [`noise_certificate::Details`]; the signature covers these
        /// raw bytes, so they are kept as bytes and decoded separately.
        #[prost(bytes = "vec", optional, tag = "1")]
        pub details: Option<Vec<u8>>,
        /// The 64-byte XEdDSA signature by the issuer.
        #[prost(bytes = "vec", optional, tag = "2")]
        pub signature: Option<Vec<u8>>,
    }

    /// The parts of [`NoiseCertificate`].
    pub mod noise_certificate {
        /// What a certificate says.
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Details {
            /// This certificate's serial number.
            #[prost(uint32, optional, tag = "1")]
            pub serial: Option<u32>,
            /// The issuer's serial number (0 for the root).
            #[prost(uint32, optional, tag = "2")]
            pub issuer_serial: Option<u32>,
            /// The certified X25519 public key, 32 bytes.
            #[prost(bytes = "vec", optional, tag = "3")]
            pub key: Option<Vec<u8>>,
            /// Start of validity, unix seconds.
            #[prost(uint64, optional, tag = "4")]
            pub not_before: Option<u64>,
            /// End of validity, unix seconds.
            #[prost(uint64, optional, tag = "5")]
            pub not_after: Option<u64>,
        }
    }
}

/// The login or registration payload, sent encrypted in the ClientFinish
/// (docs/protocol.md §3.2; what goes in it: §3.4).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientPayload {
    /// Login: the phone number (user part of the PN JID).
    #[prost(uint64, optional, tag = "1")]
    pub username: Option<u64>,
    /// Passive login: the server holds offline traffic until `<active/>`.
    #[prost(bool, optional, tag = "3")]
    pub passive: Option<bool>,
    /// Who is connecting.
    #[prost(message, optional, tag = "5")]
    pub user_agent: Option<client_payload::UserAgent>,
    /// Web clients only.
    #[prost(message, optional, tag = "6")]
    pub web_info: Option<client_payload::WebInfo>,
    /// The display name, if known.
    #[prost(string, optional, tag = "7")]
    pub push_name: Option<String>,
    /// A session id.
    #[prost(sfixed32, optional, tag = "9")]
    pub session_id: Option<i32>,
    /// Short connect.
    #[prost(bool, optional, tag = "10")]
    pub short_connect: Option<bool>,
    /// The network type, [`client_payload::ConnectType`].
    #[prost(enumeration = "client_payload::ConnectType", optional, tag = "12")]
    pub connect_type: Option<i32>,
    /// Why this connection is made, [`client_payload::ConnectReason`].
    #[prost(enumeration = "client_payload::ConnectReason", optional, tag = "13")]
    pub connect_reason: Option<i32>,
    /// Shards.
    #[prost(int32, repeated, packed = "false", tag = "14")]
    pub shards: Vec<i32>,
    /// How the server address was resolved.
    #[prost(message, optional, tag = "15")]
    pub dns_source: Option<client_payload::DnsSource>,
    /// How many connection attempts were made.
    #[prost(uint32, optional, tag = "16")]
    pub connect_attempt_count: Option<u32>,
    /// Login: the device id from the JID.
    #[prost(uint32, optional, tag = "18")]
    pub device: Option<u32>,
    /// Registration only: the new device's keys and properties.
    #[prost(message, optional, tag = "19")]
    pub device_pairing_data: Option<client_payload::DevicePairingRegistrationData>,
    /// Which product, [`client_payload::Product`].
    #[prost(enumeration = "client_payload::Product", optional, tag = "20")]
    pub product: Option<i32>,
    /// Not used by web clients.
    #[prost(bytes = "vec", optional, tag = "21")]
    pub fb_cat: Option<Vec<u8>>,
    /// Not used by web clients.
    #[prost(bytes = "vec", optional, tag = "22")]
    pub fb_user_agent: Option<Vec<u8>>,
    /// Not used by web clients.
    #[prost(bool, optional, tag = "23")]
    pub oc: Option<bool>,
    /// The login counter (docs/protocol.md §3.7).
    #[prost(int32, optional, tag = "24")]
    pub lc: Option<i32>,
    /// iOS only, [`client_payload::IosAppExtension`].
    #[prost(enumeration = "client_payload::IosAppExtension", optional, tag = "30")]
    pub ios_app_extension: Option<i32>,
    /// Not used by web clients.
    #[prost(uint64, optional, tag = "31")]
    pub fb_app_id: Option<u64>,
    /// Not used by web clients.
    #[prost(bytes = "vec", optional, tag = "32")]
    pub fb_device_id: Option<Vec<u8>>,
    /// Pull.
    #[prost(bool, optional, tag = "33")]
    pub pull: Option<bool>,
    /// Padding.
    #[prost(bytes = "vec", optional, tag = "34")]
    pub padding_bytes: Option<Vec<u8>>,
    /// Device year class.
    #[prost(int32, optional, tag = "36")]
    pub year_class: Option<i32>,
    /// Device memory class.
    #[prost(int32, optional, tag = "37")]
    pub mem_class: Option<i32>,
    /// [`client_payload::TrafficAnonymization`].
    #[prost(
        enumeration = "client_payload::TrafficAnonymization",
        optional,
        tag = "40"
    )]
    pub traffic_anonymization: Option<i32>,
    /// Whether the local chat database was migrated to LIDs.
    #[prost(bool, optional, tag = "41")]
    pub lid_db_migrated: Option<bool>,
    /// [`client_payload::AccountType`].
    #[prost(enumeration = "client_payload::AccountType", optional, tag = "42")]
    pub account_type: Option<i32>,
    /// Connection sequence info.
    #[prost(sfixed32, optional, tag = "43")]
    pub connection_sequence_info: Option<i32>,
    /// PAA link.
    #[prost(bool, optional, tag = "44")]
    pub paa_link: Option<bool>,
    /// Pre-ack count.
    #[prost(int32, optional, tag = "45")]
    pub preacks_count: Option<i32>,
    /// Processing queue size.
    #[prost(int32, optional, tag = "46")]
    pub processing_queue_size: Option<i32>,
    /// Paired peripherals.
    #[prost(string, repeated, tag = "47")]
    pub paired_peripherals: Vec<String>,
    /// Test isolation id.
    #[prost(bytes = "vec", optional, tag = "48")]
    pub test_isolation_id: Option<Vec<u8>>,
}

/// The parts of [`ClientPayload`].
pub mod client_payload {
    /// Who is connecting (docs/protocol.md §3.2).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UserAgent {
        /// [`user_agent::Platform`]; web clients send `Web` (14).
        #[prost(enumeration = "user_agent::Platform", optional, tag = "1")]
        pub platform: Option<i32>,
        /// The client version.
        #[prost(message, optional, tag = "2")]
        pub app_version: Option<user_agent::AppVersion>,
        /// Mobile country code ("000" for web).
        #[prost(string, optional, tag = "3")]
        pub mcc: Option<String>,
        /// Mobile network code ("000" for web).
        #[prost(string, optional, tag = "4")]
        pub mnc: Option<String>,
        /// OS version string.
        #[prost(string, optional, tag = "5")]
        pub os_version: Option<String>,
        /// Manufacturer.
        #[prost(string, optional, tag = "6")]
        pub manufacturer: Option<String>,
        /// Device ("Desktop" for web).
        #[prost(string, optional, tag = "7")]
        pub device: Option<String>,
        /// OS build number.
        #[prost(string, optional, tag = "8")]
        pub os_build_number: Option<String>,
        /// Phone id (never set by web clients).
        #[prost(string, optional, tag = "9")]
        pub phone_id: Option<String>,
        /// [`user_agent::ReleaseChannel`].
        #[prost(enumeration = "user_agent::ReleaseChannel", optional, tag = "10")]
        pub release_channel: Option<i32>,
        /// Language, ISO 639-1 ("en").
        #[prost(string, optional, tag = "11")]
        pub locale_language_iso6391: Option<String>,
        /// Country, ISO 3166-1 alpha-2 ("US").
        #[prost(string, optional, tag = "12")]
        pub locale_country_iso31661_alpha2: Option<String>,
        /// Device board.
        #[prost(string, optional, tag = "13")]
        pub device_board: Option<String>,
        /// Device experiment id.
        #[prost(string, optional, tag = "14")]
        pub device_exp_id: Option<String>,
        /// [`user_agent::DeviceType`].
        #[prost(enumeration = "user_agent::DeviceType", optional, tag = "15")]
        pub device_type: Option<i32>,
        /// Device model type.
        #[prost(string, optional, tag = "16")]
        pub device_model_type: Option<String>,
        /// [`user_agent::DistributionChannel`].
        #[prost(enumeration = "user_agent::DistributionChannel", optional, tag = "17")]
        pub distribution_channel: Option<i32>,
    }

    /// The parts of [`UserAgent`].
    pub mod user_agent {
        /// A version `primary.secondary.tertiary[.quaternary[.quinary]]`.
        #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
        pub struct AppVersion {
            /// e.g. 2.
            #[prost(uint32, optional, tag = "1")]
            pub primary: Option<u32>,
            /// e.g. 3000.
            #[prost(uint32, optional, tag = "2")]
            pub secondary: Option<u32>,
            /// e.g. 1045368834.
            #[prost(uint32, optional, tag = "3")]
            pub tertiary: Option<u32>,
            /// Fourth component.
            #[prost(uint32, optional, tag = "4")]
            pub quaternary: Option<u32>,
            /// Fifth component.
            #[prost(uint32, optional, tag = "5")]
            pub quinary: Option<u32>,
        }

        /// The client platform. Web companions send [`Platform::Web`].
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum Platform {
            Android = 0,
            Ios = 1,
            WindowsPhone = 2,
            Blackberry = 3,
            Blackberryx = 4,
            S40 = 5,
            S60 = 6,
            PythonClient = 7,
            Tizen = 8,
            Enterprise = 9,
            SmbAndroid = 10,
            Kaios = 11,
            SmbIos = 12,
            Windows = 13,
            Web = 14,
            Portal = 15,
            GreenAndroid = 16,
            GreenIphone = 17,
            BlueAndroid = 18,
            BlueIphone = 19,
            FbliteAndroid = 20,
            MliteAndroid = 21,
            IgliteAndroid = 22,
            Page = 23,
            Macos = 24,
            OculusMsg = 25,
            OculusCall = 26,
            Milan = 27,
            Capi = 28,
            Wearos = 29,
            Ardevice = 30,
            Vrdevice = 31,
            BlueWeb = 32,
            Ipad = 33,
            Test = 34,
            SmartGlasses = 35,
            BlueVr = 36,
            ArWrist = 37,
            Wail = 38,
        }

        /// The release channel; clients send [`ReleaseChannel::Release`].
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum ReleaseChannel {
            Release = 0,
            Beta = 1,
            Alpha = 2,
            Debug = 3,
        }

        /// The device form factor.
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum DeviceType {
            Phone = 0,
            Tablet = 1,
            Desktop = 2,
            Wearable = 3,
            Vr = 4,
        }

        /// How the client was distributed.
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum DistributionChannel {
            Appstore = 0,
            Website = 1,
            Testflight = 2,
            Internal = 3,
        }
    }

    /// Web-client details.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WebInfo {
        /// Reference token.
        #[prost(string, optional, tag = "1")]
        pub ref_token: Option<String>,
        /// Version string.
        #[prost(string, optional, tag = "2")]
        pub version: Option<String>,
        /// [`web_info::WebSubPlatform`]; browsers send `WebBrowser` (0).
        #[prost(enumeration = "web_info::WebSubPlatform", optional, tag = "4")]
        pub web_sub_platform: Option<i32>,
        /// Browser name.
        #[prost(string, optional, tag = "5")]
        pub browser: Option<String>,
        /// Browser version.
        #[prost(string, optional, tag = "6")]
        pub browser_version: Option<String>,
    }

    /// The parts of [`WebInfo`].
    pub mod web_info {
        /// Which kind of web client.
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum WebSubPlatform {
            WebBrowser = 0,
            AppStore = 1,
            WinStore = 2,
            Darwin = 3,
            Win32 = 4,
            WinHybrid = 5,
        }
    }

    /// How the server address was resolved.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct DnsSource {
        /// [`dns_source::DnsResolutionMethod`].
        #[prost(enumeration = "dns_source::DnsResolutionMethod", optional, tag = "15")]
        pub dns_method: Option<i32>,
        /// Whether the address came from the app's cache.
        #[prost(bool, optional, tag = "16")]
        pub app_cached: Option<bool>,
    }

    /// The parts of [`DnsSource`].
    pub mod dns_source {
        /// The resolver used.
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum DnsResolutionMethod {
            System = 0,
            Google = 1,
            Hardcoded = 2,
            Override = 3,
            Fallback = 4,
            Mns = 5,
            MnsSecondary = 6,
            SocksProxy = 7,
        }
    }

    /// Registration data for a new companion device (docs/protocol.md §3.2). Every
    /// field is raw bytes in the layout given there.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DevicePairingRegistrationData {
        /// Registration id, u32 big-endian (4 bytes).
        #[prost(bytes = "vec", optional, tag = "1")]
        pub e_regid: Option<Vec<u8>>,
        /// Key type, `[0x05]`.
        #[prost(bytes = "vec", optional, tag = "2")]
        pub e_keytype: Option<Vec<u8>>,
        /// Identity public key, 32 bytes.
        #[prost(bytes = "vec", optional, tag = "3")]
        pub e_ident: Option<Vec<u8>>,
        /// Signed-prekey id, 3 bytes big-endian.
        #[prost(bytes = "vec", optional, tag = "4")]
        pub e_skey_id: Option<Vec<u8>>,
        /// Signed-prekey public key, 32 bytes.
        #[prost(bytes = "vec", optional, tag = "5")]
        pub e_skey_val: Option<Vec<u8>>,
        /// XEdDSA signature by the identity key over `0x05 ‖ spk.pub`.
        #[prost(bytes = "vec", optional, tag = "6")]
        pub e_skey_sig: Option<Vec<u8>>,
        /// MD5 of `"<primary>.<secondary>.<tertiary>"` of the app version.
        #[prost(bytes = "vec", optional, tag = "7")]
        pub build_hash: Option<Vec<u8>>,
        /// A serialized [`DeviceProps`](crate::proto::DeviceProps).
        #[prost(bytes = "vec", optional, tag = "8")]
        pub device_props: Option<Vec<u8>>,
    }

    /// The network type; clients send [`ConnectType::WifiUnknown`].
    #[allow(missing_docs)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ConnectType {
        CellularUnknown = 0,
        WifiUnknown = 1,
        CellularEdge = 100,
        CellularIden = 101,
        CellularUmts = 102,
        CellularEvdo = 103,
        CellularGprs = 104,
        CellularHsdpa = 105,
        CellularHsupa = 106,
        CellularHspa = 107,
        CellularCdma = 108,
        Cellular1xrtt = 109,
        CellularEhrpd = 110,
        CellularLte = 111,
        CellularHspap = 112,
    }

    /// Why the client connects; clients send [`ConnectReason::UserActivated`].
    #[allow(missing_docs)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ConnectReason {
        Push = 0,
        UserActivated = 1,
        Scheduled = 2,
        ErrorReconnect = 3,
        NetworkSwitch = 4,
        PingReconnect = 5,
        Unknown = 6,
    }

    /// The product.
    #[allow(missing_docs)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Product {
        Whatsapp = 0,
        Messenger = 1,
        Interop = 2,
        InteropMsgr = 3,
        WhatsappLid = 4,
    }

    /// iOS app extensions.
    #[allow(missing_docs)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum IosAppExtension {
        ShareExtension = 0,
        ServiceExtension = 1,
        IntentsExtension = 2,
    }

    /// Traffic anonymization.
    #[allow(missing_docs)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum TrafficAnonymization {
        Off = 0,
        Standard = 1,
    }

    /// The account type.
    #[allow(missing_docs)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum AccountType {
        Default = 0,
        Guest = 1,
    }
}

/// The companion's description, serialized into
/// [`DevicePairingRegistrationData::device_props`](client_payload::DevicePairingRegistrationData::device_props)
/// (docs/protocol.md §3.3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceProps {
    /// The OS or client name shown on the phone.
    #[prost(string, optional, tag = "1")]
    pub os: Option<String>,
    /// The client version.
    #[prost(message, optional, tag = "2")]
    pub version: Option<device_props::AppVersion>,
    /// [`device_props::PlatformType`]; also picks the QR platform character.
    #[prost(enumeration = "device_props::PlatformType", optional, tag = "3")]
    pub platform_type: Option<i32>,
    /// Ask for a full history sync.
    #[prost(bool, optional, tag = "4")]
    pub require_full_sync: Option<bool>,
    /// History sync limits and capabilities.
    #[prost(message, optional, tag = "5")]
    pub history_sync_config: Option<device_props::HistorySyncConfig>,
}

/// The parts of [`DeviceProps`].
pub mod device_props {
    /// A version `primary.secondary.tertiary[.quaternary[.quinary]]`.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct AppVersion {
        /// First component.
        #[prost(uint32, optional, tag = "1")]
        pub primary: Option<u32>,
        /// Second component.
        #[prost(uint32, optional, tag = "2")]
        pub secondary: Option<u32>,
        /// Third component.
        #[prost(uint32, optional, tag = "3")]
        pub tertiary: Option<u32>,
        /// Fourth component.
        #[prost(uint32, optional, tag = "4")]
        pub quaternary: Option<u32>,
        /// Fifth component.
        #[prost(uint32, optional, tag = "5")]
        pub quinary: Option<u32>,
    }

    /// The companion's platform as the phone shows it.
    #[allow(missing_docs)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum PlatformType {
        Unknown = 0,
        Chrome = 1,
        Firefox = 2,
        Ie = 3,
        Opera = 4,
        Safari = 5,
        Edge = 6,
        Desktop = 7,
        Ipad = 8,
        AndroidTablet = 9,
        Ohana = 10,
        Aloha = 11,
        Catalina = 12,
        TclTv = 13,
        IosPhone = 14,
        IosCatalyst = 15,
        AndroidPhone = 16,
        AndroidAmbiguous = 17,
        WearOs = 18,
        ArWrist = 19,
        ArDevice = 20,
        Uwp = 21,
        Vr = 22,
        CloudApi = 23,
        Smartglasses = 24,
        Wail = 25,
    }

    /// History sync limits and capabilities (docs/protocol.md §3.3).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HistorySyncConfig {
        /// Days of full sync.
        #[prost(uint32, optional, tag = "1")]
        pub full_sync_days_limit: Option<u32>,
        /// Size limit of full sync, MB.
        #[prost(uint32, optional, tag = "2")]
        pub full_sync_size_mb_limit: Option<u32>,
        /// Storage quota, MB.
        #[prost(uint32, optional, tag = "3")]
        pub storage_quota_mb: Option<u32>,
        /// Inline the initial payload in the E2EE message.
        #[prost(bool, optional, tag = "4")]
        pub inline_initial_payload_in_e2_ee_msg: Option<bool>,
        /// Days of recent sync.
        #[prost(uint32, optional, tag = "5")]
        pub recent_sync_days_limit: Option<u32>,
        /// Capability flag.
        #[prost(bool, optional, tag = "6")]
        pub support_call_log_history: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "7")]
        pub support_bot_user_agent_chat_history: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "8")]
        pub support_cag_reactions_and_polls: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "9")]
        pub support_biz_hosted_msg: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "10")]
        pub support_recent_sync_chunk_message_count_tuning: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "11")]
        pub support_hosted_group_msg: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "12")]
        pub support_fbid_bot_chat_history: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "13")]
        pub support_add_on_history_sync_migration: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "14")]
        pub support_message_association: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "15")]
        pub support_group_history: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "16")]
        pub on_demand_ready: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "17")]
        pub support_guest_chat: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "18")]
        pub complete_on_demand_ready: Option<bool>,
        /// Days of thumbnail sync.
        #[prost(uint32, optional, tag = "19")]
        pub thumbnail_sync_days_limit: Option<u32>,
        /// Initial sync: messages per chat.
        #[prost(uint32, optional, tag = "20")]
        pub initial_sync_max_messages_per_chat: Option<u32>,
        /// Capability flag.
        #[prost(bool, optional, tag = "21")]
        pub support_manus_history: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "22")]
        pub support_hatch_history: Option<bool>,
        /// Supported bot channel FBIDs.
        #[prost(string, repeated, tag = "23")]
        pub supported_bot_channel_fbids: Vec<String>,
        /// Capability flag.
        #[prost(bool, optional, tag = "24")]
        pub support_inline_contacts: Option<bool>,
        /// Capability flag.
        #[prost(bool, optional, tag = "25")]
        pub support_newsletter: Option<bool>,
    }
}

/// Whether an account or device is end-to-end encrypted or hosted
/// (docs/protocol.md §3.5). `NonE2ee` is known to WR only.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AdvEncryptionType {
    E2ee = 0,
    Hosted = 1,
    NonE2ee = 2,
}

/// The HMAC-protected container of a signed device identity (pair-success).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvSignedDeviceIdentityHmac {
    /// A serialized [`AdvSignedDeviceIdentity`].
    #[prost(bytes = "vec", optional, tag = "1")]
    pub details: Option<Vec<u8>>,
    /// HMAC-SHA256 over the details (with a prefix when hosted).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub hmac: Option<Vec<u8>>,
    /// [`AdvEncryptionType`] of the account.
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "3")]
    pub account_type: Option<i32>,
}

/// A device identity signed by the account (primary phone) key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvSignedDeviceIdentity {
    /// A serialized [`AdvDeviceIdentity`].
    #[prost(bytes = "vec", optional, tag = "1")]
    pub details: Option<Vec<u8>>,
    /// The account's identity public key.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub account_signature_key: Option<Vec<u8>>,
    /// The account's XEdDSA signature.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub account_signature: Option<Vec<u8>>,
    /// The companion device's XEdDSA signature.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub device_signature: Option<Vec<u8>>,
}

/// What the account signs about a companion device.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct AdvDeviceIdentity {
    /// Raw id.
    #[prost(uint32, optional, tag = "1")]
    pub raw_id: Option<u32>,
    /// Unix seconds.
    #[prost(uint64, optional, tag = "2")]
    pub timestamp: Option<u64>,
    /// The key index of this device.
    #[prost(uint32, optional, tag = "3")]
    pub key_index: Option<u32>,
    /// [`AdvEncryptionType`] of the account.
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "4")]
    pub account_type: Option<i32>,
    /// [`AdvEncryptionType`] of the device.
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "5")]
    pub device_type: Option<i32>,
}

/// The list of valid key indexes of an account.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvKeyIndexList {
    /// Raw id.
    #[prost(uint32, optional, tag = "1")]
    pub raw_id: Option<u32>,
    /// Unix seconds.
    #[prost(uint64, optional, tag = "2")]
    pub timestamp: Option<u64>,
    /// The current key index.
    #[prost(uint32, optional, tag = "3")]
    pub current_index: Option<u32>,
    /// All valid key indexes (packed).
    #[prost(uint32, repeated, packed = "true", tag = "4")]
    pub valid_indexes: Vec<u32>,
    /// [`AdvEncryptionType`] of the account.
    #[prost(enumeration = "AdvEncryptionType", optional, tag = "5")]
    pub account_type: Option<i32>,
}

/// An [`AdvKeyIndexList`] signed by the account.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvSignedKeyIndexList {
    /// A serialized [`AdvKeyIndexList`].
    #[prost(bytes = "vec", optional, tag = "1")]
    pub details: Option<Vec<u8>>,
    /// The account's XEdDSA signature.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub account_signature: Option<Vec<u8>>,
    /// The account's identity public key.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub account_signature_key: Option<Vec<u8>>,
}

/// Properties the server sends in `<client-props>` on pair-success.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientPairingProps {
    /// Whether the phone's chat database is LID-migrated.
    #[prost(bool, optional, tag = "1")]
    pub is_chat_db_lid_migrated: Option<bool>,
    /// Whether app-state sync runs a pure LID session.
    #[prost(bool, optional, tag = "2")]
    pub is_syncd_pure_lid_session: Option<bool>,
    /// Whether snapshot recovery is enabled.
    #[prost(bool, optional, tag = "3")]
    pub is_syncd_snapshot_recovery_enabled: Option<bool>,
    /// Whether history-sync thumbnails are enabled.
    #[prost(bool, optional, tag = "4")]
    pub is_hs_thumbnail_sync_enabled: Option<bool>,
    /// Subscription sync payload.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub subscription_sync_payload: Option<Vec<u8>>,
}
