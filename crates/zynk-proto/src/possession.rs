//! Proof of possession of Ed25519 keys: the statements a key signs when it is registered
//! (`POST /api/v1/auth/register`), when a device logs in (`POST /api/v1/auth/login`) and when
//! an identity key is rotated (`PUT /api/v1/users/me/identity-key`), so the server only ever
//! records, and the ledger and credentials only ever name, keys whose holder took part.
//!
//! Every statement is
//!
//! ```text
//! "zynk/key-possession/v1" 0x00 ‖ purpose ‖ 0x00 ‖ subject ‖ 0x00 ‖ key (32) ‖ other key (32)
//! ```
//!
//! | purpose | subject | key | other key | signed by |
//! |---|---|---|---|---|
//! | `register` | the username in ASCII lower case | identity key | device key | the identity key (`identity_signature`) and the device key (`device_signature`) |
//! | `login` | the username in ASCII lower case | device key | 32 zero bytes | the device key (`device_signature`) |
//! | `rotate` | the user's DID (`did:zynk:…`) | new identity key | current identity key | the new identity key (`new_key_signature`) |
//!
//! Signatures are Ed25519 (RFC 8032), unpadded standard base64 of 64 bytes.

/// Domain tag of every proof-of-possession statement.
pub const POSSESSION_DOMAIN: &[u8] = b"zynk/key-possession/v1";

/// The statement of `purpose` about `key` (and `other`) for `subject`.
pub fn possession_bytes(purpose: &str, subject: &str, key: &[u8; 32], other: &[u8; 32]) -> Vec<u8> {
    let mut bytes =
        Vec::with_capacity(POSSESSION_DOMAIN.len() + purpose.len() + subject.len() + 67);
    bytes.extend_from_slice(POSSESSION_DOMAIN);
    bytes.push(0);
    bytes.extend_from_slice(purpose.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(subject.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(other);
    bytes
}

/// What the identity key and the device key sign at registration.
pub fn register_bytes(username: &str, identity_key: &[u8; 32], device_key: &[u8; 32]) -> Vec<u8> {
    possession_bytes(
        "register",
        &username.to_ascii_lowercase(),
        identity_key,
        device_key,
    )
}

/// What the device key signs at login.
pub fn login_bytes(username: &str, device_key: &[u8; 32]) -> Vec<u8> {
    possession_bytes(
        "login",
        &username.to_ascii_lowercase(),
        device_key,
        &[0; 32],
    )
}

/// What the new identity key signs at a rotation.
pub fn rotate_bytes(did: &str, new_key: &[u8; 32], current_key: &[u8; 32]) -> Vec<u8> {
    possession_bytes("rotate", did, new_key, current_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_distinct_and_fold_the_username() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(register_bytes("Ann", &a, &b), register_bytes("ann", &a, &b));
        assert_ne!(register_bytes("ann", &a, &b), register_bytes("ann", &b, &a));
        assert_ne!(login_bytes("ann", &a), register_bytes("ann", &a, &[0; 32]));
        assert!(
            register_bytes("ann", &a, &b).starts_with(b"zynk/key-possession/v1\0register\0ann\0")
        );
        assert_eq!(
            register_bytes("ann", &a, &b).len(),
            22 + 1 + 8 + 1 + 3 + 1 + 64
        );
    }
}
