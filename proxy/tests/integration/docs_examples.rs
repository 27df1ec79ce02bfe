//! `docs/api.md` stays true: each of its `sh` examples runs, in order, against a real gateway and
//! a mock provider, and must succeed (the examples use `curl -f`, so an HTTP error fails them).

use std::time::Duration;

use gateway_testkit::MockProvider;

use crate::support::{AUTH_KEY, Gateway};

/// The `sh` code blocks of a markdown text, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_in_docs_api_md_runs() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"))
        .expect("docs/api.md");
    let blocks = sh_blocks(&doc);
    assert!(blocks.len() >= 8, "examples found: {}", blocks.len());
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, block) in blocks.iter().enumerate() {
        let run = tokio::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .env("BASE", gw.url(""))
            .env("AUTH_KEY", AUTH_KEY)
            .env("UPSTREAM", mock.base_url())
            .current_dir(dir.path())
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("example {i} did not finish within 60 s:\n{block}"))
            .expect("bash (and curl) must be installed");
        assert!(
            out.status.success(),
            "example {i} failed ({}):\n{block}\nstdout:\n{}\nstderr:\n{}\nproxy log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            gw.proxy.output_log()
        );
    }
    // The chat example reached the provider with an upstream key, not the proxy key.
    let chat = mock
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("the chat example reached the provider");
    assert!(
        chat.header("authorization")
            .is_some_and(|a| a.starts_with("Bearer sk-upstream-")),
        "{:?}",
        chat.header("authorization")
    );
    let exported = std::fs::read_to_string(dir.path().join("keys-openai-all.txt")).unwrap();
    assert_eq!(
        exported.lines().count(),
        8,
        "3 keys added, 5 imported from the file"
    );
}
