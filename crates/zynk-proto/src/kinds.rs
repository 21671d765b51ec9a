//! Closed vocabularies that the wire and the database carry as strings: conversation kinds,
//! message types and publication states. Each is parsed once where it enters (an HTTP body, a
//! database row) and travels as an enum from there; `as_str` gives the stored and sent spelling.
//!
//! (The relation of a message to an earlier one is [`crate::messages::RelationType`].)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that names no member of a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind {
    /// Which vocabulary.
    pub vocabulary: &'static str,
    /// The string.
    pub value: String,
}

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}: {:?}", self.vocabulary, self.value)
    }
}

impl std::error::Error for UnknownKind {}

macro_rules! vocabulary {
    (
        $(#[$doc:meta])* $name:ident ($what:literal) {
            $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $(
                $(#[$vdoc])*
                #[serde(rename = $text)]
                #[cfg_attr(feature = "openapi", schema(rename = $text))]
                $variant,
            )+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling on the wire and in the database.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownKind;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownKind { vocabulary: $what, value: s.to_owned() }),
                }
            }
        }
    };
}

vocabulary!(
    /// `conversations.conversation_type`.
    ConversationKind ("conversation kind") {
        /// Two users, one conversation per pair.
        OneToOne = "one_to_one",
        /// A group's conversation.
        Group = "group",
    }
);

vocabulary!(
    /// `messages.message_type`: what the (encrypted) content is.
    MessageType ("message type") {
        /// Text.
        Text = "text",
        /// An image (an encrypted file announced by the message).
        Image = "image",
        /// Any other file.
        File = "file",
        /// Audio.
        Audio = "audio",
        /// Video.
        Video = "video",
        /// A shared location.
        Location = "location",
        /// A membership change of a group, written by the server (never sent by a client): its
        /// `metadata.membership` says who, what and by whom.
        Membership = "membership",
    }
);

vocabulary!(
    /// The state of a publication to an external chain (`evm_outbox.status`,
    /// `blockchain_transactions.status`).
    PublicationStatus ("publication status") {
        /// Waiting to be signed and sent.
        Queued = "queued",
        /// Recorded on the embedded ledger, waiting for its block.
        Pending = "pending",
        /// Signed and broadcast; no receipt yet.
        Sent = "sent",
        /// Mined with a successful receipt.
        Confirmed = "confirmed",
        /// Reverted, replaced, or unpublishable.
        Failed = "failed",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for kind in ConversationKind::ALL {
            assert_eq!(kind.as_str().parse::<ConversationKind>().unwrap(), *kind);
            assert_eq!(
                serde_json::to_string(kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        for kind in MessageType::ALL {
            assert_eq!(kind.as_str().parse::<MessageType>().unwrap(), *kind);
        }
        for kind in PublicationStatus::ALL {
            assert_eq!(kind.as_str().parse::<PublicationStatus>().unwrap(), *kind);
        }
    }

    #[test]
    fn unknown_spellings_are_refused() {
        let err = "sticker".parse::<MessageType>().unwrap_err();
        assert_eq!(err.to_string(), "unknown message type: \"sticker\"");
        assert!("One_To_One".parse::<ConversationKind>().is_err());
    }
}

vocabulary!(
    /// `conversation_participants.request_state`: whether a participant accepted a 1:1
    /// conversation (a message request until then).
    RequestState ("request state") {
        /// The participant opened the conversation, accepted it, replied in it, or shares a
        /// group with the other participant. Group participants are always accepted.
        Accepted = "accepted",
        /// A message request: someone the participant has not accepted opened it.
        Pending = "pending",
        /// The participant declined the request: hidden from them, the other side's sends are
        /// refused.
        Declined = "declined",
    }
);

vocabulary!(
    /// The privacy setting `who_can_message`: who may start a 1:1 conversation with the user
    /// (default `everyone`).
    #[derive(Default)]
    WhoCanMessage ("who_can_message") {
        /// Anyone (not blocked): first contact from a stranger lands as a message request.
        #[default]
        Everyone = "everyone",
        /// Only contacts: people the user accepted a 1:1 conversation with or shares a group
        /// with.
        Contacts = "contacts",
    }
);
