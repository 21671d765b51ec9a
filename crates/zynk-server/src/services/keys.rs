//! Identity backups, device keys and one-time keys.

use std::sync::Arc;

use base64::Engine;
use zynk_backends::model::{KeyStock, KeyUpload, StoredKey};
use zynk_proto::keys::{
    ClaimedKey, DeviceKeysBundle, DeviceRef, KeyCounts, KeysClaimResponse, KeysQueryResponse,
    KeysUploadRequest, MAX_DEVICES_PER_CLAIM, MAX_ONE_TIME_KEYS_PER_UPLOAD,
    MAX_STORED_ONE_TIME_KEYS, MAX_USERS_PER_QUERY, ONE_TIME_KEYS_LOW, SignedKey, UserKeys,
};
use zynk_proto::users::{IdentityBackup, MAX_IDENTITY_BACKUP_BYTES};
use zynk_proto::ws::ServerFrame;
use zynk_proto::{DeviceId, ErrorCode, UserId};

use super::auth::AuthContext;
use crate::context::Context;
use crate::error::ApiError;
use crate::realtime::{Hub, Target};

/// Keys of devices and users.
#[derive(Clone)]
pub struct KeyService {
    context: Arc<Context>,
    hub: Arc<Hub>,
    rate_limits: super::rate_limit::RateLimiter,
}

/// Standard base64, padded or not.
pub(crate) fn decode_base64(value: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(value).ok()
}

fn key_field(field: &str, value: &str, len: usize) -> Result<(), ApiError> {
    match decode_base64(value) {
        Some(bytes) if bytes.len() == len => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::InvalidKey,
            format!("`{field}` must be base64 of {len} bytes"),
        )),
    }
}

/// The checks of one uploaded one-time or fallback key (public for the fuzz targets, which run
/// them on arbitrary bodies).
pub fn validate_signed_key(
    field: &str,
    key: &SignedKey,
    fallback: bool,
) -> Result<StoredKey, ApiError> {
    if key.key_id.is_empty()
        || key.key_id.len() > 64
        || !key.key_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid_field(
            field,
            "key_id must be 1-64 printable characters",
        ));
    }
    if key.fallback != fallback {
        let want = if fallback { "true" } else { "false" };
        return Err(ApiError::invalid_field(
            field,
            &format!("must have fallback = {want}"),
        ));
    }
    key_field(&format!("{field}.key"), &key.key, 32)?;
    key_field(&format!("{field}.signature"), &key.signature, 64)?;
    Ok(StoredKey {
        key_id: key.key_id.clone(),
        public_key: key.key.clone(),
        signature: key.signature.clone(),
    })
}

fn counts(stock: KeyStock) -> KeyCounts {
    KeyCounts {
        one_time_key_count: stock.one_time_keys,
        fallback_key_present: stock.fallback_key,
        device_keys_present: stock.device_keys,
    }
}

impl KeyService {
    /// A service over the shared context.
    pub fn new(context: Arc<Context>, hub: Arc<Hub>) -> Self {
        Self {
            rate_limits: super::rate_limit::RateLimiter::new(context.clone()),
            context,
            hub,
        }
    }

    /// Stores the caller's encrypted identity backup.
    pub async fn put_backup(
        &self,
        caller: &AuthContext,
        backup: &IdentityBackup,
    ) -> Result<(), ApiError> {
        let bytes = decode_base64(&backup.ciphertext)
            .ok_or_else(|| ApiError::invalid_field("ciphertext", "must be standard base64"))?;
        if bytes.is_empty() || bytes.len() > MAX_IDENTITY_BACKUP_BYTES {
            return Err(ApiError::invalid_field(
                "ciphertext",
                "must be 1 to 4096 bytes",
            ));
        }
        self.context
            .store
            .put_identity_backup(caller.user_id, &bytes, zynk_backends::now())
            .await?;
        Ok(())
    }

    /// Reads the caller's encrypted identity backup.
    pub async fn get_backup(&self, caller: &AuthContext) -> Result<IdentityBackup, ApiError> {
        let bytes = self
            .context
            .store
            .get_identity_backup(caller.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("identity backup"))?;
        Ok(IdentityBackup {
            ciphertext: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    fn validate_bundle(
        &self,
        caller: &AuthContext,
        bundle: &DeviceKeysBundle,
        device_key: &str,
    ) -> Result<(), ApiError> {
        if bundle.user_id != caller.user_id.to_string()
            || bundle.device_id != caller.device_id.to_string()
        {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "device keys must be uploaded by the device they belong to",
            ));
        }
        if bundle.ed25519 != device_key {
            return Err(ApiError::new(
                ErrorCode::InvalidKey,
                "`device_keys.ed25519` must be the device's registered public key",
            ));
        }
        key_field("device_keys.curve25519", &bundle.curve25519, 32)?;
        key_field("device_keys.device_signature", &bundle.device_signature, 64)?;
        key_field(
            "device_keys.identity_signature",
            &bundle.identity_signature,
            64,
        )?;
        if bundle.algorithms.is_empty()
            || bundle.algorithms.len() > 8
            || bundle
                .algorithms
                .iter()
                .any(|a| a.is_empty() || a.len() > 64)
        {
            return Err(ApiError::invalid_field(
                "device_keys.algorithms",
                "must list 1-8 names",
            ));
        }
        Ok(())
    }

    /// Uploads the calling device's key bundle, one-time keys and fallback key.
    pub async fn upload(
        &self,
        caller: &AuthContext,
        request: &KeysUploadRequest,
    ) -> Result<KeyCounts, ApiError> {
        if request.one_time_keys.len() > MAX_ONE_TIME_KEYS_PER_UPLOAD {
            return Err(ApiError::new(
                ErrorCode::TooManyKeys,
                format!("at most {MAX_ONE_TIME_KEYS_PER_UPLOAD} one-time keys per upload"),
            ));
        }
        let one_time = request
            .one_time_keys
            .iter()
            .enumerate()
            .map(|(i, k)| validate_signed_key(&format!("one_time_keys[{i}]"), k, false))
            .collect::<Result<Vec<_>, _>>()?;
        let fallback = request
            .fallback_key
            .as_ref()
            .map(|k| validate_signed_key("fallback_key", k, true))
            .transpose()?;
        let now = zynk_backends::now();
        let bundle = match &request.device_keys {
            Some(bundle) => {
                let devices = self.context.store.list_devices(caller.user_id).await?;
                let device = devices
                    .iter()
                    .find(|d| d.id == caller.device_id)
                    .ok_or_else(ApiError::unauthenticated)?;
                self.validate_bundle(caller, bundle, &device.public_key)?;
                Some(serde_json::to_value(bundle).map_err(|e| ApiError::internal(&e))?)
            }
            None => None,
        };
        let outcome = self
            .context
            .store
            .upload_keys(
                caller.device_id,
                bundle.as_ref(),
                &one_time,
                fallback.as_ref(),
                MAX_STORED_ONE_TIME_KEYS,
                now,
            )
            .await?;
        let stock = match outcome {
            KeyUpload::Stored(stock) => stock,
            KeyUpload::BundleConflict => {
                return Err(ApiError::new(
                    ErrorCode::InvalidKey,
                    "this device already uploaded different keys; register a new device instead",
                ));
            }
            KeyUpload::TooManyKeys => {
                return Err(ApiError::new(
                    ErrorCode::TooManyKeys,
                    format!("a device holds at most {MAX_STORED_ONE_TIME_KEYS} one-time keys"),
                ));
            }
        };
        Ok(counts(stock))
    }

    /// The calling device's key stock.
    pub async fn count(&self, caller: &AuthContext) -> Result<KeyCounts, ApiError> {
        Ok(counts(
            self.context.store.key_stock(caller.device_id).await?,
        ))
    }

    /// Identity keys and device bundles of users (any signed-in user may ask: they are public).
    pub async fn query(&self, user_ids: &[UserId]) -> Result<KeysQueryResponse, ApiError> {
        if user_ids.len() > MAX_USERS_PER_QUERY {
            return Err(ApiError::invalid_field(
                "user_ids",
                "at most 256 users per query",
            ));
        }
        let mut unique = user_ids.to_vec();
        unique.sort();
        unique.dedup();
        let records = self.context.store.query_keys(&unique).await?;
        let mut users = Vec::with_capacity(records.len());
        for record in records {
            let devices = record
                .bundles
                .into_iter()
                .map(serde_json::from_value::<DeviceKeysBundle>)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::internal(&e))?;
            users.push(UserKeys {
                user_id: record.user_id,
                identity_key: record.identity_key,
                devices,
            });
        }
        Ok(KeysQueryResponse { users })
    }

    /// Claims one key per device for `caller`; tells devices whose stock runs low. At most
    /// `limits.max_claim_devices` devices per claim; each claimed key counts against the
    /// claimer's limits (`rate_limits.key_claims_per_user`, and per target device
    /// `rate_limits.key_claims_per_device`), so nobody drains another device's one-time keys;
    /// devices that do not exist or hold no key are found without the writer.
    pub async fn claim(
        &self,
        caller: &AuthContext,
        devices: &[DeviceRef],
    ) -> Result<KeysClaimResponse, ApiError> {
        let max = self
            .context
            .config
            .limits
            .max_claim_devices
            .min(MAX_DEVICES_PER_CLAIM);
        if devices.len() > max {
            return Err(ApiError::invalid_field(
                "devices",
                &format!("at most {max} devices per claim"),
            ));
        }
        let mut wanted: Vec<(UserId, DeviceId)> =
            devices.iter().map(|d| (d.user_id, d.device_id)).collect();
        wanted.sort();
        wanted.dedup();
        let claimable = self.context.store.claimable_devices(&wanted).await?;
        let limits = &self.context.config.rate_limits;
        let window = std::time::Duration::from_secs(limits.window_secs);
        for (_, device_id) in &claimable {
            if *device_id == caller.device_id {
                continue;
            }
            self.rate_limits
                .check_key(
                    &format!("claim:{}:{device_id}", caller.user_id),
                    limits.key_claims_per_device,
                    window,
                )
                .await?;
            self.rate_limits
                .check_key(
                    &format!("claim:{}", caller.user_id),
                    limits.key_claims_per_user,
                    window,
                )
                .await?;
        }
        let claimed = if claimable.is_empty() {
            Vec::new()
        } else {
            self.context.store.claim_keys(&claimable).await?
        };
        let mut keys = Vec::with_capacity(claimed.len());
        for c in &claimed {
            if !c.fallback && c.remaining < ONE_TIME_KEYS_LOW {
                let frame = ServerFrame::KeysLow {
                    one_time_key_count: c.remaining,
                };
                self.hub
                    .publish(
                        &[Target::Device {
                            user_id: c.user_id,
                            device_id: c.device_id,
                        }],
                        &frame,
                    )
                    .await;
            }
            keys.push(ClaimedKey {
                user_id: c.user_id,
                device_id: c.device_id,
                key: SignedKey {
                    key_id: c.key.key_id.clone(),
                    key: c.key.public_key.clone(),
                    fallback: c.fallback,
                    signature: c.key.signature.clone(),
                },
            });
        }
        let unavailable = wanted
            .iter()
            .filter(|(u, d)| !claimed.iter().any(|c| c.user_id == *u && c.device_id == *d))
            .map(|&(user_id, device_id)| DeviceRef { user_id, device_id })
            .collect();
        Ok(KeysClaimResponse { keys, unavailable })
    }
}
