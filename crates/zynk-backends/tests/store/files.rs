//! `FileStore`: file rows with the quota checked in the same transaction, the upload offset
//! moved by compare-and-set with its parts, completion only with every byte stored, soft and
//! hard deletion, and what the cleanup job finds due.

use crate::fixtures::*;
use crate::harness::TestDb;
use zynk_backends::files::*;
use zynk_proto::FileId;

conformance!(
    a_file_is_created_read_back_and_counted_against_the_quota,
    the_quota_refuses_a_file_that_would_exceed_it,
    concurrent_creates_cannot_exceed_the_quota_together,
    parts_move_the_offset_by_compare_and_set,
    only_a_fully_uploaded_file_completes,
    deleted_files_stop_counting_and_removal_drops_the_row,
    expired_deleted_and_stale_files_are_due_for_removal,
);

fn new_file(uploader: &Account, conversation: zynk_proto::ConversationId, size: i64) -> NewFile {
    let id = FileId::new_v7();
    NewFile {
        id,
        uploader_id: uploader.user_id,
        conversation_id: conversation,
        file_size: size,
        content_hash: random_hex64(),
        part_size: 5 * 1024 * 1024,
        storage_path: format!("files/{id}"),
        upload_id: format!("upload-{id}"),
        hash_state: vec![1, 2, 3],
        expires_at: None,
    }
}

fn part(number: u32, from: i64, to: i64) -> FilePart {
    FilePart {
        part_number: number,
        part_id: format!("part-{number}-{from}"),
        from_offset: from,
        to_offset: to,
        hash_state: vec![number as u8; 40],
    }
}

async fn a_file_is_created_read_back_and_counted_against_the_quota(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let t = now();
    let mut file = new_file(&alice, conversation, 1000);
    file.expires_at = Some(plus(t, 3600));
    assert_eq!(
        db.create_file(&file, 10_000, t).await.unwrap(),
        CreateFileOutcome::Created
    );
    let stored = db.get_file(file.id).await.unwrap().expect("stored");
    assert_eq!(
        stored,
        FileRecord {
            id: file.id,
            uploader_id: alice.user_id,
            conversation_id: Some(conversation),
            file_size: 1000,
            storage_path: file.storage_path.clone(),
            content_hash: file.content_hash.clone(),
            status: FileStatus::Uploading,
            part_size: file.part_size,
            uploaded_bytes: 0,
            upload_id: Some(file.upload_id.clone()),
            hash_state: Some(vec![1, 2, 3]),
            expires_at: file.expires_at,
            created_at: t,
            updated_at: t,
            completed_at: None,
            deleted_at: None,
        }
    );
    assert_eq!(db.file_usage(alice.user_id).await.unwrap(), 1000);
    assert_eq!(db.file_usage(bob.user_id).await.unwrap(), 0);
    assert_eq!(db.get_file(FileId::new_v7()).await.unwrap(), None);
    // The same storage path twice is refused by the database.
    let mut twin = new_file(&alice, conversation, 10);
    twin.storage_path = file.storage_path.clone();
    assert!(db.create_file(&twin, 10_000, t).await.is_err());
    assert_eq!(db.all_files().await.unwrap().len(), 1);
}

async fn the_quota_refuses_a_file_that_would_exceed_it(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let t = now();
    let first = new_file(&alice, conversation, 600);
    assert_eq!(
        db.create_file(&first, 1000, t).await.unwrap(),
        CreateFileOutcome::Created
    );
    let second = new_file(&alice, conversation, 401);
    assert_eq!(
        db.create_file(&second, 1000, t).await.unwrap(),
        CreateFileOutcome::OverQuota { used: 600 }
    );
    assert_eq!(db.get_file(second.id).await.unwrap(), None);
    // Exactly up to the quota is fine; another user's quota is their own.
    let third = new_file(&alice, conversation, 400);
    assert_eq!(
        db.create_file(&third, 1000, t).await.unwrap(),
        CreateFileOutcome::Created
    );
    let bobs = new_file(&bob, conversation, 1000);
    assert_eq!(
        db.create_file(&bobs, 1000, t).await.unwrap(),
        CreateFileOutcome::Created
    );
}

async fn concurrent_creates_cannot_exceed_the_quota_together(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let t = now();
    let files: Vec<NewFile> = (0..8)
        .map(|_| new_file(&alice, conversation, 300))
        .collect();
    let outcomes =
        futures::future::join_all(files.iter().map(|f| db.create_file(f, 1000, t))).await;
    let created = outcomes
        .into_iter()
        .filter(|o| matches!(o, Ok(CreateFileOutcome::Created)))
        .count();
    assert_eq!(created, 3);
    assert_eq!(db.file_usage(alice.user_id).await.unwrap(), 900);
}

async fn parts_move_the_offset_by_compare_and_set(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let t = now();
    let file = new_file(&alice, conversation, 250);
    db.create_file(&file, 10_000, t).await.unwrap();
    assert!(
        db.record_file_part(file.id, &part(0, 0, 100), plus(t, 1))
            .await
            .unwrap()
    );
    // A second writer that also started at 0 loses.
    assert!(
        !db.record_file_part(file.id, &part(0, 0, 100), plus(t, 2))
            .await
            .unwrap()
    );
    // Past the declared size is refused.
    assert!(
        !db.record_file_part(file.id, &part(1, 100, 251), plus(t, 2))
            .await
            .unwrap()
    );
    assert!(
        db.record_file_part(file.id, &part(1, 100, 200), plus(t, 3))
            .await
            .unwrap()
    );
    let stored = db.get_file(file.id).await.unwrap().unwrap();
    assert_eq!(stored.uploaded_bytes, 200);
    assert_eq!(stored.hash_state, Some(vec![1; 40]));
    assert_eq!(stored.updated_at, plus(t, 3));
    assert_eq!(
        db.file_parts(file.id).await.unwrap(),
        vec!["part-0-0".to_owned(), "part-1-100".to_owned()]
    );
    // A deleted file takes no more parts.
    db.soft_delete_file(file.id, plus(t, 4)).await.unwrap();
    assert!(
        !db.record_file_part(file.id, &part(2, 200, 250), plus(t, 5))
            .await
            .unwrap()
    );
}

async fn only_a_fully_uploaded_file_completes(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let t = now();
    let file = new_file(&alice, conversation, 150);
    db.create_file(&file, 10_000, t).await.unwrap();
    db.record_file_part(file.id, &part(0, 0, 100), t)
        .await
        .unwrap();
    assert!(!db.complete_file(file.id, plus(t, 1)).await.unwrap());
    db.record_file_part(file.id, &part(1, 100, 150), t)
        .await
        .unwrap();
    assert!(db.complete_file(file.id, plus(t, 2)).await.unwrap());
    assert!(!db.complete_file(file.id, plus(t, 3)).await.unwrap());
    let stored = db.get_file(file.id).await.unwrap().unwrap();
    assert_eq!(stored.status, FileStatus::Complete);
    assert_eq!(stored.completed_at, Some(plus(t, 2)));
    assert_eq!((stored.upload_id, stored.hash_state), (None, None));
    assert!(db.file_parts(file.id).await.unwrap().is_empty());
    // A complete file takes no parts.
    assert!(
        !db.record_file_part(file.id, &part(1, 150, 150), t)
            .await
            .unwrap()
    );
}

async fn deleted_files_stop_counting_and_removal_drops_the_row(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let t = now();
    let file = new_file(&alice, conversation, 700);
    db.create_file(&file, 1000, t).await.unwrap();
    db.record_file_part(file.id, &part(0, 0, 100), t)
        .await
        .unwrap();
    assert!(db.soft_delete_file(file.id, plus(t, 1)).await.unwrap());
    assert!(!db.soft_delete_file(file.id, plus(t, 2)).await.unwrap());
    assert_eq!(
        db.get_file(file.id).await.unwrap().unwrap().deleted_at,
        Some(plus(t, 1))
    );
    assert_eq!(db.file_usage(alice.user_id).await.unwrap(), 0);
    let another = new_file(&alice, conversation, 1000);
    assert_eq!(
        db.create_file(&another, 1000, t).await.unwrap(),
        CreateFileOutcome::Created
    );
    assert!(db.remove_file(file.id).await.unwrap());
    assert!(!db.remove_file(file.id).await.unwrap());
    assert_eq!(db.get_file(file.id).await.unwrap(), None);
    assert!(db.file_parts(file.id).await.unwrap().is_empty());
    // Deleting the account removes its files' rows.
    db.delete_user(alice.user_id).await.unwrap();
    assert!(db.all_files().await.unwrap().is_empty());
}

async fn expired_deleted_and_stale_files_are_due_for_removal(db: &TestDb) {
    let alice = register(db, "alice").await;
    let bob = register(db, "bob").await;
    let conversation = one_to_one(db, &alice, &bob).await;
    let t = now();
    let complete = |mut f: NewFile, expires: Option<i64>| {
        f.file_size = 10;
        f.expires_at = expires.map(|s| plus(t, s));
        f
    };
    // Complete, never expiring: kept.
    let kept = complete(new_file(&alice, conversation, 10), None);
    // Complete, expiring in an hour: kept until then.
    let later = complete(new_file(&alice, conversation, 10), Some(3600));
    // Complete, expired.
    let expired = complete(new_file(&alice, conversation, 10), Some(-1));
    // Deleted.
    let deleted = complete(new_file(&alice, conversation, 10), None);
    for f in [&kept, &later, &expired, &deleted] {
        db.create_file(f, 10_000, plus(t, -7200)).await.unwrap();
        db.record_file_part(f.id, &part(0, 0, 10), plus(t, -7200))
            .await
            .unwrap();
        assert!(db.complete_file(f.id, plus(t, -7200)).await.unwrap());
    }
    db.soft_delete_file(deleted.id, t).await.unwrap();
    // Unfinished, last written two hours ago (stale) and just now (fresh).
    let stale = new_file(&alice, conversation, 10);
    db.create_file(&stale, 10_000, plus(t, -7200))
        .await
        .unwrap();
    let fresh = new_file(&alice, conversation, 10);
    db.create_file(&fresh, 10_000, plus(t, -7200))
        .await
        .unwrap();
    db.record_file_part(fresh.id, &part(0, 0, 5), t)
        .await
        .unwrap();

    let due: Vec<FileId> = db
        .files_to_remove(t, plus(t, -3600), 100)
        .await
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(sorted(&due), sorted(&[expired.id, deleted.id, stale.id]));
    assert_eq!(
        db.files_to_remove(t, plus(t, -3600), 2)
            .await
            .unwrap()
            .len(),
        2
    );
    // An hour later the one expiring then is due too.
    let due_later = db
        .files_to_remove(plus(t, 3600), plus(t, -3600), 100)
        .await
        .unwrap();
    assert!(due_later.iter().any(|f| f.id == later.id));
    assert!(
        !due_later
            .iter()
            .any(|f| f.id == kept.id || f.id == fresh.id)
    );
}
