//! [`Frame`]: a server frame serialised once, shared by every connection it is queued for.

use bytes::Bytes;
use zynk_proto::ws::ServerFrame;

/// A serialised server frame: UTF-8 JSON text. Cloning shares the bytes (a reference count),
/// so one frame queued for many connections is never copied. Only [`Frame::encode`] and
/// `From<String>` make one, so the bytes are always valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// Serialises a server frame.
    ///
    /// # Errors
    ///
    /// When serde cannot serialise the frame (not expected for [`ServerFrame`]).
    pub fn encode(frame: &ServerFrame) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(frame).map(|json| Self(Bytes::from(json)))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        // Always valid: a frame is only ever made from a `String` or from serde_json's output.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The JSON text as bytes, without copying.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The shared bytes, for a transport's own text type.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_json_text_and_shares_bytes_between_clones() {
        let frame = Frame::encode(&ServerFrame::Pong).unwrap();
        assert_eq!(frame.as_str(), r#"{"type":"pong"}"#);
        let copy = frame.clone();
        assert_eq!(copy.as_bytes().as_ptr(), frame.as_bytes().as_ptr());
        assert_eq!(Frame::from(r#"{"type":"pong"}"#.to_owned()), frame);
    }
}
