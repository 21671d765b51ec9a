//! What every command needs: the home directory, the password, the server
//! and the unlocked state, loaded under the home's lock and always saved
//! back (also after a failure: Olm sessions and rotated tokens must not be
//! lost).

use std::fmt;
use std::io::BufRead;
use std::path::PathBuf;

use zynk_sdk::client::{
    BackupError, ClientError, Home, HomeLock, Messenger, Secret, Vault, VaultError,
};

use crate::{Cli, DEFAULT_SERVER};

/// A failure of a command: one line for the user.
#[derive(Debug)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        Self(match error {
            ClientError::InvalidCredentials => {
                "login failed: unknown username or wrong password".to_owned()
            }
            ClientError::Backup(BackupError::WrongPasswordOrTampered) => {
                "wrong password: the identity backup cannot be decrypted with it".to_owned()
            }
            other => other.to_string(),
        })
    }
}

/// The command's environment.
pub struct Context {
    /// The home directory.
    pub home: Home,
    password: Secret,
    server: Option<String>,
    http: reqwest::Client,
    vault: Option<Vault>,
}

fn default_home() -> Result<PathBuf, CliError> {
    dirs::config_dir()
        .or_else(|| dirs::home_dir().map(|home| home.join(".config")))
        .map(|dir| dir.join("zynk"))
        .ok_or_else(|| CliError("no home directory found: pass --home DIR".into()))
}

fn read_password(from_stdin: bool) -> Result<Secret, CliError> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError(format!("cannot read the password from stdin: {e}")))?;
        let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
        zeroize_string(&mut line);
        trimmed
    } else {
        std::env::var("ZYNK_PASSWORD").map_err(|_| {
            CliError("no password: set ZYNK_PASSWORD or pass --password-stdin".into())
        })?
    };
    if password.is_empty() {
        return Err(CliError("the password is empty".into()));
    }
    Ok(Secret::new(password))
}

fn zeroize_string(text: &mut String) {
    // Overwrite before dropping (best effort; `Secret` zeroizes its copy).
    let length = text.len();
    text.clear();
    text.extend(std::iter::repeat_n('\0', length));
}

fn normalize(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

impl Context {
    /// Read the home, server and password from the command line.
    pub fn new(cli: &Cli) -> Result<Self, CliError> {
        let home = match &cli.home {
            Some(dir) => dir.clone(),
            None => default_home()?,
        };
        if let Some(path) = &cli.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
            zynk_sdk::client::tls::trust_extra_roots(&pem)?;
        }
        Ok(Self {
            home: Home::new(home),
            password: read_password(cli.password_stdin)?,
            server: cli.server.as_deref().map(normalize),
            http: zynk_sdk::client::tls::http_client()?,
            vault: None,
        })
    }

    /// The password.
    pub fn password(&self) -> &str {
        self.password.expose()
    }

    /// The shared HTTP client.
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The server for a new registration or login.
    pub fn server_for_new_device(&self) -> String {
        self.server
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
    }

    /// Take the home's lock.
    pub fn lock(&self) -> Result<HomeLock, CliError> {
        Ok(self.home.lock()?)
    }

    /// Fail if the home already holds an account.
    pub fn ensure_empty(&mut self, lock: &HomeLock) -> Result<(), CliError> {
        if self.home.read_state(lock)?.is_none() {
            return Ok(());
        }
        let who = self
            .load(lock)
            .map(|m| format!(" the account {}", m.username()))
            .unwrap_or_default();
        Err(CliError(format!(
            "{} already holds{who}; run `zynk logout` first or use another --home",
            self.home.dir().display()
        )))
    }

    /// Unlock the saved state.
    pub fn load(&mut self, lock: &HomeLock) -> Result<Messenger, CliError> {
        let bytes = self.home.read_state(lock)?.ok_or_else(|| {
            CliError(format!(
                "not logged in ({} holds no account): run `zynk register USER` or `zynk login USER`",
                self.home.dir().display()
            ))
        })?;
        let (messenger, vault) = Messenger::load(
            &bytes,
            self.password.expose(),
            self.vault.as_ref(),
            Some(self.http.clone()),
        )
        .map_err(|error| match error {
            ClientError::Vault(VaultError::WrongPasswordOrTampered) => CliError(format!(
                "wrong password: cannot unlock {}",
                self.home.state_path().display()
            )),
            other => other.into(),
        })?;
        self.vault = Some(vault);
        if let Some(server) = &self.server
            && normalize(messenger.server_url()) != *server
        {
            return Err(CliError(format!(
                "this home is logged in to {}, not {server}; drop --server or use another --home",
                messenger.server_url()
            )));
        }
        Ok(messenger)
    }

    /// Encrypt the state under `password` from now on (after a password change): the next
    /// [`Self::save`] creates a new vault with it.
    pub fn replace_password(&mut self, password: Secret) {
        self.password = password;
        self.vault = None;
    }

    /// Encrypt and write the state.
    pub fn save(&mut self, lock: &HomeLock, messenger: &Messenger) -> Result<(), CliError> {
        if self.vault.is_none() {
            self.vault = Some(Vault::create(self.password.expose())?);
        }
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| CliError("no vault".into()))?;
        let bytes = messenger.save(vault)?;
        Ok(self.home.write_state(lock, &bytes)?)
    }

    /// Run `op` on the unlocked state under the lock, then save it (whether
    /// `op` succeeded or not).
    pub async fn with_messenger<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut Messenger) -> Result<T, ClientError>,
    ) -> Result<T, CliError> {
        Ok(self.with_messenger_raw(op).await??)
    }

    /// Like [`Self::with_messenger`], keeping `op`'s own error apart (the
    /// outer error is a failure to load or save the state).
    pub async fn with_messenger_raw<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut Messenger) -> Result<T, ClientError>,
    ) -> Result<Result<T, ClientError>, CliError> {
        let lock = self.lock()?;
        let mut messenger = self.load(&lock)?;
        let result = op(&mut messenger).await;
        self.save(&lock, &messenger)?;
        Ok(result)
    }
}

impl From<VaultError> for CliError {
    fn from(error: VaultError) -> Self {
        ClientError::from(error).into()
    }
}
