//! Password change: the client re-derives its secrets from the new password, re-seals the
//! identity backup under the new backup key and sends both with the old secret in one request
//! (`POST /api/v1/users/me/password`), so the server's password and the backup never
//! disagree.

use zynk_proto::users::ChangePasswordRequest;

use super::{Messenger, check_new_password};
use crate::client::backup::{open_identity, seal_identity};
use crate::client::credentials::Credentials;
use crate::client::error::ClientError;

impl Messenger {
    /// Change the account password from `old_password` to `new_password` (at least
    /// [`super::MIN_PASSWORD_CHARS`] characters). The identity backup is opened with the old
    /// password (a wrong one gives [`ClientError::Backup`] before anything is sent), sealed
    /// under the new one and stored with the change. Every other session of the account ends
    /// unless `keep_other_sessions`. The caller then saves this device's state under the new
    /// password.
    pub async fn change_password(
        &mut self,
        old_password: &str,
        new_password: &str,
        keep_other_sessions: bool,
    ) -> Result<(), ClientError> {
        check_new_password(new_password)?;
        let user_id = self.user_id()?.to_string();
        let old = Credentials::derive(&self.username, old_password)?;
        let new = Credentials::derive(&self.username, new_password)?;
        // The backup still waiting for upload (a setup not completed) or the server's.
        let current = match self.data.setup.backup_pending.clone() {
            Some(pending) => pending,
            None => self.api.identity_backup().await?.ok_or_else(|| {
                ClientError::Invalid("the server holds no identity backup for this account".into())
            })?,
        };
        let identity = open_identity(
            &current,
            &user_id,
            old.backup_key(),
            &self.machine.identity_key(),
        )?;
        let backup = seal_identity(&identity, &user_id, new.backup_key())?;
        let request = ChangePasswordRequest {
            old_password: old.auth_secret().to_owned(),
            new_password: new.auth_secret().to_owned(),
            identity_backup: Some(backup),
            keep_other_sessions,
        };
        self.api.change_password(&request).await?;
        // The new backup is stored with the password; nothing is left to upload.
        self.data.setup.backup_pending = None;
        Ok(())
    }
}
