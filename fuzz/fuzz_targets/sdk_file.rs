//! The SDK's decryption of files (AES-256-GCM STREAM segments, `zynk_sdk::crypto::file`) as a
//! download runs it. The first byte picks:
//! - 0: a file descriptor (JSON, from a decrypted message) and an arbitrary ciphertext,
//!   decrypted from the segment a resumed download would start at, in chunks of arbitrary
//!   sizes;
//! - 1: a genuine file of arbitrary content with one byte possibly flipped: it opens, with the
//!   same content, exactly when nothing was flipped;
//! - 2: an arbitrary ciphertext under a known key, for a file of an arbitrary size.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use zynk_sdk::crypto::file::{
    DecryptingWriter, EncryptedBlob, FileDescriptor, FileKey, decrypt_bytes, encrypt_bytes,
};

const CHUNK_SIZE: u64 = 65_536;

static KEY: LazyLock<FileKey> =
    LazyLock::new(|| FileKey::from_base64(&"A".repeat(43), "AAAAAAAAAA").expect("a key"));

fn u64_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (i, v) in bytes.iter().take(8).enumerate() {
        b[i] = *v;
    }
    u64::from_le_bytes(b)
}

/// Feeds `ciphertext` to a writer in chunks whose sizes come from `splits`, then finishes.
fn decrypt_in_chunks(
    key: &FileKey,
    size: u64,
    start_segment: u64,
    splits: &[u8],
    mut ciphertext: &[u8],
    sha256: &str,
) -> Option<Vec<u8>> {
    let mut writer = DecryptingWriter::new(Vec::new(), key, size, start_segment, Sha256::new());
    let mut splits = splits.iter().cycle();
    while !ciphertext.is_empty() {
        let step = usize::from(*splits.next().unwrap_or(&255)).max(1) * 61;
        let take = step.min(ciphertext.len());
        writer.push(&ciphertext[..take]).ok()?;
        ciphertext = &ciphertext[take..];
    }
    writer.finish(sha256).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            // descriptor length (2 bytes), descriptor, existing partial length (8), splits (4),
            // ciphertext.
            if rest.len() < 2 {
                return;
            }
            let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
            let (descriptor, tail) = rest[2..].split_at(len);
            let Ok(descriptor) = serde_json::from_slice::<FileDescriptor>(descriptor) else {
                return;
            };
            let _ = descriptor.message_type();
            let blob = &descriptor.blob;
            let _ = blob.ciphertext_len();
            let Ok(key) = blob.file_key() else {
                return;
            };
            let existing = u64_of(tail);
            let splits = tail.get(8..12).unwrap_or(&[]);
            let ciphertext = tail.get(12..).unwrap_or(&[]);
            let start = (existing / CHUNK_SIZE).min(blob.size / CHUNK_SIZE);
            let _ = decrypt_in_chunks(&key, blob.size, start, splits, ciphertext, &blob.sha256);
            if let Some(thumbnail) = &descriptor.thumbnail {
                let _ = decrypt_bytes(&thumbnail.blob, ciphertext);
            }
        }
        1 => {
            // flip position (4), flip mask (1), plaintext.
            if rest.len() < 5 {
                return;
            }
            let position = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let mask = rest[4];
            let plaintext = &rest[5..];
            let mut ciphertext = encrypt_bytes(&KEY, plaintext).expect("encryption");
            let flipped = mask != 0 && !ciphertext.is_empty();
            if flipped {
                let at = position % ciphertext.len();
                ciphertext[at] ^= mask;
            }
            let blob = EncryptedBlob {
                file_id: "0190a8a4-0000-7000-8000-000000000003".into(),
                key: KEY.key_base64(),
                nonce_prefix: KEY.nonce_prefix_base64(),
                chunk_size: CHUNK_SIZE as u32,
                sha256: hex(&Sha256::digest(plaintext)),
                size: plaintext.len() as u64,
                ciphertext_sha256: hex(&Sha256::digest(&ciphertext)),
            };
            match decrypt_bytes(&blob, &ciphertext) {
                Ok(opened) => {
                    assert!(!flipped, "a modified file opened");
                    assert_eq!(opened, plaintext);
                }
                Err(e) => assert!(flipped, "a genuine file did not open: {e}"),
            }
        }
        _ => {
            // size (8), start segment (1), splits (4), ciphertext.
            let size = u64_of(rest);
            let start = u64::from(rest.get(8).copied().unwrap_or(0));
            let splits = rest.get(9..13).unwrap_or(&[]);
            let ciphertext = rest.get(13..).unwrap_or(&[]);
            let _ = decrypt_in_chunks(&KEY, size, start, splits, ciphertext, "");
        }
    }
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
