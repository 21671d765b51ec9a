//! Field rules shared by the services. Each check returns the [`ApiError`] the client sees.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zynk_proto::ErrorCode;

use crate::error::ApiError;

/// Longest password accepted, in characters (PBKDF2 cost grows with length only slightly, but
/// unbounded input is never accepted).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest device name, display name and similar short texts.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest biography (data model 3.2).
pub const MAX_BIO_CHARS: usize = 500;
/// Longest URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest device fingerprint (the column is VARCHAR(64)).
pub const MAX_FINGERPRINT_CHARS: usize = 64;
/// Longest push token.
pub const MAX_PUSH_TOKEN_CHARS: usize = 4096;

/// `^[a-zA-Z0-9_]{3,64}$`.
pub fn username(value: &str) -> Result<(), ApiError> {
    let ok = (3..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidUsername,
            "username must be 3-64 characters of a-z, A-Z, 0-9 and _",
        ))
    }
}

/// Between `min_chars` and [`MAX_PASSWORD_CHARS`] characters.
pub fn password(value: &str, min_chars: usize) -> Result<(), ApiError> {
    let chars = value.chars().count();
    if chars < min_chars || chars > MAX_PASSWORD_CHARS {
        return Err(ApiError::new(
            ErrorCode::InvalidPassword,
            format!("password must be {min_chars} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Unpadded standard base64 of a 32-byte Ed25519 public key that is a valid curve point.
pub fn ed25519_key(field: &str, value: &str) -> Result<[u8; 32], ApiError> {
    let bad = |why: &str| ApiError::new(ErrorCode::InvalidKey, format!("`{field}` {why}"));
    if value.len() != 43 {
        return Err(bad(
            "must be unpadded standard base64 of 32 bytes (43 characters)",
        ));
    }
    let bytes = STANDARD_NO_PAD
        .decode(value)
        .map_err(|_| bad("is not unpadded standard base64"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| bad("must decode to 32 bytes"))?;
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| bad("is not a valid Ed25519 public key"))?;
    if verifying.is_weak() {
        return Err(bad("is a weak (small-order) Ed25519 key"));
    }
    Ok(key)
}

/// `android`, `ios` or `web`.
pub fn platform(value: &str) -> Result<(), ApiError> {
    if matches!(value, "android" | "ios" | "web") {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidPlatform,
            "platform must be android, ios or web",
        ))
    }
}

/// Free text of at most `max_chars` characters without control characters; `required` also
/// rejects empty or blank text.
pub fn text(field: &str, value: &str, max_chars: usize, required: bool) -> Result<(), ApiError> {
    if required && value.trim().is_empty() {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(ApiError::invalid_field(
            field,
            &format!("must be at most {max_chars} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid_field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A device fingerprint: 1-64 printable ASCII characters, no spaces.
pub fn fingerprint(value: &str) -> Result<(), ApiError> {
    let ok = (1..=MAX_FINGERPRINT_CHARS).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "device.fingerprint",
            "must be 1-64 printable ASCII characters without spaces",
        ))
    }
}

/// An `http://` or `https://` URL of at most [`MAX_URL_CHARS`] characters.
pub fn url(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() <= MAX_URL_CHARS
        && value.len() > "https://".len()
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            "must be an http(s) URL of at most 2048 characters",
        ))
    }
}

/// A push token: 1-4096 printable ASCII characters.
pub fn push_token(value: &str) -> Result<(), ApiError> {
    let ok = (1..=MAX_PUSH_TOKEN_CHARS).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "push_token",
            "must be 1-4096 printable ASCII characters",
        ))
    }
}

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they can
/// make a name read as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: white space, zero-width and format characters, fillers,
/// variation selectors and tags.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || is_bidi_control(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{206A}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

/// A name other users see (display name, device name): [`text`]'s rules, no bidirectional
/// overrides, embeddings or isolates, and at least one visible character.
pub fn visible_name(
    field: &str,
    value: &str,
    max_chars: usize,
    required: bool,
) -> Result<(), ApiError> {
    text(field, value, max_chars, required)?;
    if value.chars().any(is_bidi_control) {
        return Err(ApiError::invalid_field(
            field,
            "must not contain bidirectional overrides, embeddings or isolates",
        ));
    }
    if !value.is_empty() && value.chars().all(is_invisible) {
        return Err(ApiError::invalid_field(
            field,
            "must contain a visible character",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "Alice_01", &"a".repeat(64)] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "al ice", "alice!", "ålice", &"a".repeat(65), ""] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let good = STANDARD_NO_PAD.encode(key.as_bytes());
        assert!(ed25519_key("k", &good).is_ok());
        let padded = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
        assert!(ed25519_key("k", &padded).is_err());
        assert!(ed25519_key("k", &STANDARD_NO_PAD.encode([0u8; 31])).is_err());
        // The identity point is small-order: weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(ed25519_key("k", &STANDARD_NO_PAD.encode(identity)).is_err());
        assert!(ed25519_key("k", &"!".repeat(43)).is_err());
    }

    #[test]
    fn texts_and_urls() {
        assert!(text("bio", &"x".repeat(500), MAX_BIO_CHARS, false).is_ok());
        assert!(text("bio", &"x".repeat(501), MAX_BIO_CHARS, false).is_err());
        assert!(text("name", "  ", MAX_NAME_CHARS, true).is_err());
        assert!(text("name", "a\u{0}b", MAX_NAME_CHARS, true).is_err());
        assert!(url("avatar_url", "https://example.org/a.png").is_ok());
        assert!(url("avatar_url", "javascript:alert(1)").is_err());
        assert!(fingerprint("abc-123").is_ok());
        assert!(fingerprint("has space").is_err());
        assert!(platform("web").is_ok());
        assert!(platform("windows").is_err());
    }
}
