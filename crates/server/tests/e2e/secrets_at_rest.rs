//! Secrets at rest, end to end: the real binary at debug level with a generated admin token,
//! apps with given and generated secrets, a system-user token, Graph calls with secrets in query
//! strings, a handshake and a signed delivery to a loopback receiver, `admin-token reset` and
//! `secrets rotate-key`; then every file in the data directory (or, on PostgreSQL, every row of
//! every table) and every log line is searched for each secret in plaintext.

use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{on_postgres, test_dir, TestDir, VERIFY_TOKEN};
use crate::receiver::Receiver;

/// A running `serve` and what it printed so far.
struct Serve {
    child: Child,
    base: String,
    /// The admin token line of the banner.
    admin_line: String,
    stdout: std::thread::JoinHandle<String>,
    logs: std::thread::JoinHandle<String>,
}

/// Collects a child's stream on a thread, so that a chatty child never blocks on a full pipe.
fn collect(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

fn wabahook(dir: &TestDir, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabahook"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(dir.database_flags())
        .current_dir(dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("WABAHOOK_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn serve(dir: &TestDir) -> Serve {
    let mut child = wabahook(dir, &["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = collect(child.stderr.take().unwrap());
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut head = Vec::new();
    while !head.iter().any(|l: &String| l.contains("admin token:")) {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve ended before its banner: {head:?}"
        );
        head.push(line);
    }
    let base = head[0].trim().rsplit(' ').next().unwrap().to_string();
    let admin_line = head.last().unwrap().trim().to_string();
    Serve {
        child,
        base,
        admin_line,
        stdout: collect(stdout),
        logs,
    }
}

impl Serve {
    /// Stops it with SIGTERM; returns (the rest of stdout, the logs).
    async fn stop(mut self) -> (String, String) {
        // Answering means serving, and so listening for the signal too.
        let health = reqwest::Client::builder().no_proxy().build().unwrap();
        assert_eq!(
            health
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert!(Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}");
        (self.stdout.join().unwrap(), self.logs.join().unwrap())
    }
}

/// Runs a command to its end; returns its stdout, asserting success.
fn run(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `text` shows right after `after`, up to the end of that line (or of the next one, when
/// `after` ends its line).
fn printed_value(text: &str, after: &str) -> String {
    let at = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in {text}"));
    text[at + after.len()..]
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap()
        .to_string()
}

struct Admin<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
}

impl Admin<'_> {
    async fn create(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/admin/v1/{path}", self.base))
            .bearer_auth(self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{path}");
        r.json().await.unwrap()
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn no_token_or_secret_is_stored_or_logged_in_plaintext() {
    let dir = test_dir();
    let data = dir.path().join("data");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let rx = Receiver::start().await;
    let mut logs = String::new();

    // First start: the admin token is generated and shown, this once.
    let one = serve(&dir);
    let admin_token = printed_value(&one.admin_line, "admin token: ")
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(admin_token.starts_with("whk_admin_"), "{}", one.admin_line);
    let base = one.base.clone();
    let admin = Admin {
        http: &http,
        base: &base,
        token: &admin_token,
    };
    let business = id(&admin.create("businesses", json!({"name": "Acme"})).await);
    let waba = id(&admin
        .create(
            "wabas",
            json!({"business_id": business, "name": "Acme Support"}),
        )
        .await);
    admin
        .create(
            "phone_numbers",
            json!({"waba_id": waba, "display_phone_number": "15550102030", "verified_name": "Acme", "registered": true}),
        )
        .await;
    let given_secret = "given-app-secret-7f3a9c";
    let app = id(&admin
        .create(
            "apps",
            json!({"business_id": business, "name": "Hooks", "secret": given_secret}),
        )
        .await);
    let generated = admin
        .create("apps", json!({"business_id": business, "name": "Other"}))
        .await;
    let generated_secret = generated["secret"].as_str().unwrap().to_string();
    let token = admin
        .create(
            "tokens",
            json!({"app_id": app, "business_id": business,
                   "permissions": ["whatsapp_business_management", "whatsapp_business_messaging"],
                   "assets": [{"waba_id": waba, "access": "MANAGE"}]}),
        )
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let app_token = format!("{app}|{given_secret}");

    // Graph calls with the secrets in query strings, a handshake and a signed delivery.
    let ok = |r: reqwest::Response| {
        assert!(r.status().is_success(), "{r:?}");
        r
    };
    ok(http
        .get(format!(
            "{base}/v23.0/oauth/access_token?grant_type=client_credentials&client_id={app}&client_secret={given_secret}"
        ))
        .send()
        .await
        .unwrap());
    ok(http
        .post(format!("{base}/v23.0/{app}/subscriptions"))
        .query(&[("access_token", app_token.as_str())])
        .form(&[
            ("object", "whatsapp_business_account"),
            ("callback_url", &rx.url("/hook")),
            ("verify_token", VERIFY_TOKEN),
            ("fields", "messages"),
        ])
        .send()
        .await
        .unwrap());
    ok(http
        .post(format!(
            "{base}/v23.0/{waba}/subscribed_apps?access_token={token}"
        ))
        .send()
        .await
        .unwrap());
    ok(http
        .get(format!(
            "{base}/v23.0/{waba}/subscribed_apps?access_token={token}"
        ))
        .send()
        .await
        .unwrap());
    admin
        .create(
            "events",
            json!({"waba_id": waba, "field": "messages", "sample": true}),
        )
        .await;
    let posts = rx.wait_posts(1).await;
    assert!(posts[0].headers.contains_key("x-hub-signature-256"));
    let (_, l) = one.stop().await;
    logs.push_str(&l);

    // A second start does not show the token again; it still works.
    let two = serve(&dir);
    assert!(
        !two.admin_line.contains(&admin_token) && two.admin_line.contains("admin-token reset"),
        "{}",
        two.admin_line
    );
    let status = |base: String, token: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/admin/v1/businesses"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(two.base.clone(), admin_token.clone()).await, 200);
    let (rest, l) = two.stop().await;
    assert!(!rest.contains(&admin_token));
    logs.push_str(&l);

    // A new admin token, and a new secrets key, both offline.
    let key_file = data.join("secrets.key");
    let key_before = std::fs::read_to_string(&key_file).unwrap();
    let out = run(wabahook(&dir, &["admin-token", "reset"]));
    let new_admin_token = printed_value(&out, "shown only now (servers accept it once restarted):");
    assert!(new_admin_token.starts_with("whk_admin_"), "{out}");
    let out = run(wabahook(&dir, &["secrets", "rotate-key"]));
    // Two apps of the test's and the demo world's one.
    assert!(out.contains("Re-encrypted 3 app secrets"), "{out}");
    let key_after = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(key_before, key_after);
    assert!(
        !out.contains(key_after.trim()),
        "a key file's key is not printed: {out}"
    );

    // The third start opens the secrets with the new key and knows only the new admin token.
    let three = serve(&dir);
    assert_eq!(status(three.base.clone(), admin_token.clone()).await, 401);
    assert_eq!(
        status(three.base.clone(), new_admin_token.clone()).await,
        200
    );
    ok(http
        .get(format!(
            "{}/v23.0/oauth/access_token?grant_type=client_credentials&client_id={app}&client_secret={given_secret}",
            three.base
        ))
        .send()
        .await
        .unwrap());
    let (_, l) = three.stop().await;
    logs.push_str(&l);

    // The logs were on at debug level and saw the calls.
    assert!(logs.contains("/subscribed_apps"), "{logs}");
    let secrets = [
        ("the admin token", admin_token.as_str()),
        ("the reset admin token", new_admin_token.as_str()),
        ("a given app secret", given_secret),
        ("a generated app secret", generated_secret.as_str()),
        ("a system-user token", token.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(secret), "{what} is in the logs");
    }
    assert!(
        !logs.contains(VERIFY_TOKEN),
        "the verify token is in the logs"
    );

    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    let mut stored: Vec<(String, Vec<u8>)> = files(&data)
        .into_iter()
        .map(|(p, bytes)| (p.display().to_string(), bytes))
        .collect();
    if on_postgres() {
        stored.push((
            "the PostgreSQL database".into(),
            wabahook_store::testing::dump_postgres(&dir.store_url())
                .await
                .into_bytes(),
        ));
    } else {
        assert!(
            stored.iter().any(|(p, _)| p.ends_with("wabahook.db")),
            "{:?}",
            stored.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
    for (place, bytes) in &stored {
        for (what, secret) in secrets {
            assert!(!contains(bytes, secret), "{what} is in {place}");
        }
    }
    // The stored app secrets are there, sealed.
    assert!(
        stored.iter().any(|(_, bytes)| contains(bytes, "v1:")),
        "no sealed secret found"
    );
}

#[tokio::test]
async fn the_demo_secret_is_only_in_demo_json_and_a_readable_key_file_is_refused() {
    let dir = test_dir();
    let data = dir.path().join("data");
    let one = serve(&dir);
    let (_, logs) = one.stop().await;
    let demo_file = data.join("demo.json");
    let demo: Value = serde_json::from_slice(&std::fs::read(&demo_file).unwrap()).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&demo_file), 0o600);
    let mut stored: Vec<(String, Vec<u8>)> = files(&data)
        .into_iter()
        .filter(|(p, _)| p != &demo_file)
        .map(|(p, bytes)| (p.display().to_string(), bytes))
        .collect();
    if on_postgres() {
        stored.push((
            "the PostgreSQL database".into(),
            wabahook_store::testing::dump_postgres(&dir.store_url())
                .await
                .into_bytes(),
        ));
    }
    for key in ["app_secret", "access_token"] {
        let secret = demo[key].as_str().unwrap();
        assert!(!logs.contains(secret), "the demo's {key} is in the logs");
        for (place, bytes) in &stored {
            assert!(!contains(bytes, secret), "the demo's {key} is in {place}");
        }
    }

    // A key file others may read stops the start, with what to do about it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key_file = data.join("secrets.key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = wabahook(&dir, &["serve", "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("chmod 600"), "{err}");
    }
}

/// A database from before secrets were sealed: a plaintext app secret and admin token.
#[tokio::test]
async fn an_old_database_is_upgraded_at_start() {
    use wabahook_model::clock::SystemClock;
    use wabahook_store::{App, Business, OnConflict};
    let dir = test_dir();
    let old = wabahook_store::open(&dir.store_url(), std::sync::Arc::new(SystemClock))
        .await
        .unwrap();
    let b = Business {
        id: "100000000000009".into(),
        name: "Old".into(),
        created_at: 1,
    };
    old.put_business(&b, OnConflict::Fail).await.unwrap();
    let app = App {
        id: "200000000000009".into(),
        business_id: b.id.clone(),
        name: "Old app".into(),
        link: String::new(),
        secret: "old-plaintext-secret".into(),
        created_at: 1,
    };
    old.put_app(&app, OnConflict::Fail).await.unwrap();
    old.setting_or_insert("admin_token", "whk_admin_oldplaintext")
        .await
        .unwrap();
    drop(old);

    let mut cfg = crate::harness::test_config(&dir);
    cfg.admin_token = None;
    let server = wabahook_server::Server::start(cfg.clone()).await.unwrap();
    assert_eq!(
        server.info.admin_token,
        wabahook_server::AdminToken::Earlier
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .get(format!("http://{}/admin/v1/businesses", server.addr()))
        .bearer_auth("whk_admin_oldplaintext")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!(
            "http://{}/v23.0/oauth/access_token?grant_type=client_credentials&client_id={}&client_secret=old-plaintext-secret",
            server.addr(),
            app.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();

    let mut stored: Vec<Vec<u8>> = files(&cfg.data_dir).into_iter().map(|(_, b)| b).collect();
    if on_postgres() {
        stored.push(
            wabahook_store::testing::dump_postgres(&dir.store_url())
                .await
                .into_bytes(),
        );
    }
    assert!(stored.iter().any(|b| contains(b, "Old app")));
    for bytes in &stored {
        assert!(!contains(bytes, "old-plaintext-secret"));
        assert!(!contains(bytes, "whk_admin_oldplaintext"));
    }
}

/// A rotation cut off after its commit is finished at the next start; one cut off before its
/// commit is discarded.
#[tokio::test]
async fn an_interrupted_rotation_is_finished_or_discarded() {
    use wabahook_model::clock::SystemClock;
    use wabahook_model::sealed::{Keyring, SecretKey};
    let dir = test_dir();
    let cfg = crate::harness::test_config(&dir);
    let server = wabahook_server::Server::start(cfg.clone()).await.unwrap();
    let admin = Admin {
        http: &reqwest::Client::builder().no_proxy().build().unwrap(),
        base: &format!("http://{}", server.addr()),
        token: crate::harness::ADMIN,
    };
    let business = id(&admin.create("businesses", json!({"name": "Acme"})).await);
    let app_id = id(&admin
        .create(
            "apps",
            json!({"business_id": business, "name": "Hooks", "secret": "rotating-secret"}),
        )
        .await);
    server.shutdown().await.unwrap();

    let key_file = cfg.data_dir.join("secrets.key");
    let pending = cfg.data_dir.join("secrets.key.new");
    let read = |p: &Path| SecretKey::from_base64(&std::fs::read_to_string(p).unwrap()).unwrap();
    let write = |p: &Path, k: &SecretKey| {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        writeln!(o.open(p).unwrap(), "{}", k.to_base64()).unwrap();
    };
    let old = read(&key_file);

    // Cut off before the commit: the pending key is dropped, the old one stays.
    write(&pending, &SecretKey::generate().unwrap());
    let server = wabahook_server::Server::start(cfg.clone()).await.unwrap();
    server.shutdown().await.unwrap();
    assert!(!pending.exists());
    assert_eq!(read(&key_file).id(), old.id());

    // Cut off after the commit: the pending key is installed.
    let new = SecretKey::generate().unwrap();
    write(&pending, &new);
    let store = wabahook_store::open(&dir.store_url(), std::sync::Arc::new(SystemClock))
        .await
        .unwrap();
    store.use_keyring(Keyring::new(old.clone())).await.unwrap();
    store
        .use_keyring(Keyring::new(new.clone()).also_opening(old.clone()))
        .await
        .unwrap();
    drop(store);
    let server = wabahook_server::Server::start(cfg.clone()).await.unwrap();
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!(
            "http://{}/v23.0/oauth/access_token?grant_type=client_credentials&client_id={}&client_secret=rotating-secret",
            server.addr(),
            app_id,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();
    assert!(!pending.exists());
    assert_eq!(read(&key_file).id(), new.id());
}
