//! `MaintenanceStore`: the database answers, partitions are kept ahead, checkpoints run, and each
//! engine names itself and its number of writers.

use crate::fixtures::*;
use crate::harness::{Engine, TestDb};
use zynk_backends::model::HistoryRange;
use zynk_backends::store::MaintenanceStore;

conformance!(upkeep_runs_and_the_engine_names_itself);

async fn upkeep_runs_and_the_engine_names_itself(db: &TestDb) {
    db.ping().await.unwrap();
    match db.engine_under_test() {
        Engine::Sqlite => {
            assert_eq!(MaintenanceStore::engine(&**db), "sqlite");
            assert_eq!(db.parallel_writers(), 1, "SQLite has one writer");
            assert_eq!(db.ensure_partitions().await.unwrap(), 0);
        }
        Engine::Postgres => {
            assert_eq!(MaintenanceStore::engine(&**db), "postgres");
            assert!(db.parallel_writers() >= 1);
            // The migrations made this month's partitions and the ones ahead already.
            assert_eq!(db.ensure_partitions().await.unwrap(), 0);
        }
    }

    // A checkpoint while data is written keeps every row readable.
    let t = now();
    let alice = register_at(db, "alice", t).await;
    let bob = register_at(db, "bob", t).await;
    let conversation = one_to_one(db, &alice, &bob).await;
    for _ in 0..3 {
        send(db, text(conversation, &alice), t).await;
        db.checkpoint().await.unwrap();
    }
    let (history, _) = db
        .history(conversation, HistoryRange::After(0), 10, t)
        .await
        .unwrap();
    assert_eq!(history.len(), 3);
    db.ping().await.unwrap();
}
