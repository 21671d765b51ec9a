//! `zynk group …`: groups of up to 256 members. GROUP is a group's id, or its name when no other
//! group of the user has that name. `reply`, `edit`, `delete`, `react` and `proof` take group
//! message ids like any others.

use clap::Subcommand;
use serde_json::json;
use zynk_proto::groups::{EncryptionMode, Group};

use crate::context::{CliError, Context};
use crate::output::{print_line, print_receipt, print_view, warn};

/// The group commands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group (you are its admin); prints its id.
    Create {
        /// Its name (1-255 characters).
        name: String,
        /// A member to add at once (a username; repeat for more).
        #[arg(long = "member", value_name = "USER")]
        members: Vec<String>,
        /// One group key shared by an admin instead of a key per sending device.
        #[arg(long)]
        shared_secret: bool,
    },
    /// List your groups.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List a group's members with their roles.
    Members {
        /// Group id or name.
        group: String,
        /// One JSON object per line (`username`, `role`, `user_id`).
        #[arg(long)]
        json: bool,
    },
    /// Add a user to a group (admins).
    Add {
        /// Group id or name.
        group: String,
        /// Username.
        user: String,
    },
    /// Remove a member from a group (admins).
    Remove {
        /// Group id or name.
        group: String,
        /// Username.
        user: String,
    },
    /// Make a member an admin (admins).
    Promote {
        /// Group id or name.
        group: String,
        /// Username.
        user: String,
    },
    /// Leave a group (when the last admin leaves, the longest-standing member becomes admin;
    /// when the last member leaves, the group ends).
    Leave {
        /// Group id or name.
        group: String,
    },
    /// Rename a group (admins).
    Rename {
        /// Group id or name.
        group: String,
        /// The new name.
        name: String,
    },
    /// Send a message to a group; prints its id.
    Send {
        /// Group id or name.
        group: String,
        /// The text.
        #[arg(allow_hyphen_values = true)]
        text: String,
    },
    /// Show a group's messages and membership changes (and mark them read).
    Messages {
        /// Group id or name.
        group: String,
        /// One JSON object per line (the fields of `zynk messages`, plus `event` for a
        /// membership change).
        #[arg(long)]
        json: bool,
    },
}

/// Runs a group command.
pub async fn run(context: &mut Context, command: GroupCommand) -> Result<(), CliError> {
    match command {
        GroupCommand::Create {
            name,
            members,
            shared_secret,
        } => {
            let mode = if shared_secret {
                EncryptionMode::SharedSecret
            } else {
                EncryptionMode::SenderKeys
            };
            let group = context
                .with_messenger(async |m| m.create_group(&name, &members, mode).await)
                .await?;
            print_line(&group.group_id.to_string());
        }
        GroupCommand::List { json } => {
            let (groups, me) = context
                .with_messenger(async |m| Ok((m.groups().await?, m.user_id()?)))
                .await?;
            for group in &groups {
                let role = group
                    .members
                    .iter()
                    .find(|g| g.user_id == me)
                    .map_or("member", |g| g.role.as_str());
                if json {
                    print_line(
                        &json!({
                            "group_id": group.group_id,
                            "name": group.name,
                            "conversation_id": group.conversation_id,
                            "members": group.members.len(),
                            "role": role,
                            "encryption_mode": group.encryption_mode,
                        })
                        .to_string(),
                    );
                } else {
                    print_line(&format!(
                        "{} {} ({} members, {role})",
                        group.group_id,
                        group.name,
                        group.members.len()
                    ));
                }
            }
        }
        GroupCommand::Members { group, json } => {
            let group = find(context, &group).await?;
            for member in &group.members {
                if json {
                    print_line(
                        &json!({
                            "username": member.username,
                            "role": member.role,
                            "user_id": member.user_id,
                        })
                        .to_string(),
                    );
                } else {
                    print_line(&format!("{} {}", member.username, member.role.as_str()));
                }
            }
        }
        GroupCommand::Add { group, user } => {
            let found = find(context, &group).await?;
            context
                .with_messenger(async |m| m.add_to_group(found.group_id, &user).await)
                .await?;
            print_line(&format!("added {user} to {}", found.name));
        }
        GroupCommand::Remove { group, user } => {
            let found = find(context, &group).await?;
            context
                .with_messenger(async |m| m.remove_from_group(found.group_id, &user).await)
                .await?;
            print_line(&format!("removed {user} from {}", found.name));
        }
        GroupCommand::Promote { group, user } => {
            let found = find(context, &group).await?;
            context
                .with_messenger(async |m| m.promote_in_group(found.group_id, &user).await)
                .await?;
            print_line(&format!("{user} is now an admin of {}", found.name));
        }
        GroupCommand::Leave { group } => {
            let found = find(context, &group).await?;
            context
                .with_messenger(async |m| m.leave_group(found.group_id).await)
                .await?;
            print_line(&format!("left {}", found.name));
        }
        GroupCommand::Rename { group, name } => {
            let found = find(context, &group).await?;
            let renamed = context
                .with_messenger(async |m| m.rename_group(found.group_id, &name).await)
                .await?;
            print_line(&format!("renamed {} to {}", found.name, renamed.name));
        }
        GroupCommand::Send { group, text } => {
            let found = find(context, &group).await?;
            let receipt = context
                .with_messenger(async |m| m.send_group_text(&found, &text).await)
                .await?;
            print_receipt(&receipt);
        }
        GroupCommand::Messages { group, json } => {
            let found = find(context, &group).await?;
            let (views, warnings) = context
                .with_messenger(async |m| {
                    let report = m.sync().await?;
                    let views = m.timeline(found.conversation_id).await;
                    let mut warnings = report.warnings;
                    if let Err(error) = m.mark_read(found.conversation_id).await {
                        warnings.push(format!("read receipt: {error}"));
                    }
                    Ok((views, warnings))
                })
                .await?;
            warn(&warnings);
            for view in &views {
                print_view(view, json);
            }
        }
    }
    Ok(())
}

/// The group named by `group` (an id, or a name unique among the user's groups).
async fn find(context: &mut Context, group: &str) -> Result<Group, CliError> {
    context
        .with_messenger(async |m| m.find_group(group).await)
        .await
}
