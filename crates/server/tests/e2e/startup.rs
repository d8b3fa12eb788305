//! Start-up: the demo world on an empty store, the admin token shown once and kept as a hash,
//! probes and shutdown.

use serde_json::json;
use wabahook_server::{banner, AdminToken, Server};

use crate::harness::{test_config, Ctx};

#[tokio::test]
async fn demo_world_is_created_once_and_works() {
    let dir = crate::harness::test_dir();
    let mut cfg = test_config(&dir);
    cfg.demo = true;
    cfg.admin_token = None;

    let server = Server::start(cfg.clone()).await.unwrap();
    let info = &server.info;
    assert!(info.demo_created);
    let demo = info.demo.clone().unwrap();
    let AdminToken::Generated(admin_token) = info.admin_token.clone() else {
        panic!("the first start generates the admin token");
    };
    let admin_token = admin_token.expose().to_string();
    assert!(admin_token.starts_with("whk_admin_"));
    let text = banner(info, &cfg);
    assert!(
        text.contains(&demo.access_token) && text.contains(&admin_token),
        "{text}"
    );
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.data_dir.join("demo.json")).unwrap()).unwrap();
    assert_eq!(on_disk["waba_id"], json!(demo.waba_id));

    // The printed curl line works: it subscribes the demo app to the demo WABA.
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("curl"))
        .unwrap()
        .trim()
        .to_string();
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .output()
        .await
        .expect("curl runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"success":true}"#,
        "{line}"
    );
    server.shutdown().await.unwrap();

    // A second start keeps the world and the admin token, and creates nothing new; the token
    // was shown once and is not shown again.
    let server = Server::start(cfg.clone()).await.unwrap();
    assert!(!server.info.demo_created);
    assert_eq!(server.info.admin_token, AdminToken::Earlier);
    let text = banner(&server.info, &cfg);
    assert!(
        !text.contains(&admin_token) && text.contains("admin-token reset"),
        "{text}"
    );
    assert_eq!(
        server.info.demo.as_ref().unwrap().access_token,
        demo.access_token
    );
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .get(format!("http://{}/admin/v1/businesses", server.addr()))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"].as_array().unwrap().len(), 1);
    let r: serde_json::Value = http
        .get(format!(
            "http://{}/v26.0/{}/subscribed_apps",
            server.addr(),
            demo.waba_id
        ))
        .bearer_auth(&demo.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["data"][0]["whatsapp_business_api_data"]["id"],
        json!(demo.app_id)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn probes_and_graceful_shutdown() {
    let mut ctx = Ctx::start().await;
    let r = ctx
        .http
        .get(format!("{}/healthz", ctx.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ctx
        .http
        .get(format!("{}/readyz", ctx.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let base = ctx.base.clone();
    ctx.stop().await;
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "stopped servers do not answer"
    );
}

#[tokio::test]
async fn sigterm_stops_the_binary_cleanly() {
    let dir = crate::harness::test_dir();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wabahook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(dir.database_flags())
        .arg("--log-format")
        .arg("json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(
        first.starts_with("wabahook sandbox listening on http://127.0.0.1:"),
        "{first}"
    );
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(
        reqwest::get(format!("{addr}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON log line"))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "{logs}"
    );
}

#[tokio::test]
async fn bad_configuration_is_refused_with_a_clear_message() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wabahook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            "/nonexistent/wabahook.toml",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    let dir = crate::harness::test_dir();
    let cfg = dir.path().join("w.toml");
    std::fs::write(&cfg, "[graph]\nmin_version = \"v30.0\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wabahook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("min_version"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Environment variables configure too, and flags win over them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wabahook"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WABAHOOK_RATE_LIMIT__PER_HOUR", "0")
        .env("WABAHOOK_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("per_hour"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `serve` with `vars` in its environment and returns its log lines (JSON) once it is up,
/// or its stderr if it exits without starting.
fn serve_with_env(vars: &[(&str, &str)], extra: &[&str]) -> Result<Vec<serde_json::Value>, String> {
    let dir = crate::harness::test_dir();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wabahook"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data-dir",
    ])
    .arg(dir.path())
    .args(dir.database_flags())
    .args(extra)
    .current_dir(dir.path())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("WABAHOOK_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(vars.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let started = first.starts_with("wabahook sandbox listening on http://127.0.0.1:");
    if started {
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
    }
    child.wait().unwrap();
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    if !started {
        return Err(logs);
    }
    Ok(logs
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON log line"))
        .collect())
}

fn warnings(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["level"] == "WARN")
        .map(|l| l["fields"]["message"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn other_commands_variables_do_not_stop_serve() {
    let lines = serve_with_env(
        &[
            ("WABAHOOK_APP_SECRET", "0123456789abcdef0123456789abcdef"),
            ("WABAHOOK_VERIFY_TOKEN", "my-verify-token"),
            ("WABAHOOK_SERVER", "http://127.0.0.1:8080"),
            ("WABAHOOK_DELIVERY__TIMEOUT_MS", "5000"),
        ],
        &[],
    )
    .expect("serve starts");
    assert_eq!(warnings(&lines), Vec::<String>::new());
}

#[test]
fn a_misspelt_variable_is_named_and_serve_starts() {
    let lines =
        serve_with_env(&[("WABAHOOK_DELIVERY__TIMEOUT_MSS", "5000")], &[]).expect("serve starts");
    let w = warnings(&lines);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("WABAHOOK_DELIVERY__TIMEOUT_MSS")
            && w[0].contains("did you mean WABAHOOK_DELIVERY__TIMEOUT_MS?"),
        "{}",
        w[0]
    );
}

#[test]
fn an_unknown_key_in_a_config_file_is_refused() {
    let dir = crate::harness::test_dir();
    let file = dir.path().join("wabahook.toml");
    std::fs::write(&file, "[delivery]\ntimeout_mss = 5000\n").unwrap();
    let err = serve_with_env(&[], &["--config", file.to_str().unwrap()])
        .expect_err("serve refuses the file");
    assert!(err.contains("timeout_mss"), "{err}");
}
