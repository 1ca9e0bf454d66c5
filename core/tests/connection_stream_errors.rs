//! `<failure>`, `<stream:error>`, `<xmlstreamend/>` and local ends, each mapped
//! to a typed reason with the right reconnect and logout flags (docs/protocol.md
//! §5.1, §7).

mod connection_support;

use wa_core::binary::Node;
use wa_core::connection::{DisconnectReason, Event, FailureReason, LoginFailure, StreamError};
use wa_core::testing::{Harness, LoginReply, TestServer, registered_device};

use connection_support::{logged_in_pair, secs, single_disconnect};

/// Sends `stanza` to a logged-in client and returns the single disconnect.
fn end_with(stanza: Node) -> (DisconnectReason, bool, bool) {
    let mut pair = logged_in_pair(1);
    pair.server.send_node(&stanza);
    pair.drive();
    let result = single_disconnect(pair.events());
    // Later input is ignored: more stanzas, pings, time.
    let before = pair.events().len();
    pair.server
        .send_node(&Node::new("message").with_attr("id", "late"));
    pair.server.send_ping();
    pair.advance(secs(600));
    assert_eq!(
        pair.events().len(),
        before,
        "input after the end was not ignored"
    );
    assert_eq!(pair.client.poll_timeout(), None);
    assert!(
        pair.client.poll_transmit().is_none(),
        "answered after the end"
    );
    result
}

fn stream_error(code: Option<&str>, child: Option<Node>) -> Node {
    let mut node = Node::new("stream:error");
    if let Some(code) = code {
        node = node.with_attr("code", code);
    }
    if let Some(child) = child {
        node = node.with_children([child]);
    }
    node
}

#[test]
fn each_stream_error_is_mapped() {
    let conflict = |ty: &str| Some(Node::new("conflict").with_attr("type", ty));
    // (code, child, expected error, reconnect, logged out)
    type Case<'a> = (Option<&'a str>, Option<Node>, StreamError, bool, bool);
    let cases: Vec<Case> = vec![
        (Some("515"), None, StreamError::RestartRequired, true, false),
        (
            None,
            conflict("replaced"),
            StreamError::Replaced,
            false,
            false,
        ),
        (
            Some("401"),
            conflict("device_removed"),
            StreamError::DeviceRemoved,
            false,
            true,
        ),
        (
            None,
            conflict("device_removed"),
            StreamError::DeviceRemoved,
            false,
            true,
        ),
        (Some("401"), None, StreamError::DeviceRemoved, false, true),
        (Some("516"), None, StreamError::DeviceRemoved, false, true),
        (Some("409"), None, StreamError::Replaced, false, false),
        (
            Some("503"),
            None,
            StreamError::ServiceUnavailable,
            true,
            false,
        ),
        (Some("429"), None, StreamError::RateLimited, true, false),
        (
            None,
            Some(Node::new("xml-not-well-formed")),
            StreamError::XmlNotWellFormed,
            true,
            false,
        ),
        (
            None,
            Some(
                Node::new("ack")
                    .with_attr("id", "A1")
                    .with_attr("class", "message"),
            ),
            StreamError::AckRequired {
                id: Some("A1".into()),
                class: Some("message".into()),
            },
            true,
            false,
        ),
        (
            Some("999"),
            Some(Node::new("odd")),
            StreamError::Other {
                code: Some("999".into()),
                child: Some("odd".into()),
            },
            true,
            false,
        ),
        (
            None,
            None,
            StreamError::Other {
                code: None,
                child: None,
            },
            true,
            false,
        ),
    ];
    for (code, child, expected, reconnect, logged_out) in cases {
        let label = format!("{code:?} {child:?}");
        let got = end_with(stream_error(code, child));
        assert_eq!(
            got,
            (
                DisconnectReason::StreamError(expected),
                reconnect,
                logged_out
            ),
            "{label}"
        );
    }
}

#[test]
fn each_failure_reason_is_mapped() {
    use FailureReason::*;
    let cases = [
        ("400", Generic, false, false),
        ("401", LoggedOut, false, true),
        ("402", TempBanned, false, false),
        ("403", MainDeviceGone, false, true),
        ("405", ClientOutdated, false, false),
        ("406", UnknownLogout, false, true),
        ("409", BadUserAgent, false, false),
        ("413", CatExpired, false, false),
        ("414", CatInvalid, false, false),
        ("415", NotFound, false, false),
        ("418", ClientUnknown, false, false),
        ("500", InternalServerError, true, false),
        ("501", Experimental, false, false),
        ("503", ServiceUnavailable, true, false),
        ("777", Other("777".into()), false, false),
    ];
    for (code, reason, reconnect, logged_out) in cases {
        // Refused at login, the usual place for a <failure>.
        let mut server = TestServer::new([1; 32]);
        server.set_login_reply(LoginReply::Failure {
            reason: code.to_owned(),
        });
        let mut pair = Harness::new(server, &registered_device(1), [2; 32]);
        pair.drive();
        let (got, got_reconnect, got_logged_out) = single_disconnect(pair.events());
        let DisconnectReason::LoginFailed(failure) = got else {
            panic!("{code}: {got:?}");
        };
        assert_eq!(failure.reason, reason, "{code}");
        assert_eq!(
            failure
                .reason
                .code()
                .map(|c| c.to_string())
                .as_deref()
                .unwrap_or(code),
            code
        );
        assert_eq!(
            (got_reconnect, got_logged_out),
            (reconnect, logged_out),
            "{code}"
        );
        assert!(!pair.client.is_logged_in());
    }
}

#[test]
fn failure_details_are_kept() {
    let (reason, reconnect, logged_out) = end_with(
        Node::new("failure")
            .with_attr("reason", "402")
            .with_attr("code", "101")
            .with_attr("expire", "3600")
            .with_attr("message", "slow down"),
    );
    assert_eq!(
        reason,
        DisconnectReason::LoginFailed(LoginFailure {
            reason: FailureReason::TempBanned,
            code: Some("101".into()),
            expire: Some(3600),
            message: Some("slow down".into()),
        })
    );
    assert!(!reconnect && !logged_out);
}

#[test]
fn xmlstreamend_ends_the_stream_and_asks_for_a_reconnect() {
    assert_eq!(
        end_with(Node::new("xmlstreamend")),
        (DisconnectReason::StreamEnd, true, false)
    );
}

#[test]
fn the_end_is_reported_once_whatever_follows() {
    let mut pair = logged_in_pair(2);
    pair.server.send_stream_error(Some("515"), None);
    pair.server.send_stream_end();
    pair.server.send_failure("401");
    pair.drive();
    pair.client.close(pair.now());
    pair.client.handle_transport_closed(pair.now());
    pair.drive();
    let (reason, _, _) = single_disconnect(pair.events());
    assert_eq!(
        reason,
        DisconnectReason::StreamError(StreamError::RestartRequired)
    );
    assert_eq!(pair.client.disconnect_reason(), Some(&reason));
}

#[test]
fn a_second_success_is_a_stanza() {
    let mut pair = logged_in_pair(3);
    pair.server
        .send_node(&Node::new("success").with_attr("t", "1"));
    pair.drive();
    assert!(matches!(pair.take_events()[..], [Event::Stanza(ref n)] if n.tag == "success"));
}
