//! [`PendingDevice`]: a device's Olm account created before the server has
//! assigned the user and device ids, so that its Ed25519 key can be sent with
//! the registration or login request that yields those ids.

use std::fmt;

use vodozemac::olm::Account;

use super::CryptoMachine;
use crate::crypto::account::DeviceAccount;
use crate::crypto::identity::UserIdentity;

/// A fresh Olm account waiting for its server-assigned ids.
///
/// Holds secrets: `Debug` shows the public Ed25519 key only, and vodozemac
/// zeroizes the key material on drop.
pub struct PendingDevice {
    account: Account,
}

impl PendingDevice {
    /// A new account with fresh Curve25519 and Ed25519 keys.
    pub fn new() -> Self {
        Self {
            account: Account::new(),
        }
    }

    /// The device's Ed25519 key, unpadded base64: the `device.public_key`
    /// of a register or login request.
    pub fn ed25519_key(&self) -> String {
        self.account.ed25519_key().to_base64()
    }

    /// Sign `message` with the device's Ed25519 key (a proof of possession at registration
    /// or login, see `zynk_proto::possession`); unpadded base64.
    pub fn sign(&self, message: &[u8]) -> String {
        self.account.sign(message).to_base64()
    }

    /// The device's Ed25519 key as bytes.
    pub fn ed25519_bytes(&self) -> [u8; 32] {
        *self.account.ed25519_key().as_bytes()
    }

    /// Bind the account to the ids the server assigned and to the user's
    /// identity, giving the device's [`CryptoMachine`]. Its keys are signed
    /// over these ids, so they are fixed from now on.
    pub fn into_machine(
        self,
        user_id: impl Into<String>,
        device_id: impl Into<String>,
        identity: UserIdentity,
    ) -> CryptoMachine {
        let account = DeviceAccount::from_account(user_id.into(), device_id.into(), self.account);
        CryptoMachine::with_account(account, identity)
    }
}

impl Default for PendingDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PendingDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDevice")
            .field("ed25519", &self.ed25519_key())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_machine_keeps_the_announced_key_and_signs_the_ids() {
        let pending = PendingDevice::new();
        let announced = pending.ed25519_key();
        let identity = UserIdentity::generate().unwrap();
        let identity_key = identity.public_key();
        let machine = pending.into_machine("user-1", "device-1", identity);
        assert_eq!(machine.ed25519_key(), announced);
        assert_eq!(machine.user_id(), "user-1");
        assert_eq!(machine.device_id(), "device-1");
        let keys = machine.device_keys();
        assert_eq!(keys.ed25519, announced);
        keys.verify("user-1", &identity_key).unwrap();
        assert_eq!(
            machine.trust_level("user-1"),
            Some(crate::crypto::TrustLevel::Verified)
        );
    }
}
