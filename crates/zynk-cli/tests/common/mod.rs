//! Drives the `zynk` binary against an in-process test server: one home
//! directory per device, the password in `ZYNK_PASSWORD`, and bounded waits
//! on the output of long-running commands.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use zynk_testkit::TestServer;

/// The password every test account uses.
pub const PASSWORD: &str = "correct horse battery staple";
/// Longest wait for one line of a long-running command.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// A unique valid username.
pub fn username(stem: &str) -> String {
    zynk_testkit::Api::username(stem)
}

/// What one run of `zynk` produced.
#[derive(Debug)]
pub struct Output {
    /// Whether it exited with status 0.
    pub success: bool,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// One device: a home directory on one server.
pub struct Device {
    /// The server URL.
    pub server: String,
    /// The home directory.
    pub home: tempfile::TempDir,
    /// The password given to every command.
    pub password: String,
    /// A CA file given to every command (`--ca-file`).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Device {
    /// A device with an empty home.
    pub fn new(server: &TestServer) -> Self {
        Self {
            server: server.base_url.clone(),
            home: tempfile::tempdir().expect("temporary home"),
            password: PASSWORD.to_owned(),
            ca_file: None,
        }
    }

    /// A device with an empty home that reaches the server at `url`,
    /// trusting the certificate authorities in `ca_file` if given.
    pub fn at(url: &str, ca_file: Option<&std::path::Path>) -> Self {
        Self {
            server: url.to_owned(),
            home: tempfile::tempdir().expect("temporary home"),
            password: PASSWORD.to_owned(),
            ca_file: ca_file.map(std::path::Path::to_path_buf),
        }
    }

    fn command(&self, password: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zynk"));
        command
            .arg("--home")
            .arg(self.home.path())
            .arg("--server")
            .arg(&self.server)
            .args(
                self.ca_file
                    .iter()
                    .flat_map(|ca| [std::ffi::OsStr::new("--ca-file"), ca.as_os_str()]),
            )
            .args(args)
            .env("ZYNK_PASSWORD", password)
            .env_remove("ZYNK_HOME")
            .env_remove("ZYNK_SERVER")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Run `zynk ARGS` with `password` to completion.
    pub async fn run_with(&self, password: &str, args: &[&str]) -> Output {
        let output = self
            .command(password, args)
            .output()
            .await
            .expect("zynk runs");
        let result = Output {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !result.stderr.contains("panicked") && !result.stderr.contains("internal error"),
            "zynk {args:?} crashed: {}",
            result.stderr
        );
        result
    }

    /// Run `zynk --password-stdin ARGS` with `input` on standard input and no
    /// `ZYNK_PASSWORD`.
    pub async fn run_stdin(&self, input: &str, args: &[&str]) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut command = self.command("", args);
        command
            .arg("--password-stdin")
            .env_remove("ZYNK_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("zynk starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
        drop(stdin);
        let output = child.wait_with_output().await.expect("zynk runs");
        Output {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Run `zynk ARGS`.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with(&self.password, args).await
    }

    /// Run `zynk ARGS`, which must succeed; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(
            output.success,
            "zynk {args:?} failed:\nstdout: {}\nstderr: {}",
            output.stdout, output.stderr
        );
        output.stdout
    }

    /// Run `zynk ARGS`, which must fail with one `zynk: ` line; returns it.
    pub async fn fails_with(&self, password: &str, args: &[&str]) -> String {
        let output = self.run_with(password, args).await;
        assert!(!output.success, "zynk {args:?} should fail: {output:?}");
        let line = output.stderr.trim_end();
        assert!(line.starts_with("zynk: "), "{line}");
        assert_eq!(line.lines().count(), 1, "one error line: {line}");
        line.to_owned()
    }

    /// Send a message (or relation); returns the new message id.
    pub async fn send(&self, args: &[&str]) -> String {
        let out = self.ok(args).await;
        let id = out.trim().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "a message id: {out}");
        id
    }

    /// `messages USER --json`, parsed.
    pub async fn messages(&self, user: &str) -> Vec<Value> {
        self.ok(&["messages", user, "--json"])
            .await
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// The 60 digits `verify USER` prints.
    pub async fn safety_number(&self, user: &str) -> String {
        let out = self.ok(&["verify", user]).await;
        let digits: String = out
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(digits.len(), 60, "{out}");
        digits
    }

    /// Start a long-running `zynk ARGS`.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(&self.password, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zynk starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        Running {
            child,
            stdout,
            stderr,
        }
    }
}

/// A running `zynk` whose output is read line by line.
pub struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

async fn next_matching<R>(
    lines: &mut Lines<BufReader<R>>,
    what: &str,
    mut wanted: impl FnMut(&str) -> bool,
) -> String
where
    R: tokio::io::AsyncRead + Unpin,
{
    let search = async {
        let mut seen = Vec::new();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if wanted(&line) => return line,
                Ok(Some(line)) => seen.push(line),
                Ok(None) | Err(_) => panic!("output ended before {what}; saw {seen:?}"),
            }
        }
    };
    tokio::time::timeout(LINE_TIMEOUT, search)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {LINE_TIMEOUT:?}"))
}

impl Running {
    /// Wait (bounded) for a stderr line containing `needle`.
    pub async fn stderr_line(&mut self, needle: &str) -> String {
        next_matching(&mut self.stderr, needle, |line| line.contains(needle)).await
    }

    /// Wait (bounded) for a JSON stdout line for which `wanted` holds.
    pub async fn json_line(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let line = next_matching(&mut self.stdout, what, |line| {
            serde_json::from_str::<Value>(line).is_ok_and(|v| wanted(&v))
        })
        .await;
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// Stop it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Unlock a device's state as the CLI would (under the home's lock), hand
/// the [`Messenger`](zynk_sdk::Messenger) to `op`, and save it back (tokens may have been
/// refreshed). No `zynk` command may run on the home meanwhile.
pub async fn with_state<T>(
    device: &Device,
    op: impl AsyncFnOnce(&mut zynk_sdk::Messenger) -> T,
) -> T {
    let home = zynk_sdk::client::Home::new(device.home.path().to_path_buf());
    let lock = home.lock().expect("home lock");
    let bytes = home
        .read_state(&lock)
        .expect("read state")
        .expect("a state");
    let (mut messenger, vault) =
        zynk_sdk::Messenger::load(&bytes, &device.password, None, None).expect("unlock");
    let result = op(&mut messenger).await;
    let bytes = messenger.save(&vault).expect("save state");
    home.write_state(&lock, &bytes).expect("write state");
    result
}

/// Rotate the identity key of the account of `device` (logged in as
/// `username`) the way the API allows: the current key, restored from the
/// identity backup with the password, signs the new one
/// (`PUT /api/v1/users/me/identity-key`). Returns the old and the new key
/// (unpadded base64). The device keeps its old key locally, so its device
/// bundles stay signed by the old key.
pub async fn rotate_identity(device: &Device, username: &str) -> (String, String) {
    use base64::Engine;
    use ed25519_dalek::Signer;
    use zynk_sdk::client::{Credentials, open_identity};
    let password = device.password.clone();
    with_state(device, async |m| {
        let me = m.whoami().expect("whoami");
        let backup = m
            .api()
            .identity_backup()
            .await
            .expect("fetch the identity backup")
            .expect("an identity backup");
        let credentials = Credentials::derive(username, &password).expect("credentials");
        let current = open_identity(
            &backup,
            &me.user_id.to_string(),
            credentials.backup_key(),
            &m.machine().identity_key(),
        )
        .expect("open the identity backup");
        let signer = ed25519_dalek::SigningKey::from_bytes(&current.export_seed());
        let next = zynk_sdk::UserIdentity::generate().expect("new identity");
        let did = zynk_ledger::ZynkDid::new(me.user_id.as_uuid()).to_string();
        let statement =
            zynk_proto::trust::rotation_signing_bytes(&did, next.public_key().as_bytes());
        let next_signer = ed25519_dalek::SigningKey::from_bytes(&next.export_seed());
        let possession = zynk_proto::possession::rotate_bytes(
            &did,
            next.public_key().as_bytes(),
            m.machine().identity_key().as_bytes(),
        );
        let request = zynk_proto::trust::RotateIdentityKeyRequest {
            identity_key: next.public_key().to_base64(),
            signature: base64::engine::general_purpose::STANDARD_NO_PAD
                .encode(signer.sign(&statement).to_bytes()),
            new_key_signature: Some(
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(next_signer.sign(&possession).to_bytes()),
            ),
        };
        m.api()
            .rotate_identity_key(&request)
            .await
            .expect("rotate the identity key");
        (me.identity_key, next.public_key().to_base64())
    })
    .await
}

/// The user id and device id that `whoami` prints.
pub async fn ids(device: &Device) -> (zynk_proto::UserId, zynk_proto::DeviceId) {
    let out = device.ok(&["whoami"]).await;
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    (
        zynk_proto::UserId::from_uuid(field("user id:")),
        zynk_proto::DeviceId::from_uuid(field("device id:")),
    )
}

/// Registers a fresh `alice` and `bob` (unique names), one device each.
pub async fn alice_and_bob(server: &TestServer) -> (String, String, Device, Device) {
    let (alice, bob) = (username("alice"), username("bob"));
    let alice1 = Device::new(server);
    alice1.ok(&["register", &alice]).await;
    let bob1 = Device::new(server);
    bob1.ok(&["register", &bob]).await;
    (alice, bob, alice1, bob1)
}

/// Whether `needle` (non-empty) occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `zynk group messages GROUP --json`, one value per line.
pub async fn group_messages(device: &Device, group: &str) -> Vec<Value> {
    device
        .ok(&["group", "messages", group, "--json"])
        .await
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// The `text` of each message that has one.
pub fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}
