//! The Signal address of a device, as store keys use it.
//!
//! One scheme, the one whatsapp-rust's stores use so their data can be imported:
//! `user[:device]@server.0`, where the server of phone-number JIDs
//! (`s.whatsapp.net`) is written `c.us`, LID JIDs keep `lid`, the device is
//! omitted when it is 0, and the trailing `.0` is Signal's device id (always 0:
//! WhatsApp's device number lives in the name). Sender keys are stored under
//! `group@g.us:` followed by the sender's address.

use std::fmt;

use crate::binary::{Jid, Server};

/// The Signal address of one device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalAddress(String);

impl SignalAddress {
    /// The address of the device `jid` (agent and integrator parts ignored).
    pub fn of(jid: &Jid) -> Self {
        let server = match jid.server() {
            Server::Pn => "c.us",
            other => other.as_str(),
        };
        let name = if jid.device() == 0 {
            format!("{}@{server}.0", jid.user())
        } else {
            format!("{}:{}@{server}.0", jid.user(), jid.device())
        };
        SignalAddress(name)
    }

    /// The address as a store key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store key of the sender key of `sender` in `group`.
    pub fn sender_key_name(group: &Jid, sender: &Jid) -> String {
        format!("{}:{}", group.to_non_ad(), SignalAddress::of(sender))
    }
}

impl fmt::Display for SignalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_documented_scheme() {
        let pn = Jid::pn("559999999999");
        assert_eq!(SignalAddress::of(&pn).as_str(), "559999999999@c.us.0");
        assert_eq!(
            SignalAddress::of(&pn.clone().with_device(33)).as_str(),
            "559999999999:33@c.us.0"
        );
        let lid = Jid::lid("123456789").with_device(2);
        assert_eq!(SignalAddress::of(&lid).as_str(), "123456789:2@lid.0");
        let group = Jid::group("120363000000000001");
        assert_eq!(
            SignalAddress::sender_key_name(&group, &pn.with_device(3)),
            "120363000000000001@g.us:559999999999:3@c.us.0"
        );
    }
}
