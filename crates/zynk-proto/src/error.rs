//! The one error shape of the API: `{"error": {"code": "snake_case_code", "message": "…"}}`.

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable machine-readable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable snake_case code that clients match on (see [`ErrorCode`]).
    pub code: String,
    /// Human-readable explanation; wording may change between releases.
    pub message: String,
}

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:literal, $doc:literal;)*) => {
        /// Every error code the API can return, with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorCode {
            /// All codes, for documentation and exhaustiveness tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The snake_case code sent on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status code that goes with this error.
            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// Parses a wire code back into an [`ErrorCode`].
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    InvalidJson => "invalid_json", 400, "The body is not valid JSON or does not match the schema.";
    JsonTooDeep => "json_too_deep", 400, "The JSON body nests deeper than allowed.";
    UnsupportedMediaType => "unsupported_media_type", 415, "The body is not `application/json`.";
    PayloadTooLarge => "payload_too_large", 413, "The body is larger than allowed.";
    InvalidUsername => "invalid_username", 400, "Usernames are 3-64 characters of a-z, A-Z, 0-9 and _.";
    InvalidPassword => "invalid_password", 400, "The password is too short or too long.";
    InvalidKey => "invalid_key", 400, "A key is not unpadded standard base64 of a valid 32-byte key.";
    InvalidPlatform => "invalid_platform", 400, "The device platform is not android, ios or web.";
    InvalidField => "invalid_field", 400, "A field is missing, too long or malformed.";
    UsernameTaken => "username_taken", 409, "The username (compared case-insensitively) is taken.";
    FingerprintTaken => "device_fingerprint_taken", 409, "Another account registered this device fingerprint.";
    InvalidCredentials => "invalid_credentials", 401, "Unknown username or wrong password.";
    Unauthenticated => "unauthenticated", 401, "No valid access token was presented.";
    TokenExpired => "token_expired", 401, "The token has expired.";
    InvalidRefreshToken => "invalid_refresh_token", 401, "The refresh token is unknown, expired or revoked.";
    RefreshTokenReused => "refresh_token_reused", 401, "A rotated refresh token was replayed; its whole session was revoked.";
    Forbidden => "forbidden", 403, "The caller may not do this.";
    NotFound => "not_found", 404, "No such resource, or it is not visible to the caller.";
    MessageIdConflict => "message_id_conflict", 409, "The message id is already used by different content.";
    ContentHashMismatch => "content_hash_mismatch", 400, "content_hash is not the SHA-256 of encrypted_content.";
    InvalidRelation => "invalid_relation", 400, "The related message is missing, deleted, or not the sender's.";
    GroupFull => "group_full", 409, "The group already has max_members members.";
    AlreadyMember => "already_member", 409, "The user is already a member of the group.";
    NotGroupMember => "not_group_member", 404, "The user is not a member of the group.";
    LastAdmin => "last_admin", 409, "The group's only admin cannot step down while other members remain (leave instead: the longest-standing member is promoted).";
    TooManyKeys => "too_many_keys", 400, "The upload would exceed the device's one-time key limit.";
    AlreadyReported => "already_reported", 409, "The caller already reported or vouched for this user (one report per day, one vouch ever).";
    NoSharedConversation => "no_shared_conversation", 403, "Reports and vouches need a conversation with the user.";
    NoMessageFromUser => "no_message_from_user", 403, "A spam report needs a message the reported user sent you.";
    NotAccepting => "recipient_not_accepting", 403, "The recipient does not accept messages from the caller (the same answer whatever the reason).";
    NotARequest => "not_a_request", 409, "The conversation is not a message request the caller can decline (a group, or already accepted).";
    InvalidSignature => "invalid_signature", 400, "The signature does not verify under the current identity key.";
    KeyReused => "key_reused", 409, "The new identity key equals the current or an earlier key.";
    FileTooLarge => "file_too_large", 413, "The file is larger than the server's per-file limit.";
    QuotaExceeded => "quota_exceeded", 413, "The upload would take the caller's files over their storage quota.";
    UploadOffsetMismatch => "upload_offset_mismatch", 409, "`Upload-Offset` is not where the server's copy of the upload ends; continue from the offset it reports.";
    UploadExceedsSize => "upload_exceeds_size", 400, "The bytes sent go past the file's declared size.";
    UploadComplete => "upload_complete", 409, "The upload is complete already.";
    FileHashMismatch => "file_hash_mismatch", 422, "The uploaded bytes do not have the declared SHA-256; the upload was discarded.";
    FileNotReady => "file_not_ready", 409, "The file's upload has not completed yet.";
    FileGone => "file_gone", 410, "The file expired or was deleted.";
    RangeNotSatisfiable => "range_not_satisfiable", 416, "The `Range` header is malformed or lies outside the file.";
    CallTransition => "illegal_call_transition", 409, "The call is not in a state that allows this (answering one's own call, ending an ended call, …).";
    CallActive => "call_active", 409, "The conversation already has an active call.";
    TurnUnavailable => "turn_not_configured", 503, "This server has no TURN service configured.";
    LocationRequired => "location_required", 409, "Share a location (`PUT /api/v1/location`) within the last five minutes before searching nearby users.";
    ProximityDisabled => "proximity_disabled", 403, "Proximity discovery is off for the caller (`allow_proximity_discovery`) or on this server.";
    RouteNotFound => "route_not_found", 404, "No such route.";
    MethodNotAllowed => "method_not_allowed", 405, "The route does not accept this method.";
    RateLimited => "rate_limited", 429, "Too many requests; retry after the `Retry-After` seconds.";
    TooManyConnections => "too_many_connections", 503, "The server (or this client address) has too many open connections; retry after the `Retry-After` seconds.";
    RequestTimeout => "request_timeout", 503, "The request took longer than the server allows.";
    Unavailable => "service_unavailable", 503, "A backing service is unreachable.";
    Internal => "internal_error", 500, "An unexpected server error; details are in the server log.";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert_eq!(ErrorCode::from_code(s), Some(*code));
            assert!((400..600).contains(&code.http_status()));
        }
    }
}
