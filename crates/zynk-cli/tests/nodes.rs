//! Two users with two devices each, on separate homes, exchange messages through `zynk` across
//! two server nodes sharing PostgreSQL and Redis: Alice's devices talk to node A, Bob's to node
//! B; every device reads the whole conversation and a listener on one node gets what is sent
//! through the other in real time.

mod common;

use zynk_testkit::{Backend, TestServer};

use common::{Device, username};

fn device_on(base_url: &str) -> Device {
    Device::at(base_url, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_two_devices_across_two_nodes() {
    let node_a = TestServer::start(Backend::Scale).await;
    let node_b = node_a.extra_node().await;
    let (alice, bob) = (username("alice"), username("bob"));
    let (alice1, alice2) = (device_on(&node_a.base_url), device_on(&node_a.base_url));
    let (bob1, bob2) = (device_on(&node_b.base_url), device_on(&node_b.base_url));
    alice1.ok(&["register", &alice]).await;
    alice2.ok(&["login", &alice]).await;
    bob1.ok(&["register", &bob]).await;
    bob2.ok(&["login", &bob]).await;

    let mut listener = bob1.spawn(&["listen", "--json"]);
    listener.stderr_line("listening").await;
    let first = alice1.send(&["send", &bob, "hello across nodes"]).await;
    let line = listener
        .json_line("the message from node A", |v| v["id"] == first.as_str())
        .await;
    assert_eq!(line["text"], "hello across nodes");
    assert_eq!(line["sender"], alice.as_str());

    let reply = bob2.send(&["reply", &first, "hi from node B"]).await;
    alice2.send(&["react", &first, "🎉"]).await;
    alice1.send(&["edit", &first, "hello across nodes!"]).await;
    let last = bob1.send(&["send", &alice, "last one"]).await;
    listener.stop().await;

    for (device, peer) in [
        (&alice1, &bob),
        (&alice2, &bob),
        (&bob1, &alice),
        (&bob2, &alice),
    ] {
        let items = device.messages(peer).await;
        let ids: Vec<&str> = items.iter().filter_map(|m| m["id"].as_str()).collect();
        for id in [first.as_str(), reply.as_str(), last.as_str()] {
            assert!(ids.contains(&id), "{id} missing on a device: {items:#?}");
        }
        let hello = items
            .iter()
            .find(|m| m["id"] == first.as_str())
            .expect("first message");
        assert_eq!(hello["text"], "hello across nodes!");
        assert_eq!(hello["edited"], true);
        assert!(hello["reactions"]["🎉"].is_array(), "{hello}");
        assert!(
            items.iter().all(|m| m["undecryptable"] != true),
            "{items:#?}"
        );
    }
}
