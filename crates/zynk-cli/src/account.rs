//! `zynk register`, `login`, `logout`, `whoami` and `devices`: the account
//! and this home's device of it.

use zynk_sdk::client::{ApiClient, DeviceDescription, Messenger};

use crate::context::{CliError, Context};
use crate::output::{print_devices, print_logged_out, print_new_device, print_whoami};

/// The platform reported for CLI devices: the server accepts only `android`,
/// `ios` and `web`, and the CLI is closest to a web client.
const PLATFORM: &str = "web";

/// `zynk register USER` (`register`) or `zynk login USER`: make this empty
/// home a new device of the account.
pub async fn new_device(
    context: &mut Context,
    username: &str,
    device_name: Option<String>,
    register: bool,
) -> Result<(), CliError> {
    let lock = context.lock()?;
    context.ensure_empty(&lock)?;
    let api = ApiClient::with_http(&context.server_for_new_device(), context.http());
    let device = DeviceDescription::new(
        device_name.unwrap_or_else(|| "zynk command-line client".to_owned()),
        PLATFORM,
    )?;
    let mut messenger = if register {
        Messenger::register(api, username, context.password(), &device).await?
    } else {
        Messenger::login(api, username, context.password(), &device).await?
    };
    // The identity exists only here until the setup uploads its backup.
    context.save(&lock, &messenger)?;
    let setup = messenger.complete_setup().await;
    context.save(&lock, &messenger)?;
    setup?;
    print_new_device(&messenger.whoami()?, register);
    Ok(())
}

/// `zynk logout`.
pub async fn logout(context: &mut Context) -> Result<(), CliError> {
    let lock = context.lock()?;
    let mut messenger = context.load(&lock)?;
    let username = messenger.username().to_owned();
    messenger.logout().await?;
    context.home.erase_state(&lock)?;
    print_logged_out(&username);
    Ok(())
}

/// `zynk whoami`.
pub async fn whoami(context: &mut Context) -> Result<(), CliError> {
    let me = context.with_messenger(async |m| m.whoami()).await?;
    print_whoami(&me);
    Ok(())
}

/// `zynk devices [--json]`.
pub async fn devices(context: &mut Context, json: bool) -> Result<(), CliError> {
    let devices = context.with_messenger(async |m| m.devices().await).await?;
    print_devices(&devices, json)
}
