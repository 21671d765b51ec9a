//! History for new devices of [`Messenger`]: room-key forwarding between the
//! user's own devices.
//!
//! - Pushing: at every sync this device fetches its own account's device
//!   list; every other device of the account whose keys verify under the
//!   identity key and that was not given this device's history yet (or has
//!   new keys) gets every inbound group session this device holds, exported
//!   at its first known index, as Olm-encrypted `forwarded_room_key`
//!   to-device messages. Devices of other users never do.
//! - Asking: after a sync, messages still waiting for their key (unknown
//!   session, or an index before the first one this device knows) are asked
//!   of the user's other devices with a `room_key_request`, once per
//!   session; a device answers only its own account's verified devices,
//!   with the sessions it holds.
//!
//! Failures here are warnings: the sync goes on and the step is retried at
//! the next one.

use std::collections::{BTreeMap, BTreeSet};

use zynk_proto::ids::DeviceId;
use zynk_proto::keys::DeviceRef as WireDeviceRef;

use super::Messenger;
use crate::client::error::ClientError;
use crate::client::timeline::EntryBody;
use crate::crypto::{CryptoError, DeviceRef, OlmError, SessionRef};

/// Sessions remembered as asked for; beyond this the oldest requests are
/// forgotten (and may be asked again).
const MAX_REMEMBERED_REQUESTS: usize = 10_000;

/// Key requests received while processing the inbox: requester → sessions.
pub(crate) type KeyRequests = BTreeMap<DeviceRef, BTreeSet<SessionRef>>;

impl Messenger {
    /// Give this device's history to each of the user's other verified
    /// devices that does not have it yet. With `refresh`, the account's
    /// device list is fetched first. Returns the devices served now.
    pub(crate) async fn share_history_with_new_devices(
        &mut self,
        refresh: bool,
        warnings: &mut Vec<String>,
    ) -> Vec<DeviceRef> {
        if refresh && let Err(error) = self.refresh_own_devices(warnings).await {
            warnings.push(format!("checking this account's devices: {error}"));
            return Vec::new();
        }
        let own = self.machine.own_devices();
        let current: BTreeMap<DeviceId, String> = own
            .iter()
            .filter_map(|d| Some((d.device_id().parse().ok()?, d.curve25519_base64())))
            .collect();
        if refresh {
            // Forget devices that are gone, so the map stays small.
            self.data
                .history_shared_with
                .retain(|id, _| current.contains_key(id));
        }
        let due: Vec<(DeviceId, String)> = current
            .into_iter()
            .filter(|(id, key)| self.data.history_shared_with.get(id) != Some(key))
            .collect();
        let mut served = Vec::new();
        for (device_id, curve25519) in due {
            let device = DeviceRef::new(self.machine.user_id(), device_id.to_string());
            match self.forward_to(&device, None, warnings).await {
                Ok(()) => {
                    self.data.history_shared_with.insert(device_id, curve25519);
                    served.push(device);
                }
                Err(error) => warnings.push(format!(
                    "could not give your device {device_id} the history: {error}"
                )),
            }
        }
        served
    }

    /// Answer `room_key_request`s (already checked to come from this user's
    /// own verified devices) with the sessions this device holds, except to
    /// devices in `served` (they just got everything).
    pub(crate) async fn answer_key_requests(
        &mut self,
        requests: KeyRequests,
        served: &[DeviceRef],
        warnings: &mut Vec<String>,
    ) {
        for (device, sessions) in requests {
            if served.contains(&device) {
                continue;
            }
            let sessions: Vec<SessionRef> = sessions.into_iter().collect();
            if let Err(error) = self.forward_to(&device, Some(&sessions), warnings).await {
                warnings.push(format!(
                    "could not answer the key request of your device {}: {error}",
                    device.device_id
                ));
            }
        }
    }

    /// Ask the user's other devices for the sessions of messages that wait
    /// for their key, once per session.
    pub(crate) async fn request_missing_keys(&mut self, warnings: &mut Vec<String>) {
        let missing: BTreeSet<SessionRef> = self
            .data
            .conversations
            .values()
            .flat_map(|c| {
                c.entries.iter().filter_map(move |e| match &e.body {
                    EntryBody::Pending { envelope, .. } => Some(SessionRef {
                        conversation_id: c.id.to_string(),
                        sender_key: envelope.sender_key.clone(),
                        session_id: envelope.session_id.clone(),
                    }),
                    _ => None,
                })
            })
            .filter(|s| !self.data.key_requests_sent.contains(s))
            .collect();
        let siblings: Vec<DeviceRef> = self
            .machine
            .own_devices()
            .iter()
            .map(|d| d.device_ref())
            .collect();
        if missing.is_empty() || siblings.is_empty() {
            return;
        }
        let missing: Vec<SessionRef> = missing.into_iter().collect();
        if let Err(error) = self.ensure_olm_sessions(&siblings, warnings).await {
            warnings.push(format!(
                "could not ask your other devices for keys: {error}"
            ));
            return;
        }
        let mut messages = Vec::new();
        for device in &siblings {
            match self.machine.request_room_keys(device, &missing) {
                Ok(more) => messages.extend(more),
                Err(error) => warnings.push(format!(
                    "could not ask your device {} for keys: {error}",
                    device.device_id
                )),
            }
        }
        if messages.is_empty() {
            return;
        }
        match self.send_to_devices(messages, warnings).await {
            Ok(()) => {
                if self.data.key_requests_sent.len() + missing.len() > MAX_REMEMBERED_REQUESTS {
                    self.data.key_requests_sent.clear();
                }
                self.data.key_requests_sent.extend(missing);
            }
            Err(error) => warnings.push(format!(
                "could not ask your other devices for keys: {error}"
            )),
        }
    }

    /// Forward this device's sessions (`only` those, or all) to `device`, one
    /// of the user's own devices, opening an Olm session first if needed.
    async fn forward_to(
        &mut self,
        device: &DeviceRef,
        only: Option<&[SessionRef]>,
        warnings: &mut Vec<String>,
    ) -> Result<(), ClientError> {
        let forward = match self.machine.forward_room_keys(device, only) {
            Err(CryptoError::Olm(OlmError::NoSession { .. })) => {
                self.ensure_olm_sessions(std::slice::from_ref(device), warnings)
                    .await?;
                self.machine.forward_room_keys(device, only)?
            }
            other => other?,
        };
        if forward.oversized > 0 {
            warnings.push(format!(
                "{} sessions too large to forward to your device {}",
                forward.oversized, device.device_id
            ));
        }
        self.send_to_devices(forward.messages, warnings).await
    }

    /// Open Olm sessions, from claimed one-time keys, to those of `devices`
    /// that have none. A device without keys left is reported and skipped.
    async fn ensure_olm_sessions(
        &mut self,
        devices: &[DeviceRef],
        warnings: &mut Vec<String>,
    ) -> Result<(), ClientError> {
        let wanted: Vec<WireDeviceRef> = devices
            .iter()
            .filter(|d| !self.machine.has_olm_session(d))
            .filter_map(|d| {
                Some(WireDeviceRef {
                    user_id: d.user_id.parse().ok()?,
                    device_id: d.device_id.parse().ok()?,
                })
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        self.open_olm_sessions(wanted, warnings, "").await
    }

    /// Fetch this account's own device list; every bundle must verify under
    /// the identity key this device holds itself (pinned as verified when
    /// the device was created), and a different key from the server is an
    /// error, so no ledger look-up is needed.
    async fn refresh_own_devices(&mut self, warnings: &mut Vec<String>) -> Result<(), ClientError> {
        let me = self.user_id()?;
        for (_, result) in self.refresh_devices_checked(&[me], false).await? {
            for (device, error) in result?.rejected {
                warnings.push(format!(
                    "ignored a device of this account with invalid keys ({}): {error}",
                    device.device_id
                ));
            }
        }
        Ok(())
    }
}
