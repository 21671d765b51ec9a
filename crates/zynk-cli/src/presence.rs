//! `zynk presence USER [--json]`: a contact's presence. (Live presence and
//! typing events are printed by `zynk listen`.)

use crate::context::{CliError, Context};
use crate::output::print_line;

/// `zynk presence USER [--json]`.
pub async fn presence(context: &mut Context, user: &str, json: bool) -> Result<(), CliError> {
    let view = context
        .with_messenger(async |m| m.presence(user).await)
        .await?;
    print_line(&if json {
        view.to_json_line()
    } else {
        view.to_display_line()
    });
    Ok(())
}
