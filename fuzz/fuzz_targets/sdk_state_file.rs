//! The SDK's crypto state file (`CryptoMachine::load`, format in `zynk_sdk::crypto::store`).
//! First byte even: the input is the file itself (header parsing and its refusals; files whose
//! header asks for more than 1 MiB or 2 passes of Argon2id are skipped to keep the run fast,
//! the limits on costs are unit-tested). Odd: the input is the JSON inside, sealed here in the
//! file format with cheap Argon2id costs, so the fuzzer reaches the state parser and the
//! restoring of pickles, sessions, devices and trust.
#![no_main]
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use libfuzzer_sys::fuzz_target;
use zynk_sdk::crypto::CryptoMachine;

const PASSPHRASE: &str = "fuzz";
const HEADER_LEN: usize = 50;

/// A state file around `plaintext`: magic, version 1, Argon2id 64 KiB × 1 pass × 1 lane,
/// salt, nonce, AES-256-GCM with the header as associated data.
fn seal(plaintext: &[u8]) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(b"ZYNKSTAT");
    header[8] = 1;
    header[9] = 1;
    header[10..14].copy_from_slice(&64u32.to_be_bytes());
    header[14..18].copy_from_slice(&1u32.to_be_bytes());
    header[18..22].copy_from_slice(&1u32.to_be_bytes());
    header[22..38].copy_from_slice(&[5; 16]);
    header[38..50].copy_from_slice(&[9; 12]);
    let mut keys = [0u8; 64];
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(64, 1, 1, Some(64)).expect("params"),
    )
    .hash_password_into(PASSPHRASE.as_bytes(), &header[22..38], &mut keys)
    .expect("argon2");
    let cipher = Aes256Gcm::new_from_slice(&keys[..32]).expect("key");
    let nonce = Nonce::from(<[u8; 12]>::try_from(&header[38..50]).expect("12 bytes"));
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &header,
            },
        )
        .expect("encryption");
    [header.as_slice(), &ciphertext].concat()
}

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
    if mode % 2 == 0 {
        if cheap(rest) {
            let _ = CryptoMachine::load(rest, PASSPHRASE);
        }
    } else {
        let file = seal(rest);
        if let Ok(machine) = CryptoMachine::load(&file, PASSPHRASE) {
            // A restored state saves and loads again.
            let params = zynk_sdk::crypto::KdfParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            };
            let saved = machine.save_with_params(PASSPHRASE, params).expect("save");
            CryptoMachine::load(&saved, PASSPHRASE).expect("a saved state loads");
        }
    }
});
