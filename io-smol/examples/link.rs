//! Link this computer to a WhatsApp account as a companion device, then stay
//! connected and print what arrives.
//!
//! ```text
//! cargo run -p wa-io-smol --example link -- [STATE.redb] [--offline]
//! cargo run -p wa-io-smol --example link -- --db STATE.redb
//! ```
//!
//! The state (keys, the linked account) lives in one redb file, `wa.redb` by
//! default. The first run shows QR codes in the terminal: on the phone, open
//! WhatsApp → Settings → Linked devices → Link a device, and scan. The
//! device is saved as soon as it is linked; later runs log in without a QR
//! code. Ctrl-C disconnects and exits.
//!
//! Once logged in it is a small chat: incoming messages are printed as
//! `[time] chat / sender: text` (then marked read and released from the
//! store's inbox), delivery and read receipts as `✓`, and each line typed is
//! sent to the current chat. `/to NUMBER` (or a full JID) and `/group JID`
//! choose the chat; other stanzas are printed in their readable form.
//!
//! `--offline` (state in `wa-offline.redb` by default, so the fake account never
//! lands in the real state file) runs the same flow against the bundled test server on
//! 127.0.0.1 (`wss://` with a throwaway CA) whose simulated phone scans the
//! first QR code — no network needed. A simulated contact greets you and
//! answers whatever you write, alone (the default chat) or in a group with the
//! two of you (`/group`). The `demo` example scripts the whole flow, restart
//! and chat included, in one go.
//!
//! Exit status: 0 after Ctrl-C or a logout, 1 when the service cannot be
//! reached or the client stops for another reason, 2 for bad arguments or an
//! unusable state file. Errors are one line with the cause.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use wa_core::binary::Jid;
use wa_core::store::DeviceStore;
use wa_io_smol::client::{Client, Event, StopReason, render_qr};
use wa_io_smol::testserver::LoopbackServer;
use wa_store_redb::RedbStore;

const USAGE: &str = "usage: link [STATE.redb | --db STATE.redb] [--offline]";

/// The simulated contact of `--offline`.
const CONTACT: &str = "15550009999";
/// The group of `--offline`: you and the contact.
const GROUP: &str = "120363000000000042@g.us";

/// How often the QR countdown is shown while waiting for a scan.
const COUNTDOWN_EVERY: Duration = Duration::from_secs(10);

struct Args {
    db: PathBuf,
    offline: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut db = None;
    let mut offline = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--offline" => offline = true,
            "--db" => db = Some(args.next().ok_or("--db needs a file name")?),
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            path if db.is_none() => db = Some(path.to_owned()),
            extra => return Err(format!("unexpected argument {extra}")),
        }
    }
    // The offline flow links a fake account; keep it out of the real state file.
    let default_db = if offline {
        "wa-offline.redb"
    } else {
        "wa.redb"
    };
    Ok(Args {
        db: PathBuf::from(db.unwrap_or_else(|| default_db.to_owned())),
        offline,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            if !error.is_empty() {
                eprintln!("error: {error}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    smol::block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let store = match RedbStore::open(&args.db) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!(
                "error: cannot open {}: {}",
                args.db.display(),
                error_line(&error)
            );
            return ExitCode::from(2);
        }
    };
    let linked = match store.load().await {
        Ok(device) => device.and_then(|d| d.pn),
        Err(error) => {
            eprintln!(
                "error: cannot read {}: {}",
                args.db.display(),
                error_line(&error)
            );
            return ExitCode::from(2);
        }
    };
    match &linked {
        Some(jid) => println!("state: {} (linked as {jid})", args.db.display()),
        None => println!("state: {} (no linked device yet)", args.db.display()),
    }

    let mut builder = Client::builder().backend(store);
    let server = if args.offline {
        let server = match LoopbackServer::builder().tls(true).start() {
            Ok(server) => server,
            Err(error) => {
                eprintln!("error: cannot start the test server on 127.0.0.1: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "offline: bundled test server at {} with a simulated phone",
            server.url()
        );
        builder = builder
            .transport_factory(Arc::new(server.transport_factory()))
            .config(server.client_config())
            .web_version_policy(None);
        Some(server)
    } else {
        println!("service: wss://web.whatsapp.com/ws/chat");
        None
    };
    let client = match builder.start().await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("error: {}", error_line(&error));
            return ExitCode::FAILURE;
        }
    };

    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    // Kept here so the channel stays open even if the handler is not set.
    let _stop_tx = stop_tx.clone();
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    }) {
        eprintln!("warning: Ctrl-C handler not installed: {error}");
    }

    // The simulated contact and the group of the offline run.
    let mut chat: Option<Jid> = None;
    let _contact = server.as_ref().and_then(|server| {
        let account = Jid::pn(server.phone_companion_jid().split(':').next()?);
        let group: Jid = GROUP.parse().ok()?;
        server.with_network(|net| net.set_group(&group, &[account.clone(), Jid::pn(CONTACT)]));
        chat = Some(Jid::pn(CONTACT));
        Some(server.start_contact_bot(
            CONTACT,
            &account,
            Some(format!(
                "Hi, I'm a simulated contact. Type a line to answer me, or /group {GROUP} to \
                 talk in our group."
            )),
        ))
    });
    let lines = stdin_lines();

    let events = client.events();
    let mut ever_connected = false;
    let mut qr_deadline: Option<Instant> = None;
    let mut scanned = false;
    loop {
        let wake = or(
            async {
                match events.recv().await {
                    Ok(event) => Wake::Event(event),
                    Err(_) => Wake::Ended,
                }
            },
            or(
                async {
                    match lines.recv().await {
                        Ok(line) => Wake::Line(line),
                        Err(_) => std::future::pending().await,
                    }
                },
                or(
                    async {
                        let _ = stop_rx.recv().await;
                        Wake::CtrlC
                    },
                    async {
                        smol::Timer::after(COUNTDOWN_EVERY).await;
                        Wake::Tick
                    },
                ),
            ),
        )
        .await;
        let ticked = Instant::now();
        match wake {
            Wake::Tick => {
                if let Some(deadline) = qr_deadline {
                    let left = deadline.saturating_duration_since(ticked);
                    if !left.is_zero() {
                        println!("  … {} s left to scan", left.as_secs());
                    }
                }
            }
            Wake::CtrlC => {
                println!("stopping (Ctrl-C)");
                client.disconnect().await;
                return ExitCode::SUCCESS;
            }
            Wake::Ended => return ExitCode::FAILURE,
            Wake::Line(line) => on_line(&client, &mut chat, line.trim()),
            Wake::Event(event) => {
                match &event {
                    Event::Qr { code, expires_at } => {
                        qr_deadline = Some(*expires_at);
                        match render_qr(code.as_str()) {
                            Ok(art) => println!("{art}"),
                            Err(error) => eprintln!("warning: {error}"),
                        }
                        println!(
                            "{event} — on the phone: WhatsApp → Settings → Linked devices → Link a device"
                        );
                        if let Some(server) = &server
                            && !scanned
                        {
                            scanned = true;
                            println!("offline: the simulated phone scans the code");
                            server.scan_qr(code.as_str());
                        }
                        continue;
                    }
                    Event::Connected => ever_connected = true,
                    Event::ConnectFailed { error } if !ever_connected => {
                        eprintln!("error: cannot reach WhatsApp: {error}");
                        client.disconnect().await;
                        return ExitCode::FAILURE;
                    }
                    Event::Paired { .. } | Event::QrExhausted => qr_deadline = None,
                    Event::LoggedIn { .. } => {
                        qr_deadline = None;
                        println!("{event}");
                        println!(
                            "staying connected (Ctrl-C to quit); type a line to send it, \
                             /to NUMBER or /group JID to choose the chat"
                        );
                        continue;
                    }
                    Event::Message(m) => {
                        let time = m.timestamp % 86_400;
                        println!(
                            "[{:02}:{:02}:{:02}] {} / {}: {}",
                            time / 3600,
                            time / 60 % 60,
                            time % 60,
                            m.chat,
                            m.push_name
                                .clone()
                                .unwrap_or_else(|| m.sender.to_non_ad().to_string()),
                            m.message.text_content().unwrap_or("<not text>")
                        );
                        // Requests are not awaited here: this loop must keep
                        // reading events (see the client's docs).
                        let (client, message) = (client.clone(), m.clone());
                        smol::spawn(async move {
                            let _ = client.mark_read(&[&message]).await;
                            let _ = client.ack_message(&message).await;
                        })
                        .detach();
                        continue;
                    }
                    Event::Receipt(r) => {
                        let mark = if r.kind.as_deref() == Some("read") {
                            "✓✓ read"
                        } else {
                            "✓ delivered"
                        };
                        let by = r.participant.as_ref().unwrap_or(&r.from).to_non_ad();
                        println!("  {mark} by {by}: {}", r.ids.join(", "));
                        continue;
                    }
                    Event::Stopped(reason) => {
                        println!("{event}");
                        return match reason {
                            StopReason::Disconnected | StopReason::LoggedOut => ExitCode::SUCCESS,
                            StopReason::Refused(_) | StopReason::Replaced => {
                                eprintln!("error: {reason}");
                                ExitCode::FAILURE
                            }
                            _ => ExitCode::FAILURE,
                        };
                    }
                    _ => {}
                }
                println!("{event}");
            }
        }
    }
}

enum Wake {
    Event(Event),
    Line(String),
    CtrlC,
    Ended,
    Tick,
}

/// Lines typed on the terminal, read on a thread of their own.
fn stdin_lines() -> async_channel::Receiver<String> {
    let (tx, rx) = async_channel::bounded(16);
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send_blocking(line).is_err() {
                    break;
                }
            }
        });
    rx
}

/// A typed line: `/to NUMBER|JID` or `/group JID` choose the chat; anything
/// else is sent to it (in the background, printing the outcome).
fn on_line(client: &Client, chat: &mut Option<Jid>, line: &str) {
    if line.is_empty() {
        return;
    }
    let pick = |arg: &str| -> Option<Jid> {
        let arg = arg.trim().trim_start_matches('+');
        if arg.contains('@') {
            arg.parse().ok()
        } else if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_digit()) {
            Some(Jid::pn(arg))
        } else {
            None
        }
    };
    if let Some(arg) = line
        .strip_prefix("/to ")
        .or_else(|| line.strip_prefix("/group "))
    {
        match pick(arg) {
            Some(jid) => {
                println!("  now talking to {jid}");
                *chat = Some(jid);
            }
            None => println!("  not a phone number or JID: {arg}"),
        }
        return;
    }
    if line == "/group" {
        if let Ok(group) = GROUP.parse::<Jid>() {
            println!("  now talking to {group}");
            *chat = Some(group);
        }
        return;
    }
    let Some(to) = chat.clone() else {
        println!("  choose a chat first: /to NUMBER or /group JID");
        return;
    };
    let (client, text) = (client.clone(), line.to_owned());
    smol::spawn(async move {
        match client.send_text(&to, &text).await {
            Ok(id) => println!("  → {to}: sent ({id})"),
            Err(error) => println!("  → {to}: not sent: {error}"),
        }
    })
    .detach();
}

/// An error and its causes on one line.
fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}
