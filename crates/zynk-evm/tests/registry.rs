//! zynk-evm against a real anvil node (npm `@foundry-rs/anvil-linux-amd64`, pinned in
//! tools/package.json). Each test spawns its own anvil. A missing anvil fails the test.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{B256, Bytes, TxKind, keccak256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::{BlockNumberOrTag, TransactionRequest};
use zynk_evm::{
    Address, EvmConfig, EvmError, EvmReceipt, EvmRegistry, PreparedTx, RegistryCall, RegistryEvent,
};

fn anvil_path() -> PathBuf {
    let path = match std::env::var_os("ZYNK_ANVIL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"),
    };
    assert!(
        path.is_file(),
        "anvil not found at {}: run `npm ci --prefix tools` in the repository root (or set \
         ZYNK_ANVIL to an anvil binary)",
        path.display()
    );
    path
}

/// anvil with automatic mining (one block per transaction).
fn anvil() -> AnvilInstance {
    anvil_with(&[])
}

fn anvil_with(args: &[&str]) -> AnvilInstance {
    zynk_evm::install_tls_provider();
    Anvil::at(anvil_path())
        .args(args)
        .try_spawn()
        .expect("spawning anvil")
}

/// anvil that mines only when told (`evm_mine`), so transactions stay pending.
fn anvil_manual() -> AnvilInstance {
    anvil_with(&["--no-mining"])
}

fn key(anvil: &AnvilInstance, i: usize) -> [u8; 32] {
    let mut k = [0u8; 32];
    k.copy_from_slice(&anvil.keys()[i].to_bytes());
    k
}

async fn mine(anvil: &AnvilInstance, blocks: u64) {
    let p = ProviderBuilder::new().connect_http(anvil.endpoint_url());
    for _ in 0..blocks {
        let _: String = p
            .raw_request("evm_mine".into(), ())
            .await
            .expect("evm_mine");
    }
}

/// Deploys with account 0. With `--no-mining` the deployment is mined by a helper task.
async fn deploy(anvil: &AnvilInstance) -> Address {
    let url = anvil.endpoint();
    let k = key(anvil, 0);
    let deploying = tokio::spawn(async move { EvmRegistry::deploy(&url, &k).await });
    let started = Instant::now();
    while !deploying.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "deployment did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Harmless with automatic mining; needed with --no-mining.
        mine(anvil, 1).await;
    }
    deploying.await.unwrap().expect("deploy")
}

async fn connect(anvil: &AnvilInstance, contract: Address, key_index: usize) -> EvmRegistry {
    let mut config = EvmConfig::new(anvil.endpoint(), key(anvil, key_index), Some(contract));
    config.chain_id = Some(anvil.chain_id());
    EvmRegistry::connect(&config).await.expect("connect")
}

async fn send(reg: &EvmRegistry, call: &RegistryCall) -> PreparedTx {
    let nonce = reg.next_nonce().await.unwrap();
    let tx = reg.prepare(call, nonce).await.unwrap();
    assert_eq!(reg.broadcast(&tx.raw).await.unwrap(), tx.hash);
    tx
}

async fn wait_receipt(reg: &EvmRegistry, hash: [u8; 32]) -> EvmReceipt {
    let started = Instant::now();
    loop {
        if let Some(r) = reg.receipt(hash).await.unwrap() {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no receipt for {:?}",
            B256::from(hash)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends and waits (automatic mining).
async fn publish(reg: &EvmRegistry, call: &RegistryCall) -> EvmReceipt {
    let tx = send(reg, call).await;
    wait_receipt(reg, tx.hash).await
}

fn h(byte: u8) -> [u8; 32] {
    [byte; 32]
}

const DID: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

/// Checks a receipt against the node, independently of the crate's own parsing.
async fn check_against_node(anvil: &AnvilInstance, tx: &PreparedTx, r: &EvmReceipt) {
    let p = ProviderBuilder::new().connect_http(anvil.endpoint_url());
    assert_eq!(
        keccak256(&tx.raw).0,
        tx.hash,
        "hash is keccak-256 of the raw transaction"
    );
    let node_tx = p
        .get_transaction_by_hash(B256::from(tx.hash))
        .await
        .unwrap()
        .expect("tx known");
    assert_eq!(node_tx.block_number, Some(r.block_number));
    let block = p
        .get_block_by_number(BlockNumberOrTag::Number(r.block_number))
        .await
        .unwrap()
        .expect("block");
    assert_eq!(block.header.hash.0, r.block_hash);
    let node_receipt = p
        .get_transaction_receipt(B256::from(tx.hash))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(node_receipt.gas_used, r.gas_used);
    assert!(
        r.gas_used > 21_000,
        "a contract call uses more than a plain transfer"
    );
    assert_eq!(r.tx_hash, tx.hash);
}

#[tokio::test]
async fn every_call_goes_from_pending_to_confirmed_with_decoded_events() {
    let anvil = anvil_manual();
    let contract = deploy(&anvil).await;
    let reg = connect(&anvil, contract, 0).await;
    assert_eq!(reg.chain_id(), anvil.chain_id());
    assert_eq!(reg.contract(), contract);
    assert_eq!(reg.from(), anvil.addresses()[0]);
    assert_eq!(reg.owner().await.unwrap(), reg.from());

    let cases = [
        (
            RegistryCall::RegisterIdentity {
                ledger_tx: h(1),
                did: DID.into(),
                public_key: h(0xaa),
            },
            RegistryEvent::IdentityRegistered {
                ledger_tx: h(1),
                did: DID.into(),
                public_key: h(0xaa),
            },
        ),
        (
            RegistryCall::RegisterIdentity {
                ledger_tx: h(2),
                did: DID.into(),
                public_key: h(0xbb),
            },
            RegistryEvent::IdentityKeyRotated {
                ledger_tx: h(2),
                did: DID.into(),
                old_key: h(0xaa),
                new_key: h(0xbb),
            },
        ),
        (
            RegistryCall::UpdateTrustScore {
                ledger_tx: h(3),
                did: DID.into(),
                old: 50,
                new: 72,
                reason: 4,
            },
            RegistryEvent::TrustScoreUpdated {
                ledger_tx: h(3),
                did: DID.into(),
                old: 50,
                new: 72,
                reason: 4,
            },
        ),
        (
            RegistryCall::AnchorRoot {
                ledger_tx: h(4),
                height: 17,
                root: h(0xcc),
                tree_size: 99,
            },
            RegistryEvent::RootAnchored {
                ledger_tx: h(4),
                height: 17,
                root: h(0xcc),
                tree_size: 99,
            },
        ),
        (
            RegistryCall::IssueCredential {
                ledger_tx: h(5),
                credential_hash: h(0xdd),
                subject_did: DID.into(),
            },
            RegistryEvent::CredentialIssued {
                ledger_tx: h(5),
                credential_hash: h(0xdd),
                subject_did: DID.into(),
            },
        ),
    ];

    for (call, event) in &cases {
        let nonce = reg.next_nonce().await.unwrap();
        let tx = reg.prepare(call, nonce).await.unwrap();
        assert_eq!((tx.nonce, tx.to, tx.from), (nonce, contract, reg.from()));
        // Signed but not sent: the node does not know it.
        assert!(!reg.is_known(tx.hash).await.unwrap());
        assert_eq!(reg.broadcast(&tx.raw).await.unwrap(), tx.hash);
        // Pending: known, counted in the pending nonce, no receipt.
        assert!(reg.is_known(tx.hash).await.unwrap());
        assert_eq!(reg.next_nonce().await.unwrap(), nonce + 1);
        assert_eq!(reg.receipt(tx.hash).await.unwrap(), None);
        assert!(!reg.recorded(call.ledger_tx()).await.unwrap());

        mine(&anvil, 1).await;
        let r = reg
            .receipt(tx.hash)
            .await
            .unwrap()
            .expect("mined with 1 confirmation");
        assert!(r.success, "{call:?}");
        assert_eq!(r.confirmations, 1);
        assert_eq!(r.events, vec![event.clone()]);
        assert!(r.log_index.is_some());
        check_against_node(&anvil, &tx, &r).await;
        assert!(reg.recorded(call.ledger_tx()).await.unwrap());
        let kind = format!("{event:?}");
        println!(
            "gas used {:>6}: {}",
            r.gas_used,
            kind.split_whitespace().next().unwrap()
        );
    }

    assert_eq!(reg.identity_key(DID).await.unwrap(), Some(h(0xbb)));
    assert_eq!(reg.identity_key("did:key:unknown").await.unwrap(), None);
    assert_eq!(reg.trust_score(DID).await.unwrap(), Some(72));
    assert_eq!(reg.trust_score("did:key:unknown").await.unwrap(), None);
    assert_eq!(reg.anchored_root(17).await.unwrap(), Some((h(0xcc), 99)));
    assert_eq!(reg.anchored_root(18).await.unwrap(), None);
}

#[tokio::test]
async fn receipt_waits_for_the_configured_confirmations() {
    let anvil = anvil();
    let contract = deploy(&anvil).await;
    let mut config = EvmConfig::new(anvil.endpoint(), key(&anvil, 0), Some(contract));
    config.confirmations = 3;
    let reg = EvmRegistry::connect(&config).await.unwrap();
    assert_eq!(reg.confirmations(), 3);

    let call = RegistryCall::AnchorRoot {
        ledger_tx: h(1),
        height: 1,
        root: h(9),
        tree_size: 1,
    };
    let tx = send(&reg, &call).await;
    // Mined on arrival (automatic mining; the node may answer the send just before the block
    // exists, so wait for it), but with one confirmation only.
    let p = ProviderBuilder::new().connect_http(anvil.endpoint_url());
    let mut mined = None;
    for _ in 0..400 {
        mined = p
            .get_transaction_receipt(B256::from(tx.hash))
            .await
            .unwrap();
        if mined.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(mined.is_some(), "anvil mines on receipt of the transaction");
    assert_eq!(reg.receipt(tx.hash).await.unwrap(), None);
    mine(&anvil, 1).await;
    assert_eq!(reg.receipt(tx.hash).await.unwrap(), None);
    mine(&anvil, 1).await;
    let r = reg
        .receipt(tx.hash)
        .await
        .unwrap()
        .expect("3 confirmations");
    assert_eq!(r.confirmations, 3);
    assert!(r.success);
    mine(&anvil, 2).await;
    assert_eq!(
        reg.receipt(tx.hash).await.unwrap().unwrap().confirmations,
        5
    );
}

#[tokio::test]
async fn a_ledger_tx_seen_before_is_a_silent_no_op() {
    let anvil = anvil();
    let contract = deploy(&anvil).await;
    let reg = connect(&anvil, contract, 0).await;

    // Each pair: the first write, then the same ledger_tx with other values.
    let pairs = [
        (
            RegistryCall::RegisterIdentity {
                ledger_tx: h(1),
                did: DID.into(),
                public_key: h(0xaa),
            },
            RegistryCall::RegisterIdentity {
                ledger_tx: h(1),
                did: DID.into(),
                public_key: h(0xee),
            },
        ),
        (
            RegistryCall::UpdateTrustScore {
                ledger_tx: h(2),
                did: DID.into(),
                old: 0,
                new: 40,
                reason: 1,
            },
            RegistryCall::UpdateTrustScore {
                ledger_tx: h(2),
                did: DID.into(),
                old: 40,
                new: 90,
                reason: 1,
            },
        ),
        (
            RegistryCall::AnchorRoot {
                ledger_tx: h(3),
                height: 1,
                root: h(0x11),
                tree_size: 4,
            },
            RegistryCall::AnchorRoot {
                ledger_tx: h(3),
                height: 2,
                root: h(0x22),
                tree_size: 8,
            },
        ),
        (
            RegistryCall::IssueCredential {
                ledger_tx: h(4),
                credential_hash: h(0x33),
                subject_did: DID.into(),
            },
            RegistryCall::IssueCredential {
                ledger_tx: h(4),
                credential_hash: h(0x33),
                subject_did: DID.into(),
            },
        ),
    ];
    for (first, again) in &pairs {
        let r1 = publish(&reg, first).await;
        assert!(r1.success);
        assert_eq!(r1.events.len(), 1, "{first:?}");
        let r2 = publish(&reg, again).await;
        assert!(
            r2.success,
            "a repeated ledger_tx does not revert: {again:?}"
        );
        assert_eq!(
            r2.events,
            vec![],
            "a repeated ledger_tx emits nothing: {again:?}"
        );
        assert_eq!(r2.log_index, None);
        assert_ne!(r1.block_number, r2.block_number);
        assert!(
            r2.gas_used < r1.gas_used,
            "the no-op is cheaper than the write"
        );
    }
    // State is the first write's.
    assert_eq!(reg.identity_key(DID).await.unwrap(), Some(h(0xaa)));
    assert_eq!(reg.trust_score(DID).await.unwrap(), Some(40));
    assert_eq!(reg.anchored_root(1).await.unwrap(), Some((h(0x11), 4)));
    assert_eq!(reg.anchored_root(2).await.unwrap(), None);

    // A new ledger_tx that repeats the current state changes nothing either.
    let same_key = RegistryCall::RegisterIdentity {
        ledger_tx: h(5),
        did: DID.into(),
        public_key: h(0xaa),
    };
    let r = publish(&reg, &same_key).await;
    assert!(r.success);
    assert_eq!(r.events, vec![]);
    assert!(reg.recorded(h(5)).await.unwrap());
}

#[tokio::test]
async fn anchoring_a_height_again_with_another_root_reverts() {
    let anvil = anvil();
    let contract = deploy(&anvil).await;
    let reg = connect(&anvil, contract, 0).await;

    let first = RegistryCall::AnchorRoot {
        ledger_tx: h(1),
        height: 7,
        root: h(0xaa),
        tree_size: 10,
    };
    assert!(publish(&reg, &first).await.success);

    let other_root = RegistryCall::AnchorRoot {
        ledger_tx: h(2),
        height: 7,
        root: h(0xbb),
        tree_size: 10,
    };
    let r = publish(&reg, &other_root).await;
    assert!(
        !r.success,
        "another root for an anchored height must revert"
    );
    assert_eq!(r.events, vec![]);
    assert!(r.gas_used > 0);
    let other_size = RegistryCall::AnchorRoot {
        ledger_tx: h(3),
        height: 7,
        root: h(0xaa),
        tree_size: 11,
    };
    assert!(!publish(&reg, &other_size).await.success);
    assert_eq!(reg.anchored_root(7).await.unwrap(), Some((h(0xaa), 10)));
    assert!(
        !reg.recorded(h(2)).await.unwrap(),
        "a reverted write records nothing"
    );
    assert!(!reg.recorded(h(3)).await.unwrap());

    // The same root and size under a new ledger_tx: no revert, no event.
    let same = RegistryCall::AnchorRoot {
        ledger_tx: h(4),
        height: 7,
        root: h(0xaa),
        tree_size: 10,
    };
    let r = publish(&reg, &same).await;
    assert!(r.success);
    assert_eq!(r.events, vec![]);
    assert!(reg.recorded(h(4)).await.unwrap());
}

#[tokio::test]
async fn a_write_from_another_signer_reverts() {
    let anvil = anvil();
    let contract = deploy(&anvil).await;
    let stranger = connect(&anvil, contract, 1).await;
    assert_ne!(stranger.from(), stranger.owner().await.unwrap());
    assert_eq!(stranger.owner().await.unwrap(), anvil.addresses()[0]);

    let calls = [
        RegistryCall::AnchorRoot {
            ledger_tx: h(1),
            height: 1,
            root: h(2),
            tree_size: 3,
        },
        RegistryCall::RegisterIdentity {
            ledger_tx: h(2),
            did: DID.into(),
            public_key: h(3),
        },
    ];
    for call in &calls {
        let r = publish(&stranger, call).await;
        assert!(!r.success, "{call:?}");
        assert_eq!(r.events, vec![]);
        assert!(!stranger.recorded(call.ledger_tx()).await.unwrap());
    }
    assert_eq!(stranger.anchored_root(1).await.unwrap(), None);
    assert_eq!(stranger.identity_key(DID).await.unwrap(), None);

    // The owner is refused nothing: the stranger's ledger_tx values were not consumed.
    let owner = connect(&anvil, contract, 0).await;
    let r = publish(&owner, &calls[0]).await;
    assert!(r.success);
    assert_eq!(r.events.len(), 1);
}

#[tokio::test]
async fn a_prepared_transaction_survives_a_crash_and_broadcasts_idempotently() {
    let anvil = anvil_manual();
    let contract = deploy(&anvil).await;

    // Prepare a batch, keep only the raw bytes (as an outbox row would), then "crash".
    let prepared: Vec<PreparedTx> = {
        let reg = connect(&anvil, contract, 0).await;
        let n = reg.next_nonce().await.unwrap();
        let mut out = Vec::new();
        for i in 0..3u8 {
            let call = RegistryCall::AnchorRoot {
                ledger_tx: h(i + 1),
                height: u64::from(i),
                root: h(0x10 + i),
                tree_size: u64::from(i) + 1,
            };
            out.push(reg.prepare(&call, n + u64::from(i)).await.unwrap());
        }
        out
    };

    let reg = connect(&anvil, contract, 0).await;
    // Sent out of order and twice each while pending: all fine.
    for tx in prepared.iter().rev() {
        assert_eq!(reg.broadcast(&tx.raw).await.unwrap(), tx.hash);
        assert_eq!(reg.broadcast(&tx.raw).await.unwrap(), tx.hash);
    }
    mine(&anvil, 1).await;
    for (i, tx) in prepared.iter().enumerate() {
        let r = reg.receipt(tx.hash).await.unwrap().expect("mined");
        assert!(r.success);
        assert_eq!(r.events.len(), 1);
        assert_eq!(
            reg.anchored_root(i as u64).await.unwrap(),
            Some((h(0x10 + i as u8), i as u64 + 1))
        );
        // Mined: a resend is still success, and changes nothing.
        assert_eq!(reg.broadcast(&tx.raw).await.unwrap(), tx.hash);
    }
    mine(&anvil, 1).await;
    let p = ProviderBuilder::new().connect_http(anvil.endpoint_url());
    let count = p.get_transaction_count(reg.from()).await.unwrap();
    assert_eq!(
        count,
        1 + 3,
        "deployment + three writes, nothing sent twice"
    );

    // A different transaction prepared for a nonce that is already used can never be mined.
    let late = RegistryCall::AnchorRoot {
        ledger_tx: h(9),
        height: 9,
        root: h(9),
        tree_size: 9,
    };
    let stale = reg.prepare(&late, prepared[0].nonce).await.unwrap();
    match reg.broadcast(&stale.raw).await {
        Err(EvmError::NonceUsed { nonce, from, .. }) => {
            assert_eq!((nonce, from), (prepared[0].nonce, reg.from()));
        }
        other => panic!("expected NonceUsed, got {other:?}"),
    }
    assert!(!reg.is_known(stale.hash).await.unwrap());

    // Garbage is not a transaction.
    assert!(matches!(
        reg.broadcast(b"\x02not a tx").await,
        Err(EvmError::MalformedTx(_))
    ));
}

#[tokio::test]
async fn invalid_calls_are_refused_before_signing() {
    let anvil = anvil();
    let contract = deploy(&anvil).await;
    let reg = connect(&anvil, contract, 0).await;
    let nonce = reg.next_nonce().await.unwrap();
    let bad = [
        RegistryCall::UpdateTrustScore {
            ledger_tx: h(1),
            did: DID.into(),
            old: 0,
            new: 101,
            reason: 0,
        },
        RegistryCall::UpdateTrustScore {
            ledger_tx: h(1),
            did: String::new(),
            old: 0,
            new: 1,
            reason: 0,
        },
        RegistryCall::RegisterIdentity {
            ledger_tx: h(1),
            did: DID.into(),
            public_key: [0; 32],
        },
        RegistryCall::AnchorRoot {
            ledger_tx: h(1),
            height: 1,
            root: [0; 32],
            tree_size: 1,
        },
        RegistryCall::AnchorRoot {
            ledger_tx: [0; 32],
            height: 1,
            root: h(1),
            tree_size: 1,
        },
        RegistryCall::IssueCredential {
            ledger_tx: h(1),
            credential_hash: h(1),
            subject_did: String::new(),
        },
    ];
    for call in &bad {
        match reg.prepare(call, nonce).await {
            Err(EvmError::InvalidCall { .. }) => {}
            other => panic!("expected InvalidCall for {call:?}, got {other:?}"),
        }
    }
    // The contract enforces the score bound on its own too: bypass the local check.
    let p = ProviderBuilder::new()
        .wallet(
            alloy::signers::local::PrivateKeySigner::from_bytes(&B256::from(key(&anvil, 0)))
                .unwrap(),
        )
        .connect_http(anvil.endpoint_url());
    let calldata = alloy::sol_types::SolCall::abi_encode(&raw::updateTrustScoreCall {
        ledgerTx: B256::from(h(1)),
        did: DID.into(),
        oldScore: 0,
        newScore: 101,
        reason: 0,
    });
    let tx = TransactionRequest::default()
        .with_to(contract)
        .with_input(Bytes::from(calldata))
        .with_gas_limit(200_000);
    let receipt = p
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(!receipt.status(), "the contract refuses a score above 100");
    assert_eq!(reg.trust_score(DID).await.unwrap(), None);
}

// The one function the test above calls behind the crate's back.
alloy::sol! {
    contract raw {
        function updateTrustScore(bytes32 ledgerTx, string did, uint8 oldScore, uint8 newScore, uint8 reason);
    }
}

#[tokio::test]
async fn connecting_to_the_wrong_place_is_a_clear_error() {
    let anvil = anvil();
    let contract = deploy(&anvil).await;
    let k = key(&anvil, 0);
    let url = anvil.endpoint();
    let err = |config: EvmConfig| async move {
        EvmRegistry::connect(&config)
            .await
            .expect_err("connect must fail")
    };

    // An address with no code.
    let empty = Address::repeat_byte(0x42);
    let e = err(EvmConfig::new(&url, k, Some(empty))).await;
    assert!(
        matches!(e, EvmError::NoCode { address, chain_id } if address == empty && chain_id == anvil.chain_id()),
        "{e:?}"
    );
    assert!(e.to_string().contains("no contract code at 0x4242"), "{e}");

    // An address with other code: a contract whose runtime code returns 42.
    let p = ProviderBuilder::new()
        .wallet(alloy::signers::local::PrivateKeySigner::from_bytes(&B256::from(k)).unwrap())
        .connect_http(anvil.endpoint_url());
    let init: Bytes = "0x600a600c600039600a6000f3602a60005260206000f3"
        .parse()
        .unwrap();
    let create = TransactionRequest::default()
        .with_kind(TxKind::Create)
        .with_input(init);
    let other = p
        .send_transaction(create)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let other = other.contract_address.unwrap();
    assert!(!p.get_code_at(other).await.unwrap().is_empty());
    let e = err(EvmConfig::new(&url, k, Some(other))).await;
    assert!(
        matches!(e, EvmError::NotRegistry { address, .. } if address == other),
        "{e:?}"
    );

    // The right address on the wrong chain.
    let mut config = EvmConfig::new(&url, k, Some(contract));
    config.chain_id = Some(1);
    let e = err(config).await;
    assert!(
        matches!(e, EvmError::WrongChain { expected: 1, actual } if actual == anvil.chain_id()),
        "{e:?}"
    );

    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = err(EvmConfig::new(
        format!("http://127.0.0.1:{port}"),
        k,
        Some(contract),
    ))
    .await;
    assert!(
        matches!(
            e,
            EvmError::Unreachable {
                during: "eth_chainId",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");

    // Configuration mistakes.
    let e = err(EvmConfig::new(
        "https://rpc.example/v3/SECRET",
        k,
        Some(contract),
    ))
    .await;
    assert!(matches!(e, EvmError::InvalidUrl { .. }), "{e:?}");
    assert!(
        !e.to_string().contains("SECRET"),
        "the URL path may hold an API key: {e}"
    );
    assert!(matches!(
        err(EvmConfig::new(&url, k, None)).await,
        EvmError::NoContract
    ));
    assert!(matches!(
        err(EvmConfig::new(&url, [0; 32], Some(contract))).await,
        EvmError::InvalidSignerKey
    ));
    assert!(matches!(
        EvmRegistry::deploy("ftp://x", &k).await,
        Err(EvmError::InvalidUrl { .. })
    ));

    // And the right place works.
    assert_eq!(connect(&anvil, contract, 0).await.contract(), contract);
}

#[tokio::test]
async fn a_chain_without_eip1559_gets_legacy_transactions() {
    let anvil = anvil_with(&["--hardfork", "berlin"]);
    let contract = deploy(&anvil).await;
    let reg = connect(&anvil, contract, 0).await;
    let call = RegistryCall::AnchorRoot {
        ledger_tx: h(1),
        height: 3,
        root: h(4),
        tree_size: 5,
    };
    let tx = send(&reg, &call).await;
    assert!(tx.raw[0] >= 0xc0, "a legacy transaction is a bare RLP list");
    let r = wait_receipt(&reg, tx.hash).await;
    assert!(r.success);
    assert_eq!(r.events.len(), 1);
    check_against_node(&anvil, &tx, &r).await;
}
