//! `zynk location set LAT LON`, `zynk location clear` and `zynk nearby [--json]`: proximity
//! discovery. The server keeps only the grid cell (1 km by default) of a shared position, for
//! five minutes, and tells others a distance bucket, never metres.
//!
//! Output (stdout) of `zynk nearby`: one line per user, `DISTANCE  USERNAME  USER_ID`, nearest
//! bucket first (`<1km`, `1-5km`, `5-20km`); with `--json` one object per line (`user_id`,
//! `username`, `distance`). Nobody near prints nothing (and a note on stderr).

use clap::Subcommand;

use crate::context::{CliError, Context};
use crate::output::{note, print_line};

/// The location commands.
#[derive(Debug, Subcommand)]
pub enum LocationCommand {
    /// Share your position for five minutes (run it again to stay visible): users with
    /// proximity discovery on see you in `zynk nearby` as a distance bucket. The server keeps
    /// only the 1 km grid cell, never the position itself.
    Set {
        /// Latitude in degrees (-85.05112878 to 85.05112878).
        #[arg(allow_negative_numbers = true)]
        latitude: f64,
        /// Longitude in degrees (-180 to 180).
        #[arg(allow_negative_numbers = true)]
        longitude: f64,
    },
    /// Stop sharing your position: you disappear from others' `zynk nearby` at once.
    Clear,
}

/// `zynk location set|clear`.
pub async fn location(context: &mut Context, command: LocationCommand) -> Result<(), CliError> {
    match command {
        LocationCommand::Set {
            latitude,
            longitude,
        } => {
            context
                .with_messenger(async |m| m.share_location(latitude, longitude).await)
                .await?;
            note("location shared for five minutes (as a 1 km grid cell)");
        }
        LocationCommand::Clear => {
            context
                .with_messenger(async |m| m.clear_location().await)
                .await?;
            note("location cleared");
        }
    }
    Ok(())
}

/// `zynk nearby [--json]`.
pub async fn nearby(context: &mut Context, json: bool) -> Result<(), CliError> {
    let users = context.with_messenger(async |m| m.nearby().await).await?;
    if users.is_empty() {
        note("nobody who shares a location is near you");
    }
    for user in &users {
        print_line(&if json {
            serde_json::json!({
                "user_id": user.user_id,
                "username": user.username,
                "distance": user.distance,
            })
            .to_string()
        } else {
            format!(
                "{}  {}  {}",
                user.distance.as_str(),
                user.username,
                user.user_id
            )
        });
    }
    Ok(())
}
