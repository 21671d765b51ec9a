//! The client's state file (`Messenger::load`: the password vault of
//! `zynk_sdk::client::vault`, the JSON inside, and the crypto state nested in it). First byte
//! even: the input is the file itself (files whose header asks for more than 1 MiB or 2 passes
//! of Argon2id are skipped to keep the run fast; the limits on costs are unit-tested). Odd: the
//! input is the JSON inside, sealed with a real vault, so the fuzzer reaches the state parser.
//! Otherwise: the input is an identity backup as the server hands it back at login (base64
//! text), opened under a known key.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use zynk_sdk::Messenger;
use zynk_sdk::client::{BackupKey, Vault, open_identity};
use zynk_sdk::crypto::{IdentityKey, KdfParams, UserIdentity};

const PASSWORD: &str = "fuzz";

static VAULT: LazyLock<Vault> = LazyLock::new(|| {
    let params = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    Vault::create_with_params(PASSWORD, params).expect("a vault")
});

/// The SDK's own HTTP client (TLS set up as the SDK does), shared by every load.
static HTTP: LazyLock<reqwest::Client> =
    LazyLock::new(|| zynk_sdk::client::tls::http_client().expect("an HTTP client"));

static IDENTITY: LazyLock<IdentityKey> =
    LazyLock::new(|| UserIdentity::generate().expect("randomness").public_key());

fn cheap(file: &[u8]) -> bool {
    let be = |at: usize| {
        file.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    be(10) <= 1024 && be(14) <= 2 && be(18) <= 2
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if cheap(rest) {
                let _ = Messenger::load(rest, PASSWORD, Some(&*VAULT), Some(HTTP.clone()));
            }
        }
        1 => {
            let file = VAULT.seal(rest).expect("seal");
            let _ = Messenger::load(&file, PASSWORD, Some(&*VAULT), Some(HTTP.clone()));
        }
        _ => {
            // The identity backup the server hands back at login (base64 text).
            if let Ok(text) = std::str::from_utf8(rest) {
                let backup = zynk_proto::users::IdentityBackup {
                    ciphertext: text.to_owned(),
                };
                let key = BackupKey::from_bytes([3; 32]);
                let _ = open_identity(&backup, "user", &key, &IDENTITY);
            }
        }
    }
});
