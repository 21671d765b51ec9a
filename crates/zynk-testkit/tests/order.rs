//! Live delivery order: the `message` frames of one conversation reach every receiving socket in
//! `seq` order while both participants send concurrently (pipelined over the socket and over
//! HTTP from several tasks at once), on one node of each backend and across two nodes sharing
//! PostgreSQL + Redis.

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use zynk_testkit::{Api, Backend, Device, TestServer, WsClient, backend_tests, message_body};

backend_tests!(live_messages_of_a_conversation_arrive_in_seq_order);

/// Messages sent over the socket, in pipelined bursts of [`BURST`].
const OVER_SOCKET: usize = 240;
const BURST: usize = 60;
/// HTTP senders running at once, and the messages each sends.
const HTTP_TASKS: usize = 6;
const PER_HTTP_TASK: usize = 40;
const TOTAL: usize = OVER_SOCKET + HTTP_TASKS * PER_HTTP_TASK;

/// Reads `message` frames of `conversation` until `expected` arrived; returns their `seq`s in
/// arrival order.
fn collect(mut ws: WsClient, conversation: String, expected: usize) -> JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let mut seqs = Vec::with_capacity(expected);
        while seqs.len() < expected {
            let frame = ws.next_of("message").await;
            if frame["message"]["conversation_id"] == conversation.as_str() {
                seqs.push(frame["message"]["seq"].as_i64().expect("seq"));
            }
        }
        seqs
    })
}

/// Sends `count` messages over HTTP as `token`.
fn http_sender(api: Api, token: String, conversation: String, count: usize) -> JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0..count {
            api.send_message(&token, &conversation, message_body(&format!("h{i}")))
                .await;
        }
    })
}

/// Sends [`OVER_SOCKET`] messages over `ws` in pipelined bursts, reading between bursts; returns
/// the `seq`s of the other participant's messages it received, in arrival order, once it has
/// `others` of them.
async fn socket_sender(mut ws: WsClient, conversation: String, others: usize) -> Vec<i64> {
    let mut seqs = Vec::new();
    let mut answered = 0;
    let mut sent = 0;
    while answered < OVER_SOCKET || seqs.len() < others {
        if sent == answered && sent < OVER_SOCKET {
            for _ in 0..BURST {
                sent += 1;
                ws.send(json!({"type": "send", "request_id": format!("r{sent}"),
                    "conversation_id": conversation, "message": message_body(&format!("w{sent}"))}))
                    .await;
            }
        }
        let frame: Value = ws.next().await.expect("socket stays open");
        match frame["type"].as_str() {
            Some("sent") => {
                assert_eq!(frame["created"], true, "{frame}");
                answered += 1;
            }
            Some("message") => seqs.push(frame["message"]["seq"].as_i64().expect("seq")),
            Some("error") => panic!("send refused: {frame}"),
            _ => {}
        }
    }
    seqs
}

fn assert_in_order(who: &str, seqs: &[i64]) {
    let out_of_order = seqs.windows(2).filter(|w| w[1] <= w[0]).count();
    assert_eq!(
        out_of_order, 0,
        "{who}: {out_of_order} live frames out of seq order: {seqs:?}"
    );
}

async fn live_messages_of_a_conversation_arrive_in_seq_order(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.enabled = false).await;
    let api = server.api();
    run(&server.base_url, &server.base_url, &api, &api).await;
}

/// Two nodes on one PostgreSQL and one Redis: each participant sends through its own node, and
/// receivers on both nodes see one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_a_conversation_in_seq_order() {
    let node_a = TestServer::start_with(Backend::Scale, |c| c.rate_limits.enabled = false).await;
    let node_b = node_a.extra_node().await;
    run(
        &node_a.base_url,
        &node_b.base_url,
        &node_a.api(),
        &node_b.api(),
    )
    .await;
}

/// Ann sends over a socket on node `a`; Bob sends over HTTP to node `b` from several tasks; Ann's
/// second device (on `b`) and Bob's two devices (one on each node) receive. Every receiver gets
/// the conversation's frames in `seq` order, and the full receivers get every message.
async fn run(a: &str, b: &str, api_a: &Api, api_b: &Api) {
    let ann_name = Api::username("ann");
    let ann = api_a.register(&ann_name).await;
    let ann_phone = api_b
        .login_ok(&ann_name, &ann.password, Device::random("ios"))
        .await;
    let bob_name = Api::username("bob");
    let bob = api_b.register(&bob_name).await;
    let bob_laptop = api_a
        .login_ok(&bob_name, &bob.password, Device::random("web"))
        .await;
    let conversation = api_a
        .open_conversation(&ann.access_token, &bob.user_id)
        .await;
    let mut sockets = Vec::new();
    for (base, token) in [
        (a, &ann.access_token),
        (b, &ann_phone.access_token),
        (b, &bob.access_token),
        (a, &bob_laptop.access_token),
    ] {
        let mut ws = WsClient::connect(base, token).await;
        ws.next_of("hello").await;
        sockets.push(ws);
    }
    // The conversation's first message reaches everyone before the concurrent sends: a node
    // starts a conversation's order at the first of its messages it sees (see
    // `realtime::order`).
    api_a
        .send_message(&ann.access_token, &conversation, message_body("first"))
        .await;
    for ws in &mut sockets {
        assert_eq!(ws.next_of("message").await["message"]["seq"], 1);
    }
    let bob_laptop_ws = sockets.pop().unwrap();
    let bob_ws = sockets.pop().unwrap();
    let ann_phone_ws = sockets.pop().unwrap();
    let ann_ws = sockets.pop().unwrap();
    let from_http = HTTP_TASKS * PER_HTTP_TASK;
    let receivers = [
        (
            "ann's phone",
            collect(ann_phone_ws, conversation.clone(), TOTAL),
        ),
        ("bob", collect(bob_ws, conversation.clone(), TOTAL)),
        (
            "bob's laptop",
            collect(bob_laptop_ws, conversation.clone(), TOTAL),
        ),
    ];
    let senders: Vec<_> = (0..HTTP_TASKS)
        .map(|_| {
            http_sender(
                api_b.clone(),
                bob.access_token.clone(),
                conversation.clone(),
                PER_HTTP_TASK,
            )
        })
        .collect();
    let ann_seen = socket_sender(ann_ws, conversation.clone(), from_http).await;
    for sender in senders {
        sender.await.expect("HTTP sender");
    }
    assert_in_order("ann's sending socket", &ann_seen);
    for (who, receiver) in receivers {
        let seqs = receiver.await.expect("receiver");
        assert_in_order(who, &seqs);
        assert_eq!(seqs, (2..=TOTAL as i64 + 1).collect::<Vec<_>>(), "{who}");
    }
}
