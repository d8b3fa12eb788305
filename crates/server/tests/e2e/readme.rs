//! The README's curl tour, run as written against a freshly started `wabahook serve`: every
//! `# → …` line must match what the commands print, in order (`…` stands for varying text).

use std::process::{Command, Stdio};

const README: &str = include_str!("../../../../README.md");

fn tour() -> String {
    let start = README
        .find("<!-- tour:start -->")
        .expect("tour start marker");
    let end = README.find("<!-- tour:end -->").expect("tour end marker");
    let block = &README[start..end];
    let open = block.find("```sh\n").expect("sh block") + "```sh\n".len();
    let close = block[open..].find("```").expect("block end") + open;
    block[open..close].to_string()
}

/// Finds each expectation's fragments in order in `output`; returns the first that is missing.
fn first_mismatch<'a>(output: &str, expectations: &'a [String]) -> Option<&'a str> {
    let mut at = 0;
    for e in expectations {
        for fragment in e.split('…').filter(|f| !f.is_empty()) {
            match output[at..].find(fragment) {
                Some(i) => at += i + fragment.len(),
                None => return Some(e),
            }
        }
    }
    None
}

#[tokio::test]
async fn readme_tour_does_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabahook"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stderr(Stdio::null());
    let (mut child, base) = crate::harness::spawn_serve(cmd);

    let script = tour();
    let expectations: Vec<String> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# → "))
        .map(str::to_string)
        .collect();
    assert!(expectations.len() >= 8, "the tour shows its answers");
    let script = format!(
        "set -eu\n{}",
        script.replace("http://127.0.0.1:8080", &base)
    );
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tour failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(missing) = first_mismatch(&stdout, &expectations) {
        panic!("README promises\n  {missing}\nbut the tour printed\n{stdout}");
    }
}

#[test]
fn matcher_is_strict_about_order_and_content() {
    let exp = vec!["{\"a\":…}".to_string(), "done".to_string()];
    assert_eq!(first_mismatch("{\"a\":1}done", &exp), None);
    assert!(first_mismatch("done{\"a\":1}", &exp).is_some());
    assert!(first_mismatch("{\"b\":1}done", &exp).is_some());
}
