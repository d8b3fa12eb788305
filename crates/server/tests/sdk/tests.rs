//! The SDKs people use, run unmodified against the sandbox except for where they send requests.
//!
//! The Python SDKs live in a virtual environment at `target/sdk-venv`, which `.ci/run` creates
//! from `tests/sdk/requirements.txt`; a test creates it itself when it is missing, so that the
//! README's test command works on a fresh machine too.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

/// A child process whose stdout lines are JSON objects, read on a thread. Waiting for a line
/// yields to the runtime, which also runs the server under test.
struct JsonLines {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// What the script wrote on stderr, shown when a test fails.
    errors: std::sync::Arc<Mutex<String>>,
}

impl JsonLines {
    fn spawn(mut cmd: Command) -> JsonLines {
        let mut child = cmd
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
            child,
            lines,
            errors,
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
