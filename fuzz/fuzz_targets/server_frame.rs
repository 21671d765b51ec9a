//! WebSocket frames the server sends (`zynk_proto::ws::ServerFrame`), parsed as the SDK's
//! event stream does. A frame that parses must serialise and parse again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zynk_proto::ws::ServerFrame;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(frame) = serde_json::from_str::<ServerFrame>(text) {
        let again = serde_json::to_string(&frame).expect("a parsed frame serialises");
        serde_json::from_str::<ServerFrame>(&again).expect("a serialised frame parses");
    }
});
