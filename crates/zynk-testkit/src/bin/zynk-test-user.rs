//! Registers a user on a running server and prints its access token, for tools that need an
//! authenticated caller (the schemathesis run of `scripts/test.sh`).
//!
//! `zynk-test-user BASE_URL USERNAME` registers `USERNAME` with a fresh Ed25519 identity key and
//! a fresh web device key (both proving possession, as the SDK does), then prints the access
//! token on the first line of standard output and the user id on the second. Any failure exits
//! non-zero with the server's answer.

use zynk_testkit::client::{Device, Identity, register_json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: zynk-test-user BASE_URL USERNAME");
    let (base, username) = (args[1].trim_end_matches('/'), args[2].as_str());
    zynk_evm::install_tls_provider();
    let body = register_json(
        username,
        "correct horse battery",
        &Identity::random(),
        &Device::random("web"),
    );
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/register"))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(
        status == reqwest::StatusCode::CREATED,
        "registering {username} answered {status}: {text}"
    );
    let answer: serde_json::Value = serde_json::from_str(&text)?;
    let field = |key: &str| {
        answer[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no `{key}` in the answer: {text}"))
    };
    println!("{}", field("access_token")?);
    println!("{}", field("user_id")?);
    Ok(())
}
