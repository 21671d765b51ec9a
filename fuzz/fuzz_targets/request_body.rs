//! HTTP request bodies as the server reads them: the `ApiJson` extractor's checks (nesting
//! depth, top-level object, no escaped NUL), serde into the route's request type, then the
//! services' field checks that need no database. The first byte picks the request type.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use zynk_proto::{auth, calls, conversations, devices, files, groups, keys, messages};
use zynk_proto::{to_device, trust, users};
use zynk_server::http::extract::json_depth_exceeds;
use zynk_server::http::hardening::check_body_shape;
use zynk_server::services::{accounts, keys as key_service, possession, validation};

/// The server's default `limits.max_json_depth`.
const MAX_DEPTH: usize = 32;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    if json_depth_exceeds(body, MAX_DEPTH) || check_body_shape(body).is_err() {
        return None;
    }
    serde_json::from_slice(body).ok()
}

fn device(device: &auth::DeviceInfo) -> Option<[u8; 32]> {
    accounts::validate_device(device).ok()?;
    validation::ed25519_key("device.public_key", &device.public_key).ok()
}

fn check_keys(upload: &keys::KeysUploadRequest) {
    for key in &upload.one_time_keys {
        let _ = key_service::validate_signed_key("one_time_keys", key, false);
    }
    if let Some(key) = &upload.fallback_key {
        let _ = key_service::validate_signed_key("fallback_key", key, true);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 22 {
        0 => {
            if let Some(r) = parse::<auth::RegisterRequest>(body) {
                let _ = validation::username(&r.username);
                let _ = validation::password(&r.password, 8);
                let identity = validation::ed25519_key("identity_key", &r.identity_key);
                if let (Ok(identity), Some(device_key)) = (identity, device(&r.device)) {
                    let statement =
                        zynk_proto::possession::register_bytes(&r.username, &identity, &device_key);
                    let _ = possession::verify(
                        "identity_signature",
                        r.identity_signature.as_deref(),
                        &identity,
                        &statement,
                        "identity key",
                    );
                    let _ = possession::verify(
                        "device_signature",
                        r.device_signature.as_deref(),
                        &device_key,
                        &statement,
                        "device key",
                    );
                }
            }
        }
        1 => {
            if let Some(r) = parse::<auth::LoginRequest>(body)
                && let Some(device_key) = device(&r.device)
            {
                let statement = zynk_proto::possession::login_bytes(&r.username, &device_key);
                let _ = possession::verify(
                    "device_signature",
                    r.device_signature.as_deref(),
                    &device_key,
                    &statement,
                    "device key",
                );
            }
        }
        2 => drop(parse::<auth::RefreshRequest>(body)),
        3 => drop(parse::<calls::CreateCallRequest>(body)),
        4 => drop(parse::<conversations::CreateConversationRequest>(body)),
        5 => drop(parse::<conversations::ReceiptRequest>(body)),
        6 => {
            if let Some(r) = parse::<devices::PushTokenRequest>(body) {
                if let Some(token) = &r.push_token {
                    let _ = validation::push_token(token);
                }
            }
        }
        7 => drop(parse::<files::CreateFileRequest>(body)),
        8 => {
            if let Some(r) = parse::<groups::CreateGroupRequest>(body) {
                let _ = validation::visible_name("name", &r.name, validation::MAX_NAME_CHARS, true);
                if let Some(url) = &r.avatar_url {
                    let _ = validation::url("avatar_url", url);
                }
            }
        }
        9 => drop(parse::<groups::UpdateGroupRequest>(body)),
        10 => drop(parse::<groups::AddMemberRequest>(body)),
        11 => {
            if let Some(r) = parse::<keys::KeysUploadRequest>(body) {
                check_keys(&r);
            }
        }
        12 => drop(parse::<keys::KeysQueryRequest>(body)),
        13 => drop(parse::<keys::KeysClaimRequest>(body)),
        14 => drop(parse::<messages::SendMessageRequest>(body)),
        15 => drop(parse::<to_device::ToDeviceSendRequest>(body)),
        16 => drop(parse::<to_device::ToDeviceAck>(body)),
        17 => drop(parse::<trust::ReportRequest>(body)),
        18 => {
            if let Some(r) = parse::<trust::RotateIdentityKeyRequest>(body) {
                let _ = validation::ed25519_key("identity_key", &r.identity_key);
            }
        }
        19 => {
            if let Some(r) = parse::<users::ProfileUpdate>(body) {
                if let Some(Some(name)) = &r.display_name {
                    let _ = validation::visible_name(
                        "display_name",
                        name,
                        validation::MAX_NAME_CHARS,
                        false,
                    );
                }
                if let Some(Some(url)) = &r.avatar_url {
                    let _ = validation::url("avatar_url", url);
                }
            }
        }
        20 => drop(parse::<users::PrivacyUpdate>(body)),
        _ => {
            drop(parse::<users::DeleteAccountRequest>(body));
            drop(parse::<users::ChangePasswordRequest>(body));
            drop(parse::<users::IdentityBackup>(body));
        }
    }
});
