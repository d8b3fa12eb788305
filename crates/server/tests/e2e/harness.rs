//! Test harness: a server in a temporary data directory and helpers that speak Graph and the
//! admin API; the callback receiver is in `receiver`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tempfile::TempDir;
use wabahook_server::{ServeConfig, Server};
use wabahook_store::testing::TestDatabase;

pub use crate::receiver::Receiver;

pub const ADMIN: &str = "test-admin-token";
pub const VERIFY_TOKEN: &str = "vt-right";

pub struct Ctx {
    pub server: Option<Server>,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: TestDir,
}

/// Where a test server keeps its state: a temporary data directory and, when the suite runs on
/// PostgreSQL (`TEST_STORE=postgres`), a fresh database of its own.
pub struct TestDir {
    tmp: TempDir,
    /// The PostgreSQL database, when there is one; shared by directories of several nodes and
    /// dropped with the last of them.
    db: Option<Arc<TestDatabase>>,
}

/// True when the suite runs on PostgreSQL instead of the SQLite default.
pub fn on_postgres() -> bool {
    match std::env::var("TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("TEST_STORE must be sqlite or postgres, not {other:?}"),
    }
}

pub fn test_dir() -> TestDir {
    if on_postgres() {
        postgres_dir()
    } else {
        TestDir {
            tmp: tempfile::tempdir().unwrap(),
            db: None,
        }
    }
}

/// A directory with a fresh PostgreSQL database whatever the suite runs on (tests of several
/// nodes). Its data directory holds a secrets key file that directories [`TestDir::sharing`] the
/// database get a copy of, since nodes on one database need one key.
pub fn postgres_dir() -> TestDir {
    let dir = TestDir {
        tmp: tempfile::tempdir().unwrap(),
        db: Some(Arc::new(TestDatabase::create_blocking())),
    };
    let key = wabahook_model::sealed::SecretKey::generate().unwrap();
    write_key_file(&dir, &key.to_base64());
    dir
}

/// Writes `key` as the secrets key file of `dir`'s data directory, as an operator copies it.
fn write_key_file(dir: &TestDir, key: &str) {
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options.open(data.join("secrets.key")).unwrap(),
        key.as_bytes(),
    )
    .unwrap();
}

impl TestDir {
    /// Another node's directory on the same database (PostgreSQL only).
    pub fn sharing(&self) -> TestDir {
        assert!(self.db.is_some(), "only a PostgreSQL store can be shared");
        let other = TestDir {
            tmp: tempfile::tempdir().unwrap(),
            db: self.db.clone(),
        };
        let key = std::fs::read_to_string(self.path().join("data/secrets.key")).unwrap();
        write_key_file(&other, &key);
        other
    }

    /// The PostgreSQL database's URL, when there is one.
    fn db_url(&self) -> Option<String> {
        self.db.as_ref().map(|db| db.url().to_string())
    }

    pub fn path(&self) -> &std::path::Path {
        self.tmp.path()
    }

    /// The store a server started with [`test_config`] uses.
    pub fn store_url(&self) -> String {
        match self.db_url() {
            Some(url) => url,
            None => format!(
                "sqlite://{}",
                self.path().join("data/wabahook.db").display()
            ),
        }
    }

    /// Flags that point a `wabahook serve` process at this store (its `--data-dir` must be
    /// `<dir>/data`).
    pub fn database_flags(&self) -> Vec<String> {
        match self.db_url() {
            Some(url) => vec!["--database".into(), url],
            None => Vec::new(),
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> i64 {
        self.body["error"]["code"].as_i64().unwrap_or(-1)
    }
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
    pub fn usage(&self) -> Option<Value> {
        self.headers
            .get("x-business-use-case-usage")
            .map(|v| serde_json::from_str(v.to_str().unwrap()).unwrap())
    }
    #[track_caller]
    pub fn assert_graph_error(&self, code: i64) {
        assert_eq!(
            self.code(),
            code,
            "unexpected reply {} {}",
            self.status,
            self.body
        );
        let e = &self.body["error"];
        assert!(
            e["message"].is_string() && e["type"].is_string(),
            "{}",
            self.body
        );
        assert!(
            e["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            self.body
        );
        assert!(self.status >= 400, "{}", self.status);
    }
    #[track_caller]
    pub fn assert_success(&self) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.body, json!({"success": true}));
    }
}

/// A configuration for tests: loopback port 0, fixed admin token, short handshake timeout.
pub fn test_config(dir: &TestDir) -> ServeConfig {
    let mut cfg = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        database: dir.db_url(),
        admin_token: Some(ADMIN.into()),
        demo: false,
        ..ServeConfig::default()
    };
    cfg.graph.handshake_timeout_ms = 700;
    cfg.delivery.timeout_ms = 700;
    cfg.delivery.lease_ms = 5_000;
    cfg.delivery.poll_interval_ms = 50;
    cfg.delivery.target_backoff_ms = 200;
    cfg.delivery.retry_schedule_secs = vec![0, 1, 60];
    cfg.delivery.retry_jitter = 0.0;
    cfg
}

impl Ctx {
    pub async fn start() -> Ctx {
        Ctx::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> Ctx {
        let dir = test_dir();
        let mut cfg = test_config(&dir);
        tweak(&mut cfg);
        Ctx::start_in(dir, cfg).await
    }

    pub async fn start_in(dir: TestDir, cfg: ServeConfig) -> Ctx {
        let server = Server::start(cfg).await.expect("server starts");
        let base = format!("http://{}", server.addr());
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Ctx {
            server: Some(server),
            base,
            http,
            dir,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }

    pub async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A Graph call with a bearer token (or none) and form parameters.
    pub async fn graph(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        form: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if !form.is_empty() {
            req = if method == reqwest::Method::GET {
                req.query(form)
            } else {
                req.form(form)
            };
        }
        Ctx::reply(req.send().await.unwrap()).await
    }

    /// A Graph call with a JSON body.
    pub async fn graph_json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Ctx::reply(req.send().await.unwrap()).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Reply {
        let resp = self
            .http
            .post(format!("{}/admin/v1/{path}", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        Ctx::reply(resp).await
    }

    pub async fn admin_get(&self, path: &str) -> Reply {
        let resp = self
            .http
            .get(format!("{}/admin/v1/{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        Ctx::reply(resp).await
    }

    /// Creates through the admin API and returns the created object, asserting 201.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let r = self.admin_post(path, body).await;
        assert_eq!(r.status, 201, "creating {path}: {}", r.body);
        r.body
    }

    /// A business with a WABA (with one phone number, registered or not), an app owned by the
    /// business and a MANAGE token with both WhatsApp permissions.
    pub async fn world(&self, registered: bool) -> World {
        let business = self.create("businesses", json!({"name": "Acme"})).await;
        let business_id = business["id"].as_str().unwrap().to_string();
        let waba = self
            .create(
                "wabas",
                json!({"business_id": business_id, "name": "Acme Support"}),
            )
            .await;
        let waba_id = waba["id"].as_str().unwrap().to_string();
        let phone = self
            .create(
                "phone_numbers",
                json!({"waba_id": waba_id, "display_phone_number": "+1 555 010 2030", "verified_name": "Acme", "registered": registered}),
            )
            .await;
        let app = self
            .create(
                "apps",
                json!({"business_id": business_id, "name": "Acme Hooks"}),
            )
            .await;
        let app_id = app["id"].as_str().unwrap().to_string();
        let token = self
            .token(
                &app_id,
                &business_id,
                &[
                    "whatsapp_business_management",
                    "whatsapp_business_messaging",
                ],
                &[(&waba_id, "MANAGE")],
            )
            .await;
        World {
            business_id,
            waba_id,
            phone_id: phone["id"].as_str().unwrap().to_string(),
            app_secret: app["secret"].as_str().unwrap().to_string(),
            app_id,
            token,
        }
    }

    pub async fn token(
        &self,
        app_id: &str,
        business_id: &str,
        permissions: &[&str],
        assets: &[(&str, &str)],
    ) -> String {
        let assets: Vec<Value> = assets
            .iter()
            .map(|(w, a)| json!({"waba_id": w, "access": a}))
            .collect();
        let t = self
            .create("tokens", json!({"app_id": app_id, "business_id": business_id, "permissions": permissions, "assets": assets}))
            .await;
        t["access_token"].as_str().unwrap().to_string()
    }
}

pub struct World {
    pub business_id: String,
    pub waba_id: String,
    pub phone_id: String,
    pub app_id: String,
    pub app_secret: String,
    pub token: String,
}

impl World {
    pub fn app_token(&self) -> String {
        format!("{}|{}", self.app_id, self.app_secret)
    }

    /// Points the app's callback at `url` for `fields` and subscribes it to the WABA.
    pub async fn subscribe(&self, ctx: &Ctx, url: &str, fields: &str) {
        ctx.graph_json(
            "POST",
            &format!("/v23.0/{}/subscriptions", self.app_id),
            Some(&self.app_token()),
            json!({"object": "whatsapp_business_account", "callback_url": url, "verify_token": VERIFY_TOKEN, "fields": fields}),
        )
        .await
        .assert_success();
        ctx.graph(
            "POST",
            &format!("/v23.0/{}/subscribed_apps", self.waba_id),
            Some(&self.token),
            &[],
        )
        .await
        .assert_success();
    }
}

impl Ctx {
    /// Injects an event through the admin API; returns the created event.
    pub async fn event(
        &self,
        waba_id: &str,
        field: &str,
        value: Value,
        phone: Option<&str>,
    ) -> Value {
        let mut body = json!({"waba_id": waba_id, "field": field, "value": value});
        if let Some(p) = phone {
            body["phone_number_id"] = json!(p);
        }
        self.create("events", body).await
    }

    /// Waits (up to 20 s) until the event's deliveries all satisfy `done`; returns them.
    pub async fn wait_deliveries(
        &self,
        event_id: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        for _ in 0..2000 {
            let r = self.admin_get(&format!("events/{event_id}")).await;
            let list = r.body["deliveries"].as_array().cloned().unwrap_or_default();
            if !list.is_empty() && list.iter().all(&done) {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "deliveries of {event_id} never settled: {}",
            self.admin_get(&format!("events/{event_id}")).await.body
        );
    }
}

/// Starts the `wabahook` binary with `cmd` (which must make it listen on a free loopback
/// port), reads the first line it prints, and returns the child and the server's base URL.
pub fn spawn_serve(mut cmd: std::process::Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("wabahook sandbox listening on http://127.0.0.1:")
            || first.starts_with("wabahook relay listening on http://127.0.0.1:"),
        "{first}"
    );
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    (child, base)
}
