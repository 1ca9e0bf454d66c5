//! The whole flow of linking a device, offline, in a few seconds:
//!
//! ```text
//! cargo run -p wa-io-smol --example demo
//! ```
//!
//! It starts the bundled test server (the sans-IO `wa_core::testing::TestServer`
//! behind a real `wss://` WebSocket server on 127.0.0.1, with a throwaway CA
//! and a simulated phone), and runs the real [`Client`] against it with its
//! state in a temporary redb file:
//!
//! 1. a fresh identity is created and saved; the server offers QR codes; the
//!    first is drawn in the terminal;
//! 2. the simulated phone scans it and sends a pair-success; the client
//!    verifies it, **saves the linked device**, answers, and reconnects when
//!    the server asks for a restart (515);
//! 3. the client logs in; the program stops it (a restart);
//! 4. a new client opens the same file and logs in **without a QR code**,
//!    keepalive pings flow, an IQ is sent and answered;
//! 5. it chats: a simulated contact's greeting is shown (had it arrived
//!    during run 1, the store's inbox would have kept it for run 2), a message
//!    to the contact and one to a group get their answers and read receipts,
//!    end to end encrypted; then it disconnects.
//!
//! Nothing leaves the machine. It exits 0 when every step happened, 1 with
//! the cause otherwise. The same logic runs as a test
//! (`tests/client_demo.rs`). For the real service, see the `link` example.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_lite::future::or;
use wa_core::binary::{Jid, Node, Server};
use wa_core::store::DeviceStore;
use wa_io_smol::client::{Client, Event, ReconnectPolicy, render_qr};
use wa_io_smol::testserver::LoopbackServer;
use wa_io_smol::version::DEFAULT_APP_VERSION;
use wa_store_redb::RedbStore;

/// The longest the whole demo may take before it gives up.
const DEMO_BOUND: Duration = Duration::from_secs(30);

/// What the demo saw (the test checks it).
#[derive(Debug)]
pub struct DemoReport {
    /// The JID the simulated phone linked the device as.
    pub linked_as: String,
    /// QR codes shown on the first run.
    pub first_run_qr_codes: usize,
    /// QR codes shown on the second run (none: it logs in).
    pub second_run_qr_codes: usize,
    /// Keepalive pings the server answered on the second run.
    pub pings_answered: usize,
    /// The answer to the IQ of the second run.
    pub iq_answer: Node,
    /// Connections the server accepted in all.
    pub connections: usize,
    /// The texts received in run 2, as `chat: text`.
    pub received: Vec<String>,
    /// Read receipts received in run 2.
    pub read_receipts: usize,
}

/// The simulated contact's phone number.
const CONTACT: &str = "15550009999";
/// The demo group.
const GROUP: &str = "120363000000000042@g.us";

/// Runs the demo with its state in `db` (which must not exist yet), writing
/// progress to `out`.
pub async fn run_demo(db: &Path, out: &mut dyn Write) -> anyhow::Result<DemoReport> {
    let work = run_steps(db, out);
    let bound = async {
        smol::Timer::after(DEMO_BOUND).await;
        bail!("the demo did not finish within {DEMO_BOUND:?}")
    };
    or(work, bound).await
}

struct Say<'a> {
    out: &'a mut dyn Write,
    start: Instant,
}

impl Say<'_> {
    fn line(&mut self, text: impl std::fmt::Display) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let _ = writeln!(self.out, "[{elapsed:5.2}s] {text}");
    }

    fn raw(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
    }
}

async fn run_steps(db: &Path, out: &mut dyn Write) -> anyhow::Result<DemoReport> {
    let mut say = Say {
        out,
        start: Instant::now(),
    };
    say.line(
        "wa offline demo: link a device, restart, log in, send an IQ, chat — no network needed",
    );
    let server = LoopbackServer::builder()
        .tls(true)
        .start()
        .context("cannot start the test server on 127.0.0.1")?;
    say.line(format_args!(
        "test server at {} (TLS with a throwaway CA; a simulated phone for {})",
        server.url(),
        server
            .phone_companion_jid()
            .split(':')
            .next()
            .unwrap_or("?")
    ));
    say.line(format_args!(
        "offline: announcing the built-in WhatsApp Web version {}.{}.{}",
        DEFAULT_APP_VERSION.primary, DEFAULT_APP_VERSION.secondary, DEFAULT_APP_VERSION.tertiary
    ));

    // A contact on the network, and a group with us and the contact.
    let account = Jid::pn(
        server
            .phone_companion_jid()
            .split(':')
            .next()
            .unwrap_or("?"),
    );
    let group: Jid = GROUP.parse()?;
    server.with_network(|net| net.set_group(&group, &[account.clone(), Jid::pn(CONTACT)]));
    let _contact = server.start_contact_bot(
        CONTACT,
        &account,
        Some("Hi! I'm a simulated contact. Say something.".into()),
    );
    say.line(format_args!(
        "a simulated contact {CONTACT} and a group {GROUP} with the two of you"
    ));

    // ---- Run 1: link.
    say.line(format_args!("run 1: state in {}", db.display()));
    let store = Arc::new(RedbStore::open(db).context("cannot open the state file")?);
    if store.exists().await? {
        bail!(
            "{} already holds a device; the demo starts from nothing",
            db.display()
        );
    }
    let client = start_client(&server, store.clone(), false).await?;
    say.line("no device stored: created a new identity and saved it");
    let events = client.events();
    let mut qr_codes = 0;
    let linked_as;
    loop {
        let event = next(&events).await?;
        match &event {
            Event::Qr { code, .. } => {
                qr_codes += 1;
                say.line(&event);
                say.raw(&render_qr(code.as_str())?);
                say.raw("\n");
                if qr_codes == 1 {
                    say.line("the simulated phone scans the code");
                    if server.scan_qr(code.as_str()) != 1 {
                        bail!("the test server lost the connection");
                    }
                }
            }
            Event::LoggedIn { jid, .. } => {
                say.line(&event);
                linked_as = jid.as_ref().context("logged in without a JID")?.to_string();
                break;
            }
            Event::Stopped(reason) => bail!("the client stopped: {reason}"),
            Event::Stanza(_) => {}
            _ => say.line(&event),
        }
    }
    let stored = store
        .load()
        .await?
        .context("the linked device was not saved")?;
    say.line(format_args!(
        "the state file holds the linked device {}",
        stored
            .pn
            .as_ref()
            .map_or_else(|| "?".to_owned(), ToString::to_string)
    ));
    say.line("stopping the client (a restart)");
    client.disconnect().await;
    drain(&events, &mut say).await;
    drop(store);

    // ---- Run 2: log in from the saved state.
    say.line(format_args!("run 2: reopening {}", db.display()));
    let store = Arc::new(RedbStore::open(db).context("cannot reopen the state file")?);
    let client = start_client(&server, store.clone(), true).await?;
    let events = client.events();
    let mut second_run_qr_codes = 0;
    loop {
        let event = next(&events).await?;
        match &event {
            Event::Qr { .. } => second_run_qr_codes += 1,
            Event::LoggedIn { .. } if second_run_qr_codes == 0 => {
                say.line(format_args!("{event} (no QR code needed)"));
                break;
            }
            Event::LoggedIn { .. } => {
                bail!("run 2 was offered a QR code: the saved device did not log in")
            }
            Event::Stopped(reason) => bail!("the client stopped: {reason}"),
            Event::Stanza(_) => {}
            _ => say.line(&event),
        }
    }
    let mut chat = Chat {
        client: &client,
        events: &events,
        received: Vec::new(),
        seen: 0,
        read_receipts: 0,
    };
    let connection = server.connections() - 1;
    let mut shown = 0;
    while shown < 2 {
        let answered = server.records()[connection].pings_answered;
        if answered > shown {
            shown = answered;
            say.line(format_args!("keepalive ping answered ({answered})"));
        }
        // Keep reading events while waiting (nothing is expected).
        if let Some(event) = or(async { events.recv().await.ok() }, async {
            smol::Timer::after(Duration::from_millis(50)).await;
            None
        })
        .await
        {
            chat.show(&mut say, event).await?;
        }
    }
    let iq = Node::new("iq")
        .with_attr("xmlns", "w:stats")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid(Server::Pn));
    say.line(format_args!("sending {iq}"));
    let iq_answer = client.send_iq(iq).await.context("the IQ failed")?;
    say.line(format_args!("answer: {iq_answer}"));

    // ---- Chat.
    chat.until_text(&mut say, "Say something").await?;
    let contact = Jid::pn(CONTACT);
    let id = client.send_text(&contact, "hello Alice").await?;
    say.line(format_args!(
        "me → {contact}: hello Alice ({id}, acked by the server)"
    ));
    chat.until_text(&mut say, "you said: hello Alice").await?;
    let id = client.send_text(&group, "hello group").await?;
    say.line(format_args!(
        "me → {group}: hello group ({id}, acked by the server)"
    ));
    chat.until_text(&mut say, "you said: hello group").await?;
    let (received, read_receipts) = (chat.received, chat.read_receipts);
    client.disconnect().await;
    drain(&events, &mut say).await;
    let pings_answered = server.records()[connection].pings_answered;
    let connections = server.connections();
    say.line(format_args!(
        "done: linked as {linked_as}, restarted, logged in again; {connections} connections in all"
    ));
    Ok(DemoReport {
        linked_as,
        first_run_qr_codes: qr_codes,
        second_run_qr_codes,
        pings_answered,
        iq_answer,
        connections,
        received,
        read_receipts,
    })
}

/// Run 2's conversation: shows what arrives and acknowledges it.
struct Chat<'a> {
    client: &'a Client,
    events: &'a async_channel::Receiver<Event>,
    received: Vec<String>,
    /// Messages of `received` already looked at by `until_text`.
    seen: usize,
    read_receipts: usize,
}

impl Chat<'_> {
    /// Shows events until a message containing `text` arrived (or has
    /// arrived since the last call).
    async fn until_text(&mut self, say: &mut Say<'_>, text: &str) -> anyhow::Result<()> {
        loop {
            while self.seen < self.received.len() {
                self.seen += 1;
                if self.received[self.seen - 1].contains(text) {
                    return Ok(());
                }
            }
            let event = next(self.events).await?;
            self.show(say, event).await?;
        }
    }

    /// Shows one event; a message is marked read and released from the
    /// inbox.
    async fn show(&mut self, say: &mut Say<'_>, event: Event) -> anyhow::Result<()> {
        match event {
            Event::Message(m) => {
                let body = m.message.text_content().unwrap_or("<not text>").to_owned();
                say.line(format_args!(
                    "{} / {} → me: {body}",
                    m.chat,
                    m.sender.to_non_ad()
                ));
                self.received.push(format!("{}: {body}", m.chat));
                self.client.mark_read(&[&m]).await?;
                self.client.ack_message(&m).await?;
            }
            Event::Receipt(r) => {
                if r.kind.as_deref() == Some("read") {
                    self.read_receipts += 1;
                }
                say.line(format_args!(
                    "{} {} {}",
                    r.from.to_non_ad(),
                    r.kind.as_deref().unwrap_or("received"),
                    r.ids.join(", ")
                ));
            }
            Event::Stopped(reason) => bail!("the client stopped: {reason}"),
            Event::Stanza(_) => {}
            event => say.line(&event),
        }
        Ok(())
    }
}

async fn start_client(
    server: &LoopbackServer,
    store: Arc<RedbStore>,
    quick_keepalive: bool,
) -> anyhow::Result<Client> {
    let mut config = server.client_config();
    if quick_keepalive {
        // Pings every few hundred milliseconds so the demo shows some.
        config.keepalive_interval_min = Duration::from_millis(300);
        config.keepalive_interval_max = Duration::from_millis(500);
    }
    Ok(Client::builder()
        .backend(store)
        .transport_factory(Arc::new(server.transport_factory()))
        .config(config)
        .reconnect_policy(
            ReconnectPolicy::new()
                .with_initial_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(1)),
        )
        .web_version_policy(None)
        .start()
        .await?)
}

async fn next(events: &async_channel::Receiver<Event>) -> anyhow::Result<Event> {
    events
        .recv()
        .await
        .context("the client's event stream ended early")
}

/// Prints the events left after a disconnect.
async fn drain(events: &async_channel::Receiver<Event>, say: &mut Say<'_>) {
    while let Ok(event) = events.recv().await {
        say.line(&event);
    }
}

fn main() -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: cannot create a temporary directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let db = dir.path().join("demo.redb");
    match smol::block_on(run_demo(&db, &mut std::io::stdout())) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
