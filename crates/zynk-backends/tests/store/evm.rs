//! `EvmStore`: the publication outbox from queued to sent to confirmed or failed, requeueing after
//! a lost nonce, unpublishable rows, the latest publication of a ledger transaction and the counts.
//! Outbox rows are queued by the ledger's block writes; here they are arranged directly.

use crate::fixtures::*;
use crate::harness::{Arg, TestDb};
use zynk_backends::model::*;
use zynk_proto::PublicationStatus;

conformance!(
    open_rows_come_in_queue_order,
    a_queued_row_is_signed_once,
    concurrent_publishers_sign_a_row_once,
    a_requeued_row_is_queued_again_and_its_publication_failed,
    receipts_confirm_or_fail_a_publication,
    an_unpublishable_row_leaves_the_queue,
);

/// Queues an outbox row as a sealed block would; returns what `evm_outbox_open` should show.
async fn queue(
    db: &TestDb,
    tx_type: &str,
    height: Option<i64>,
    user: Option<UserId>,
) -> OutboxItemRecord {
    let item = OutboxItemRecord {
        ledger_tx_hash: tx_hash(),
        tx_type: tx_type.to_owned(),
        tx_json: format!(r#"{{"type":"{tx_type}"}}"#).into_bytes(),
        height,
        user_id: user,
        related_entity_id: Some(new_uuid()),
    };
    db.execute(
        "INSERT INTO evm_outbox (ledger_tx_hash, transaction_type, tx_json, height, user_id, \
         related_entity_id, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7)",
        &[
            Arg::text(&item.ledger_tx_hash),
            Arg::text(&item.tx_type),
            Arg::Bytes(item.tx_json.clone()),
            Arg::OptInt(item.height),
            Arg::opt_id(item.user_id),
            Arg::opt_id(item.related_entity_id),
            Arg::Time(now()),
        ],
    )
    .await;
    item
}

/// The signature of an outbox row: a new Ethereum transaction for it.
fn signed(seq: i64, nonce: i64) -> EvmSent {
    EvmSent {
        seq,
        nonce,
        evm_tx_hash: tx_hash(),
        raw_tx: vec![0x02, 0xf8, u8::try_from(nonce).unwrap()],
        chain: "eip155:31337".into(),
        from_address: "0x00000000000000000000000000000000000000aa".into(),
        to_address: "0x00000000000000000000000000000000000000bb".into(),
    }
}

async fn open(db: &TestDb) -> Vec<OutboxRow> {
    db.evm_outbox_open(100).await.unwrap()
}

async fn counts(db: &TestDb) -> Vec<(PublicationStatus, i64)> {
    db.evm_outbox_counts().await.unwrap()
}

fn count(status: &str, n: i64) -> (PublicationStatus, i64) {
    (status.parse().expect("a publication status"), n)
}

async fn open_rows_come_in_queue_order(db: &TestDb) {
    let alice = register(db, "alice").await;
    assert!(open(db).await.is_empty());
    assert!(counts(db).await.is_empty());
    let items = [
        queue(db, "identity_registration", None, Some(alice.user_id)).await,
        queue(db, "message_anchor", Some(7), None).await,
        queue(db, "trust_score_update", None, Some(alice.user_id)).await,
    ];
    let rows = open(db).await;
    assert_eq!(
        rows.iter().map(|r| r.item.clone()).collect::<Vec<_>>(),
        items.to_vec()
    );
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    for row in &rows {
        assert_eq!(row.status, PublicationStatus::Queued);
        assert_eq!(
            (row.nonce, &row.evm_tx_hash, &row.raw_tx),
            (None, &None, &None)
        );
    }
    assert_eq!(db.evm_outbox_open(2).await.unwrap(), rows[..2].to_vec());
    assert_eq!(counts(db).await, vec![count("queued", 3)]);
    assert_eq!(
        db.evm_publication(&items[0].ledger_tx_hash).await.unwrap(),
        None
    );
}

async fn a_queued_row_is_signed_once(db: &TestDb) {
    let alice = register(db, "alice").await;
    let item = queue(db, "identity_registration", None, Some(alice.user_id)).await;
    let row = open(db).await.remove(0);
    let sent = signed(row.seq, 0);
    assert!(db.evm_mark_sent(&sent, &row.item, now()).await.unwrap());

    let rows = open(db).await;
    assert_eq!(
        rows,
        vec![OutboxRow {
            seq: row.seq,
            item: item.clone(),
            status: PublicationStatus::Sent,
            nonce: Some(0),
            evm_tx_hash: Some(sent.evm_tx_hash.clone()),
            raw_tx: Some(sent.raw_tx.clone()),
        }]
    );
    assert_eq!(
        db.evm_publication(&item.ledger_tx_hash).await.unwrap(),
        Some(EvmPublication {
            chain: "eip155:31337".into(),
            evm_tx_hash: sent.evm_tx_hash.clone(),
            to_address: Some(sent.to_address.clone()),
            block_number: None,
            block_hash: None,
            gas_used: None,
            log_index: None,
            status: PublicationStatus::Pending,
        })
    );

    // Another publisher that read the row as queued loses: nothing written.
    let late = signed(row.seq, 1);
    assert!(!db.evm_mark_sent(&late, &row.item, now()).await.unwrap());
    assert_eq!(open(db).await, rows);
    assert_eq!(
        db.evm_publication(&item.ledger_tx_hash)
            .await
            .unwrap()
            .unwrap()
            .evm_tx_hash,
        sent.evm_tx_hash
    );
    assert_eq!(counts(db).await, vec![count("sent", 1)]);
}

async fn concurrent_publishers_sign_a_row_once(db: &TestDb) {
    let item = queue(db, "identity_registration", None, None).await;
    let row = open(db).await.remove(0);
    let tasks: Vec<_> = (0..4)
        .map(|nonce| {
            let store = db.shared();
            let row = row.clone();
            tokio::spawn(async move {
                let sent = signed(row.seq, nonce);
                let won = store.evm_mark_sent(&sent, &row.item, now()).await.unwrap();
                (won, sent.evm_tx_hash)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (won, hash) = task.await.unwrap();
        if won {
            winners.push(hash);
        }
    }
    assert_eq!(winners.len(), 1);
    let publication = db
        .evm_publication(&item.ledger_tx_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(publication.evm_tx_hash, winners[0]);
    assert_eq!(open(db).await[0].evm_tx_hash.as_ref(), Some(&winners[0]));
}

async fn a_requeued_row_is_queued_again_and_its_publication_failed(db: &TestDb) {
    let item = queue(db, "message_anchor", Some(3), None).await;
    let row = open(db).await.remove(0);
    let first = signed(row.seq, 4);
    assert!(db.evm_mark_sent(&first, &row.item, now()).await.unwrap());
    db.evm_requeue(row.seq, &first.evm_tx_hash, now())
        .await
        .unwrap();

    let rows = open(db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, PublicationStatus::Queued);
    assert_eq!(
        (rows[0].nonce, &rows[0].evm_tx_hash, &rows[0].raw_tx),
        (None, &None, &None)
    );
    let publication = db
        .evm_publication(&item.ledger_tx_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(publication.evm_tx_hash, first.evm_tx_hash);
    assert_eq!(publication.status, PublicationStatus::Failed);

    // Signed again with another nonce: the new publication is the one that counts.
    let second = signed(row.seq, 5);
    assert!(
        db.evm_mark_sent(&second, &rows[0].item, now())
            .await
            .unwrap()
    );
    let publication = db
        .evm_publication(&item.ledger_tx_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(publication.evm_tx_hash, second.evm_tx_hash);
    assert_eq!(publication.status, PublicationStatus::Pending);
    assert_eq!(counts(db).await, vec![count("sent", 1)]);
}

async fn receipts_confirm_or_fail_a_publication(db: &TestDb) {
    let alice = register(db, "alice").await;
    let good = queue(db, "identity_registration", None, Some(alice.user_id)).await;
    let bad = queue(db, "credential_issuance", None, Some(alice.user_id)).await;
    let waiting = queue(db, "trust_score_update", None, None).await;
    let rows = open(db).await;
    let sent: Vec<EvmSent> = rows[..2]
        .iter()
        .enumerate()
        .map(|(i, r)| signed(r.seq, i64::try_from(i).unwrap()))
        .collect();
    for (s, row) in sent.iter().zip(&rows) {
        assert!(db.evm_mark_sent(s, &row.item, now()).await.unwrap());
    }

    let confirmed = EvmDone {
        seq: rows[0].seq,
        evm_tx_hash: sent[0].evm_tx_hash.clone(),
        success: true,
        block_number: 12,
        block_hash: tx_hash(),
        gas_used: 51_000,
        log_index: Some(0),
    };
    db.evm_mark_done(&confirmed, now()).await.unwrap();
    assert_eq!(
        db.evm_publication(&good.ledger_tx_hash).await.unwrap(),
        Some(EvmPublication {
            chain: "eip155:31337".into(),
            evm_tx_hash: sent[0].evm_tx_hash.clone(),
            to_address: Some(sent[0].to_address.clone()),
            block_number: Some(12),
            block_hash: Some(confirmed.block_hash.clone()),
            gas_used: Some(51_000),
            log_index: Some(0),
            status: PublicationStatus::Confirmed,
        })
    );
    let reverted = EvmDone {
        seq: rows[1].seq,
        evm_tx_hash: sent[1].evm_tx_hash.clone(),
        success: false,
        block_number: 13,
        block_hash: tx_hash(),
        gas_used: 30_000,
        log_index: None,
    };
    db.evm_mark_done(&reverted, now()).await.unwrap();
    let publication = db
        .evm_publication(&bad.ledger_tx_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(publication.status, PublicationStatus::Failed);
    assert_eq!(publication.block_number, Some(13));
    assert_eq!(publication.log_index, None);

    // Done rows leave the queue; the counts say where each row is.
    assert_eq!(
        open(db)
            .await
            .iter()
            .map(|r| r.item.clone())
            .collect::<Vec<_>>(),
        vec![waiting]
    );
    assert_eq!(
        counts(db).await,
        vec![
            count("confirmed", 1),
            count("failed", 1),
            count("queued", 1)
        ]
    );
}

async fn an_unpublishable_row_leaves_the_queue(db: &TestDb) {
    let stuck = queue(db, "identity_registration", None, None).await;
    let next = queue(db, "identity_registration", None, None).await;
    let rows = open(db).await;
    db.evm_mark_unpublishable(rows[0].seq, now()).await.unwrap();
    assert_eq!(
        open(db)
            .await
            .iter()
            .map(|r| r.item.clone())
            .collect::<Vec<_>>(),
        vec![next]
    );
    assert_eq!(
        counts(db).await,
        vec![count("failed", 1), count("queued", 1)]
    );
    assert_eq!(
        db.evm_publication(&stuck.ledger_tx_hash).await.unwrap(),
        None
    );
    // A failed row cannot be signed any more.
    assert!(
        !db.evm_mark_sent(&signed(rows[0].seq, 0), &rows[0].item, now())
            .await
            .unwrap()
    );
}
