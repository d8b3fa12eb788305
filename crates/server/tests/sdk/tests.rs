//! The SDKs people use, run unmodified against the sandbox except for where they send requests.
//!
//! The Python SDKs live in a virtual environment at `target/sdk-venv`, which `.ci/run` creates
//! from `tests/sdk/requirements.txt`, the Node ones in `target/sdk-node`, installed with `npm ci`
//! from `tests/sdk/package.json` and its lock; a test installs them itself when they are missing,
//! so that the README's test command works on a fresh machine too.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use wabahook_receiver::samples::{self, SampleContext};

use crate::harness::{Ctx, VERIFY_TOKEN};

fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

/// The Python of `target/sdk-venv`, created and filled from `requirements.txt` when absent.
fn sdk_python() -> PathBuf {
    static READY: Mutex<bool> = Mutex::new(false);
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/sdk-venv");
    let python = venv.join("bin/python");
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if *ready {
        return python;
    }
    let requirements = sdk_dir().join("requirements.txt");
    let complete = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import pywa, starlette, uvicorn, httpx"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !complete(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements)
            .status()
            .expect("pip runs");
        assert!(
            installed.success(),
            "pip install -r {} failed",
            requirements.display()
        );
        assert!(complete(&python), "the SDK venv lacks its packages");
    }
    *ready = true;
    python
}

/// `target/sdk-node`, where `npm ci` installs `package.json`'s packages, done when absent or
/// when the committed lock changed since.
fn sdk_node() -> PathBuf {
    static READY: Mutex<bool> = Mutex::new(false);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/sdk-node");
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if *ready {
        return dir;
    }
    let lock = std::fs::read(sdk_dir().join("package-lock.json")).expect("the committed lock");
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    let complete = dir
        .join("node_modules/whatsapp-api-js/package.json")
        .exists();
    if !complete || installed.as_deref() != Some(&lock[..]) {
        std::fs::create_dir_all(&dir).expect("target/sdk-node");
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(sdk_dir().join(file), dir.join(file)).expect("copy to target/sdk-node");
        }
        let done = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| panic!("npm runs (the Node SDK tests need Node.js and npm): {e}"));
        assert!(done.success(), "npm ci in {} failed", dir.display());
    }
    *ready = true;
    dir
}

/// A child process whose stdout lines are JSON objects, read on a thread. Waiting for a line
/// yields to the runtime, which also runs the server under test.
struct JsonLines {
    child: Child,
    /// Commands for the script, one JSON line each.
    stdin: Option<ChildStdin>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Lines read while waiting for another, kept for whoever waits for them.
    pending: Vec<Value>,
    /// What the script wrote on stderr, shown when a test fails.
    errors: std::sync::Arc<Mutex<String>>,
}

impl JsonLines {
    fn spawn(mut cmd: Command) -> JsonLines {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("SDK script runs");
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let errors = std::sync::Arc::new(Mutex::new(String::new()));
        let sink = errors.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut all) = sink.lock() {
                    all.push_str(&line);
                    all.push('\n');
                }
            }
        });
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        JsonLines {
            stdin: child.stdin.take(),
            child,
            lines,
            pending: Vec::new(),
            errors,
        }
    }

    /// Writes one command line to the script.
    fn command(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{cmd}")
            .and_then(|()| stdin.flush())
            .expect("the SDK script reads its commands");
    }

    /// The first line, read before or to come within `within`, that `wanted` accepts; the
    /// lines it does not accept are kept. `None` when none comes in time or the script ends.
    async fn find(&mut self, within: Duration, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(i) = self.pending.iter().position(&wanted) {
            return Some(self.pending.remove(i));
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if wanted(&v) {
                        return Some(v);
                    }
                    self.pending.push(v);
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Everything the script wrote on stderr so far.
    fn stderr(&self) -> String {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The next line that parses as JSON, or `None` when none comes within `within`.
    async fn try_next(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        return Some(v);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next line that parses as JSON, waiting at most `within`.
    async fn next(&mut self, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!("the SDK script ended; its stderr:\n{}", self.stderr()),
                Err(_) => panic!(
                    "the SDK script printed nothing more in time; its stderr:\n{}",
                    self.stderr()
                ),
            };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                return v;
            }
        }
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `messages` sample (from a fixed seed) that `wanted` accepts.
fn sample_where(ctx: &SampleContext, wanted: impl Fn(&Value) -> bool) -> Value {
    let mut rng = StdRng::seed_from_u64(15);
    (0..10_000)
        .filter_map(|_| samples::sample("messages", ctx, &mut rng))
        .find(|v| wanted(v))
        .expect("a matching sample")
}

#[tokio::test]
async fn pywa_registers_its_callback_and_receives_parsed_updates() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    // pywa 4.5 reads only `entry[0].changes[0]` of a POST, so the changes of a batch after the
    // first never reach its handlers (Meta batches too). One change per POST keeps this test
    // about parsing; `check-receiver` is where a receiver's batch handling is judged.
    // A Python server on a loaded machine can take seconds to answer: give handshakes and
    // deliveries Meta's own patience rather than the in-process receivers' short limits.
    let ctx = Ctx::start_with(|cfg| {
        cfg.delivery.batch_max_changes = 1;
        cfg.delivery.timeout_ms = 15_000;
        cfg.delivery.lease_ms = 30_000;
        cfg.graph.handshake_timeout_ms = 10_000;
        cfg.delivery.retry_schedule_secs = vec![0, 1, 2, 5, 10];
    })
    .await;
    let w = ctx.world(true).await;
    let phone = ctx
        .admin_get(&format!("phone_numbers/{}", w.phone_id))
        .await;
    let display = phone.body["display_phone_number"]
        .as_str()
        .unwrap()
        .to_string();

    let mut cmd = Command::new(python);
    cmd.arg(sdk_dir().join("pywa_bot.py"))
        .arg(&ctx.base)
        .args([&w.phone_id, &w.token, &w.waba_id, &w.app_id, &w.app_secret])
        .arg(VERIFY_TOKEN);
    let mut bot = JsonLines::spawn(cmd);
    let listening = bot.next(Duration::from_secs(60)).await;
    assert_eq!(listening["kind"], "listening", "{listening}");
    let port = listening["port"].as_u64().unwrap();
    let callback = format!("http://127.0.0.1:{port}/pywa");

    // pywa gets the app token and registers its own callback; the sandbox's handshake reaches
    // pywa's server. Wait until the subscription shows it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = ctx
            .graph(
                "GET",
                &format!("/v23.0/{}/subscriptions", w.app_id),
                Some(&w.app_token()),
                &[],
            )
            .await;
        if r.body["data"][0]["callback_url"] == json!(callback) {
            let fields: Vec<&str> = r.body["data"][0]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f["name"].as_str())
                .collect();
            assert!(fields.contains(&"messages"), "{}", r.body);
            assert!(
                fields.contains(&"message_template_status_update"),
                "{}",
                r.body
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pywa did not register its callback: {}; its stderr:\n{}",
            r.body,
            bot.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ctx.graph(
        "POST",
        &format!("/v23.0/{}/subscribed_apps", w.waba_id),
        Some(&w.token),
        &[],
    )
    .await
    .assert_success();

    // A text message and a status in Meta's current shapes (business-scoped user ids, usernames,
    // `contacts` on statuses), as the sandbox's samples write them.
    let ctx_sample = SampleContext {
        waba_id: w.waba_id.clone(),
        phone_number_id: w.phone_id.clone(),
        display_phone_number: display.chars().filter(char::is_ascii_digit).collect(),
        business_name: "Acme".into(),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    };
    let text = sample_where(&ctx_sample, |v| {
        v["messages"][0]["type"] == "text" && v["contacts"][0]["wa_id"].is_string()
    });
    let status = sample_where(&ctx_sample, |v| {
        v["statuses"][0]["status"] == "delivered" && v["statuses"][0]["recipient_id"].is_string()
    });
    let metadata = text["metadata"].clone();
    let template = json!({
        "event": "APPROVED", "message_template_id": 1689556908129832_i64,
        "message_template_name": "order_confirmation", "message_template_language": "en_US",
        "reason": "NONE", "message_template_category": "UTILITY"
    });
    for (field, value) in [
        ("messages", text.clone()),
        ("messages", status.clone()),
        ("message_template_status_update", template),
    ] {
        let r = ctx
            .admin_post(
                "events",
                json!({"waba_id": w.waba_id, "field": field, "value": value, "phone_number_id": w.phone_id}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["deliveries"], 1, "{field}: {}", r.body);
    }

    let mut seen = Vec::new();
    for _ in 0..3 {
        match bot.try_next(Duration::from_secs(60)).await {
            Some(v) => seen.push(v),
            None => {
                // Say what the sandbox did, to tell a delivery problem from an SDK one.
                let deliveries = ctx
                    .admin_get(&format!("deliveries?app_id={}", w.app_id))
                    .await;
                panic!(
                    "pywa's handlers printed {} of 3 updates: {seen:?}\ndeliveries: {}\nits stderr:\n{}",
                    seen.len(),
                    deliveries.body,
                    bot.stderr()
                );
            }
        }
    }
    seen.sort_by_key(|v| v["kind"].as_str().unwrap_or("").to_string());
    assert_eq!(seen[0]["kind"], "message", "{seen:?}");
    assert_eq!(seen[0]["id"], text["messages"][0]["id"]);
    assert_eq!(seen[0]["text"], text["messages"][0]["text"]["body"]);
    assert_eq!(seen[0]["from_wa_id"], text["contacts"][0]["wa_id"]);
    assert_eq!(seen[0]["from_name"], text["contacts"][0]["profile"]["name"]);
    assert_eq!(seen[0]["phone_id"], json!(w.phone_id));
    assert_eq!(seen[1]["kind"], "status", "{seen:?}");
    assert_eq!(seen[1]["id"], status["statuses"][0]["id"]);
    assert_eq!(seen[1]["status"], "delivered");
    assert_eq!(seen[1]["to_wa_id"], status["statuses"][0]["recipient_id"]);
    assert_eq!(seen[2]["kind"], "template_status", "{seen:?}");
    assert_eq!(seen[2]["template_name"], "order_confirmation");
    assert_eq!(seen[2]["template_id"], "1689556908129832");
    assert_eq!(seen[2]["new_status"], "APPROVED");
    assert_eq!(seen[2]["waba_id"], json!(w.waba_id));

    // pywa checks signatures: a POST signed with another secret reaches no handler.
    let body =
        json!({"object": "whatsapp_business_account", "entry": [{"id": w.waba_id, "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata,
         "messages": [{"from": "16505559999", "id": "wamid.forged", "timestamp": "1749416383",
                       "type": "text", "text": {"body": "forged"}}]}}]}]})
        .to_string();
    let r = reqwest::Client::new()
        .post(&callback)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            wabahook_receiver::signature::sign("not-the-app-secret", body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let after = tokio::time::timeout(Duration::from_millis(500), bot.lines.recv()).await;
    assert!(
        after.is_err(),
        "a forged update reached a handler: {after:?}"
    );
}

/// Delivery settings for bots in other languages. pywa 4.5 and whatsapp-api-js 6.2 both read
/// only `entry[0].changes[0]` of a POST, so the changes of a batch after the first never reach
/// their handlers (Meta batches too); one change per POST keeps these tests about the SDKs, and
/// `check-receiver` is where a receiver's batch handling is judged. An interpreted server on a
/// loaded machine can take seconds to answer: handshakes and deliveries get Meta's own patience
/// rather than the in-process receivers' short limits.
fn for_sdks(cfg: &mut wabahook_server::ServeConfig) {
    cfg.delivery.batch_max_changes = 1;
    cfg.delivery.timeout_ms = 15_000;
    cfg.delivery.lease_ms = 30_000;
    cfg.graph.handshake_timeout_ms = 10_000;
    cfg.delivery.retry_schedule_secs = vec![0, 1, 2, 5, 10];
}

/// Waits for the bot's line that `wanted` accepts; failing, says what the sandbox delivered to
/// the app, to tell a delivery problem from an SDK one.
async fn expect_line(
    ctx: &Ctx,
    app_id: &str,
    bot: &mut JsonLines,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    if let Some(v) = bot.find(Duration::from_secs(60), wanted).await {
        return v;
    }
    let deliveries = ctx.admin_get(&format!("deliveries?app_id={app_id}")).await;
    panic!(
        "the bot printed no {what}; other lines: {:?}\ndeliveries: {}\nits stderr:\n{}",
        bot.pending,
        deliveries.body,
        bot.stderr()
    );
}

/// Has the bot send `cmd` through its SDK and returns the new message's wamid.
async fn bot_sends(ctx: &Ctx, app_id: &str, bot: &mut JsonLines, cmd: Value) -> String {
    let op = cmd["op"].clone();
    let cmd_to = cmd["to"].clone();
    bot.command(cmd);
    let answer = expect_line(ctx, app_id, bot, &format!("answer to {op}"), |v| {
        (v["kind"] == "sent" || v["kind"] == "error") && v["op"] == op
    })
    .await;
    assert_eq!(answer["kind"], "sent", "the SDK's send failed: {answer}");
    assert_eq!(answer["to"], cmd_to, "{answer}");
    let id = answer["id"].as_str().expect("a wamid").to_string();
    assert!(id.starts_with("wamid."), "{answer}");
    id
}

/// Waits for `sent`, `delivered` and `read` of the message `id`, as the SDK parsed them, each
/// carrying the `tracker` (`biz_opaque_callback_data`) the message was sent with.
async fn expect_statuses(
    ctx: &Ctx,
    app_id: &str,
    bot: &mut JsonLines,
    id: &str,
    to: &str,
    tracker: Option<&str>,
) {
    for stage in ["sent", "delivered", "read"] {
        let status = expect_line(ctx, app_id, bot, &format!("{stage} of {id}"), |v| {
            v["kind"] == "status" && v["id"] == id && v["status"] == stage
        })
        .await;
        assert_eq!(status["to_wa_id"], to, "{status}");
        assert_eq!(status["tracker"], json!(tracker), "{status}");
    }
}

/// A customer writes to the business number through the admin API; returns the message's id.
async fn customer_writes(ctx: &Ctx, phone_id: &str, from: Value, message: Value) -> String {
    let mut body = json!({"phone_number_id": phone_id, "from": from});
    body.as_object_mut()
        .unwrap()
        .extend(message.as_object().unwrap().clone());
    let r = ctx.admin_post("simulate/inbound", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["message_id"].as_str().unwrap().to_string()
}

/// What both bots do once registered and subscribed: a customer writes in; the bot answers
/// with a text (tracked), Meta's `hello_world` and reply buttons; every message goes through
/// sent, delivered and read; the customer presses a button. `is_reply` tells the SDK's view of
/// the button press from other lines, given the id of the message it answers.
async fn converse(
    ctx: &Ctx,
    w: &crate::harness::World,
    bot: &mut JsonLines,
    is_reply: impl Fn(&Value, &str) -> bool,
) {
    let customer = "16505551234";
    // A name beyond ASCII: Meta escapes it in the body it signs, and so must the sandbox, or an
    // SDK that checks the signature over what it re-escapes (whatsapp-api-js) would refuse it.
    let from = json!({"wa_id": customer, "name": "Zoë"});
    let hello = customer_writes(
        ctx,
        &w.phone_id,
        from.clone(),
        json!({"type": "text", "text": {"body": "Hi, where is my order?"}}),
    )
    .await;
    let got = expect_line(ctx, &w.app_id, bot, "the customer's text", |v| {
        v["kind"] == "message" && v["id"] == hello
    })
    .await;
    assert_eq!(got["text"], "Hi, where is my order?", "{got}");
    assert_eq!(got["from_wa_id"], customer, "{got}");
    assert_eq!(got["from_name"], "Zoë", "{got}");
    assert_eq!(got["phone_id"], json!(w.phone_id), "{got}");

    // The customer wrote, so the window is open for a free-form answer.
    let text = bot_sends(
        ctx,
        &w.app_id,
        bot,
        json!({"op": "text", "to": customer, "text": "It left our warehouse today.", "tracker": "order-42"}),
    )
    .await;
    expect_statuses(ctx, &w.app_id, bot, &text, customer, Some("order-42")).await;
    let template = bot_sends(
        ctx,
        &w.app_id,
        bot,
        json!({"op": "template", "to": customer, "name": "hello_world", "language": "en_US"}),
    )
    .await;
    expect_statuses(ctx, &w.app_id, bot, &template, customer, None).await;

    let buttons = bot_sends(
        ctx,
        &w.app_id,
        bot,
        json!({"op": "buttons", "to": customer, "text": "Anything else?",
               "buttons": [["track", "Track it"], ["human", "Talk to us"]]}),
    )
    .await;
    let press = customer_writes(
        ctx,
        &w.phone_id,
        from,
        json!({"type": "interactive", "context": {"message_id": buttons},
               "interactive": {"type": "button_reply", "button_reply": {"id": "track", "title": "Track it"}}}),
    )
    .await;
    let reply = expect_line(ctx, &w.app_id, bot, "the button press", |v| {
        v["id"] == press && is_reply(v, &buttons)
    })
    .await;
    assert_eq!(reply["from_wa_id"], customer, "{reply}");

    // The sandbox recorded the conversation as the SDK made it, both ways.
    let conversation = ctx
        .admin_get(&format!("conversations/{}/{customer}", w.phone_id))
        .await;
    assert_eq!(conversation.status, 200, "{}", conversation.body);
    let seen: Vec<(&str, &str, &str)> = conversation.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or(""),
                m["direction"].as_str().unwrap_or(""),
                m["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (&hello[..], "inbound", "text"),
            (&text[..], "outbound", "text"),
            (&template[..], "outbound", "template"),
            (&buttons[..], "outbound", "interactive"),
            (&press[..], "inbound", "interactive"),
        ],
        "{}",
        conversation.body
    );
    assert_eq!(
        conversation.body["messages"][2]["payload"]["template"]["name"],
        "hello_world"
    );
}

#[tokio::test]
async fn pywa_sends_and_receives_statuses_and_replies() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let ctx = Ctx::start_with(for_sdks).await;
    let w = ctx.world(true).await;
    let mut cmd = Command::new(python);
    cmd.arg(sdk_dir().join("pywa_bot.py"))
        .arg(&ctx.base)
        .args([&w.phone_id, &w.token, &w.waba_id, &w.app_id, &w.app_secret])
        .arg(VERIFY_TOKEN);
    let mut bot = JsonLines::spawn(cmd);
    let listening = bot.next(Duration::from_secs(60)).await;
    assert_eq!(listening["kind"], "listening", "{listening}");
    let callback = format!("http://127.0.0.1:{}/pywa", listening["port"]);

    // pywa gets the app token and registers its callback (the handshake reaches its server);
    // subscribing the app to the WABA is the business's step.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = ctx
            .graph(
                "GET",
                &format!("/v25.0/{}/subscriptions", w.app_id),
                Some(&w.app_token()),
                &[],
            )
            .await;
        if r.body["data"][0]["callback_url"] == json!(callback) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pywa did not register its callback: {}; its stderr:\n{}",
            r.body,
            bot.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ctx.graph(
        "POST",
        &format!("/v25.0/{}/subscribed_apps", w.waba_id),
        Some(&w.token),
        &[],
    )
    .await
    .assert_success();

    converse(&ctx, &w, &mut bot, |v, buttons| {
        v["kind"] == "callback_button"
            && v["data"] == "track"
            && v["title"] == "Track it"
            && v["reply_to"] == buttons
    })
    .await;
}

#[tokio::test]
async fn whatsapp_api_js_sends_and_receives_statuses_and_replies() {
    let node_dir = tokio::task::spawn_blocking(sdk_node).await.unwrap();
    let ctx = Ctx::start_with(for_sdks).await;
    let w = ctx.world(true).await;
    let mut cmd = Command::new("node");
    cmd.arg(sdk_dir().join("wajs_bot.mjs"))
        .arg(&node_dir)
        .arg(&ctx.base)
        .args([&w.phone_id, &w.token, &w.app_secret, VERIFY_TOKEN, "v24.0"]);
    let mut bot = JsonLines::spawn(cmd);
    let listening = bot.next(Duration::from_secs(60)).await;
    assert_eq!(listening["kind"], "listening", "{listening}");
    let callback = format!("http://127.0.0.1:{}/webhook", listening["port"]);

    // whatsapp-api-js registers nothing: its user does, with plain HTTP calls to Graph. The
    // subscription is accepted only once the handshake reached the bot and got its challenge.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let app_token: Value = http
        .get(format!("{}/oauth/access_token", ctx.base))
        .query(&[
            ("grant_type", "client_credentials"),
            ("client_id", &w.app_id),
            ("client_secret", &w.app_secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_token = app_token["access_token"].as_str().expect("an app token");
    let r = http
        .post(format!("{}/v24.0/{}/subscriptions", ctx.base, w.app_id))
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", &callback),
            ("verify_token", VERIFY_TOKEN),
            ("fields", "messages"),
            ("access_token", app_token),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(
        status.is_success() && body["success"] == true,
        "{status}: {body}; the bot's stderr:\n{}",
        bot.stderr()
    );
    let r = http
        .post(format!("{}/v24.0/{}/subscribed_apps", ctx.base, w.waba_id))
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    converse(&ctx, &w, &mut bot, |v, buttons| {
        v["kind"] == "message"
            && v["type"] == "interactive"
            && v["interactive"]["type"] == "button_reply"
            && v["interactive"]["button_reply"]["id"] == "track"
            && v["interactive"]["button_reply"]["title"] == "Track it"
            && v["context"]["id"] == buttons
    })
    .await;

    // The library checks signatures: a POST signed with another secret reaches no handler.
    let body =
        json!({"object": "whatsapp_business_account", "entry": [{"id": w.waba_id, "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "15550102030", "phone_number_id": w.phone_id},
         "messages": [{"from": "16505559999", "id": "wamid.forged", "timestamp": "1749416383",
                       "type": "text", "text": {"body": "forged"}}]}}]}]})
        .to_string();
    let r = http
        .post(&callback)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            wabahook_receiver::signature::sign("not-the-app-secret", body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let forged = bot
        .find(Duration::from_millis(500), |v| v["id"] == "wamid.forged")
        .await;
    assert!(
        forged.is_none(),
        "a forged update reached a handler: {forged:?}"
    );
}
