//! `wabahook listen` as a user runs it: the real binary on a free port, driven with real
//! handshakes and signed POSTs, its printed lines read from stdout.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use wabahook_receiver::signature;

use crate::harness::Receiver;

pub(crate) const SECRET: &str = "listen-secret";
const TOKEN: &str = "listen-token";

pub(crate) struct Listen {
    child: Child,
    pub(crate) base: String,
    lines: mpsc::Receiver<String>,
    http: reqwest::Client,
}

impl Listen {
    pub(crate) fn start(extra: &[&str]) -> Listen {
        Self::start_with(
            extra,
            reqwest::Client::builder().no_proxy().build().unwrap(),
        )
    }

    /// Starts `listen` with `extra` flags, talking to it with `http`.
    fn start_with(extra: &[&str], http: reqwest::Client) -> Listen {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wabahook"))
            .args(["listen", "--listen", "127.0.0.1:0"])
            .args(["--app-secret", SECRET, "--verify-token", TOKEN])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(
            first.starts_with("wabahook listen on http://127.0.0.1:")
                || first.starts_with("wabahook listen on https://127.0.0.1:"),
            "{first}"
        );
        let base = first.split(' ').nth(3).unwrap().to_string();
        Listen {
            child,
            base,
            lines,
            http,
        }
    }

    /// The next printed line that contains `needle`, skipping others.
    fn wait_for(&self, needle: &str) -> String {
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(20)).unwrap();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The next `n` printed lines.
    pub(crate) fn take(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| self.lines.recv_timeout(Duration::from_secs(20)).unwrap())
            .collect()
    }

    pub(crate) async fn post(&self, body: &[u8], sig: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}/webhook", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two WABAs, three changes: a text message with escaped non-ASCII, a security event and a
/// field this version does not know.
pub(crate) fn batched_body() -> Vec<u8> {
    let text = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ren\u00e9e"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.A1","timestamp":"1749416383","type":"text","text":{"body":"Caf\u00e9 \ud83d\ude00 at 10\/11?"}}]}"#;
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"111","changes":[{{"value":{text},"field":"messages"}},{{"value":{{"display_phone_number":"15550783881","event":"PIN_CHANGED","requester":"61555822107539"}},"field":"security"}}]}},{{"id":"222","time":1748811473,"changes":[{{"value":{{"brand_new":[1,2]}},"field":"future_field"}}]}}]}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn handshake_signatures_batches_and_duplicates() {
    let l = Listen::start(&[]);
    let r = l
        .http
        .get(format!(
            "{}/any/path?hub.mode=subscribe&hub.challenge=8675309&hub.verify_token={TOKEN}",
            l.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "8675309");
    assert!(l.take(1)[0].contains("handshake answered"));
    let r = l
        .http
        .get(format!(
            "{}/?hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
            l.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(l.take(1)[0].contains("handshake refused"));

    // A batched POST: every change of every entry is printed.
    let body = batched_body();
    let sig = signature::sign(SECRET, &body);
    assert_eq!(l.post(&body, Some(&sig)).await.0, 200);
    let lines = l.take(3);
    assert!(
        lines[0].contains("messages") && lines[0].contains("waba 111"),
        "{lines:?}"
    );
    assert!(lines[0].contains("Café 😀 at 10/11?"), "{lines:?}");
    assert!(
        lines[1].contains("security") && lines[1].contains("PIN_CHANGED"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("future_field") && lines[2].contains("waba 222"),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("[duplicate]")),
        "{lines:?}"
    );

    // The same changes again are flagged.
    assert_eq!(l.post(&body, Some(&sig)).await.0, 200);
    assert!(l.take(3).iter().all(|l| l.ends_with("[duplicate]")));

    // Wrong, missing and malformed signatures are refused with 403 and reported.
    let wrong = signature::sign("other-secret", &body);
    for (sig, why) in [
        (Some(wrong.as_str()), "does not match"),
        (None, "missing"),
        (Some("sha1=abc"), "malformed"),
    ] {
        let (status, text) = l.post(&body, sig).await;
        assert_eq!(status, 403, "{text}");
        let line = &l.take(1)[0];
        assert!(
            line.contains("POST rejected") && line.contains(why),
            "{line}"
        );
    }
    // A re-serialized body (the non-ASCII decoded) no longer matches the signature.
    let decoded: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        l.post(decoded.to_string().as_bytes(), Some(&sig)).await.0,
        403
    );
    l.take(1);
    // Signed but not a webhook envelope: 400.
    let junk = br#"{"object":"whatsapp_business_account"}"#;
    let (status, _) = l.post(junk, Some(&signature::sign(SECRET, junk))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn json_lines_and_forwarding_exact_bytes() {
    let rx = Receiver::start().await;
    let l = Listen::start(&["--json", "--forward-to", &rx.url("/hook/app")]);
    assert!(l.take(1)[0].starts_with("forwarding verified POSTs to"));
    let body = batched_body();
    let sig = signature::sign(SECRET, &body);
    assert_eq!(l.post(&body, Some(&sig)).await.0, 200);
    let lines: Vec<Value> = l
        .take(4)
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    assert_eq!(lines[0]["field"], "messages");
    assert_eq!(lines[0]["waba_id"], "111");
    assert_eq!(lines[0]["typed"], true);
    assert_eq!(lines[0]["duplicate"], false);
    assert_eq!(
        lines[0]["value"]["messages"][0]["text"]["body"],
        "Café 😀 at 10/11?"
    );
    assert_eq!(lines[1]["field"], "security");
    assert_eq!(lines[2]["field"], "future_field");
    assert_eq!(lines[2]["typed"], false);
    assert_eq!(lines[2]["value"], json!({"brand_new": [1, 2]}));
    assert_eq!(lines[3]["event"], "forwarded");
    assert_eq!(lines[3]["status"], 200);

    // The application got the exact bytes and the signature header, so it can verify too.
    let posts = rx.wait_posts(1).await;
    assert_eq!(posts[0].body, body);
    let fwd_sig = posts[0].headers["x-hub-signature-256"].to_str().unwrap();
    assert_eq!(fwd_sig, sig);
    signature::verify(SECRET, &posts[0].body, Some(fwd_sig)).unwrap();

    // The application's failure goes back to the sender, so the sender retries.
    rx.answer("/hook/app", &[500]);
    assert_eq!(l.post(&body, Some(&sig)).await.0, 500);
    let lines: Vec<Value> = l
        .take(4)
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    assert!(lines[..3].iter().all(|v| v["duplicate"] == true));
    assert_eq!(lines[3]["status"], 500);
}

#[tokio::test]
async fn forwarding_to_a_dead_application_is_a_502() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let l = Listen::start(&["--forward-to", &url]);
    l.take(1);
    let body = batched_body();
    let (status, _) = l.post(&body, Some(&signature::sign(SECRET, &body))).await;
    assert_eq!(status, 502);
    let lines = l.take(4);
    assert!(
        lines[3].contains("forwarding to") && lines[3].contains("failed"),
        "{lines:?}"
    );
}

#[test]
fn bad_flags_exit_non_zero_with_a_message() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_wabahook"))
            .arg("listen")
            .args(args)
            .env_remove("WABAHOOK_APP_SECRET")
            .env_remove("WABAHOOK_VERIFY_TOKEN")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--app-secret", "s"]);
    assert!(!ok && err.contains("--verify-token"), "{err}");
    let (ok, err) = run(&[
        "--app-secret",
        "s",
        "--verify-token",
        "t",
        "--listen",
        "nowhere",
    ]);
    assert!(!ok && err.contains("--listen"), "{err}");
    let (ok, err) = run(&[
        "--app-secret",
        "s",
        "--verify-token",
        "t",
        "--forward-to",
        "not a url",
    ]);
    assert!(!ok && err.contains("--forward-to"), "{err}");
    let (ok, err) = run(&["--app-secret", "", "--verify-token", "t"]);
    assert!(!ok && err.contains("--app-secret"), "{err}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (ok, err) = run(&[
        "--app-secret",
        "s",
        "--verify-token",
        "t",
        "--listen",
        &addr,
    ]);
    assert!(!ok && err.contains("cannot listen"), "{err}");
}

/// People paste the example of Meta's WABA webhooks page, an array holding one envelope.
#[tokio::test]
async fn metas_array_wrapped_example_is_shown() {
    const EXAMPLE: &[u8] = br#"[ { "object": "whatsapp_business_account", "entry": [ { "id": "0", "time": 1602782939, "changes": [ { "field": "phone_number_name_update", "value": { "display_phone_number": "16505551111", "decision": "APPROVED", "requested_verified_name": "WhatsApp", "rejection_reason": null } } ] } ] } ]"#;
    let l = Listen::start(&["--json"]);
    let sig = signature::sign(SECRET, EXAMPLE);
    assert_eq!(l.post(EXAMPLE, Some(&sig)).await.0, 200);
    let line: Value = serde_json::from_str(&l.take(1)[0]).unwrap();
    assert_eq!(line["field"], "phone_number_name_update");
    assert_eq!(line["waba_id"], "0");
    assert_eq!(line["time"], 1602782939);
    assert_eq!(line["typed"], true);
    assert_eq!(line["value"]["decision"], "APPROVED");
    // Signed with another secret, the same bytes are refused.
    let bad = signature::sign("other", EXAMPLE);
    assert_eq!(l.post(EXAMPLE, Some(&bad)).await.0, 403);
}

/// An https client that trusts only `root_bundle` and, when given, presents `identity` (PEM:
/// the chain, leaf first, then the key).
fn tls_client(root_bundle: &std::path::Path, identity: Option<&[u8]>) -> reqwest::Client {
    let roots =
        reqwest::Certificate::from_pem_bundle(&std::fs::read(root_bundle).unwrap()).unwrap();
    let mut b = reqwest::Client::builder().no_proxy().tls_certs_only(roots);
    if let Some(pem) = identity {
        b = b.identity(reqwest::Identity::from_pem(pem).unwrap());
    }
    b.build().unwrap()
}

fn identity_of(chain: &std::path::Path, key: &std::path::Path) -> Vec<u8> {
    let mut pem = std::fs::read(chain).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    pem
}

/// Runs `wabahook certs` with `args`; its stdout.
fn certs(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wabahook"))
        .arg("certs")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn mtls_flags(pki: &wabahook_server::pki::Pki) -> Vec<String> {
    [
        "--tls-cert",
        pki.server_chain.to_str().unwrap(),
        "--tls-key",
        pki.server_key.to_str().unwrap(),
        "--require-client-cert",
        pki.root_bundle.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

const META_CN: &str = "client.webhooks.fbclientcerts.com";

#[tokio::test]
async fn mtls_needs_a_chain_from_the_ca_with_metas_cn() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    let exported = tmp.path().join("exported-root.pem");
    let shown = certs(&[
        "--data-dir",
        data,
        "--export-root",
        exported.to_str().unwrap(),
    ]);
    assert!(shown.contains("created PKI"), "{shown}");
    assert!(
        shown.contains(META_CN) && shown.contains("sha256"),
        "{shown}"
    );
    let pki = wabahook_server::pki::ensure(&tmp.path().join("pki")).unwrap();
    assert!(!pki.created, "the PKI `certs` made is loaded, not replaced");
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&pki.root_bundle).unwrap()
    );

    let flags = mtls_flags(&pki);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let meta = identity_of(&pki.client_chain, &pki.client_key);
    let l = Listen::start_with(&flags, tls_client(&pki.root_bundle, Some(&meta)));
    assert!(l.base.starts_with("https://"), "{}", l.base);
    assert!(l.take(1)[0].contains(META_CN));

    // Meta's chain: accepted, and each line names the presented subject.
    let body = batched_body();
    let sig = signature::sign(SECRET, &body);
    assert_eq!(l.post(&body, Some(&sig)).await.0, 200);
    let lines = l.take(3);
    assert!(
        lines
            .iter()
            .all(|x| x.contains("[client ") && x.contains(META_CN)),
        "{lines:?}"
    );

    // No client certificate: the handshake is refused.
    let anonymous = tls_client(&pki.root_bundle, None);
    let r = anonymous
        .post(format!("{}/webhook", l.base))
        .header("x-hub-signature-256", &sig)
        .body(body.clone())
        .send()
        .await;
    match r {
        Err(_) => {}
        Ok(r) => assert_eq!(r.status(), 403),
    }
    l.wait_for("refused");

    // Same CA, another CN: the chain is good, the CN is not.
    let (chain, key) = wabahook_server::pki::issue_client(&pki, "someone.else.example").unwrap();
    let other = tls_client(&pki.root_bundle, Some(format!("{chain}{key}").as_bytes()));
    let r = other
        .post(format!("{}/webhook", l.base))
        .header("x-hub-signature-256", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("someone.else.example") && text.contains(META_CN),
        "{text}"
    );
    assert!(l.wait_for("rejected").contains("someone.else.example"));

    // A client certificate from another CA: refused in the handshake.
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger = wabahook_server::pki::ensure(stranger_dir.path()).unwrap();
    let foreign = identity_of(&stranger.client_chain, &stranger.client_key);
    let r = tls_client(&pki.root_bundle, Some(&foreign))
        .post(format!("{}/webhook", l.base))
        .header("x-hub-signature-256", &sig)
        .body(body.clone())
        .send()
        .await;
    match r {
        Err(_) => {}
        Ok(r) => assert_eq!(r.status(), 403),
    }
}

#[tokio::test]
async fn during_a_rotation_old_and_new_chains_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap();
    certs(&["--data-dir", data]);
    let dir = tmp.path().join("pki");
    let old = wabahook_server::pki::ensure(&dir).unwrap();
    let old_identity = identity_of(&old.client_chain, &old.client_key);

    let shown = certs(&["rotate", "--overlap-days", "7", "--data-dir", data]);
    assert!(shown.contains("previous root"), "{shown}");
    let new = wabahook_server::pki::ensure(&dir).unwrap();
    assert_eq!(
        wabahook_server::pki::read_certs(&new.root_bundle)
            .unwrap()
            .len(),
        2
    );
    let new_identity = identity_of(&new.client_chain, &new.client_key);
    assert_ne!(new_identity, old_identity);

    let mut flags = mtls_flags(&new);
    flags.push("--json".into());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let l = Listen::start_with(&flags, tls_client(&new.root_bundle, Some(&new_identity)));
    l.take(1);
    let body = batched_body();
    let sig = signature::sign(SECRET, &body);
    assert_eq!(l.post(&body, Some(&sig)).await.0, 200);
    let line: Value = serde_json::from_str(&l.take(3)[0]).unwrap();
    assert!(
        line["client_subject"].as_str().unwrap().contains(META_CN),
        "{line}"
    );

    // The old chain, from the root that is still exported during the overlap.
    let r = tls_client(&new.root_bundle, Some(&old_identity))
        .post(format!("{}/webhook", l.base))
        .header("x-hub-signature-256", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let line: Value = serde_json::from_str(&l.take(3)[0]).unwrap();
    assert!(
        line["client_subject"].as_str().unwrap().contains(META_CN),
        "{line}"
    );
}
