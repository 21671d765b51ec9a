//! `zynk password` against a real server on both backends: the new password unlocks this
//! device's state and logs new devices in (the identity backup was re-sealed under it), the old
//! one no longer does; other devices' sessions end unless `--keep-sessions`; a wrong current
//! password changes nothing.

mod common;

use zynk_testkit::{Backend, TestServer, backend_tests};

use common::{Device, PASSWORD, username};

backend_tests!(password_change_reseals_the_backup_and_ends_other_sessions);

const NEW_PASSWORD: &str = "a brand new passphrase";
const THIRD_PASSWORD: &str = "yet another passphrase";

async fn password_change_reseals_the_backup_and_ends_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = username("alice");
    let laptop = Device::new(&server);
    laptop.ok(&["register", &alice]).await;
    let phone = Device::new(&server);
    phone.ok(&["login", &alice]).await;

    // A wrong current password changes nothing.
    let wrong = laptop
        .run_stdin(&format!("{PASSWORD}x\n{NEW_PASSWORD}\n"), &["password"])
        .await;
    assert!(!wrong.success, "{wrong:?}");
    assert!(
        wrong.stderr.starts_with("zynk: wrong password"),
        "{wrong:?}"
    );
    // A new password that is too short is refused before anything is sent.
    let short = laptop
        .run_stdin(&format!("{PASSWORD}\nshort\n"), &["password"])
        .await;
    assert!(!short.success, "{short:?}");
    phone.ok(&["devices"]).await;

    let changed = laptop
        .run_stdin(&format!("{PASSWORD}\n{NEW_PASSWORD}\n"), &["password"])
        .await;
    assert!(changed.success, "{changed:?}");
    assert!(changed.stdout.contains("password changed"), "{changed:?}");
    // This device's state is now under the new password, and its session lives on.
    let out = laptop.run_with(NEW_PASSWORD, &["devices"]).await;
    assert!(out.success, "{out:?}");
    let line = laptop.fails_with(PASSWORD, &["whoami"]).await;
    assert!(line.contains("wrong password"), "{line}");
    // The phone's session ended.
    let ended = phone.run(&["devices"]).await;
    assert!(!ended.success, "{ended:?}");
    // A new device logs in with the new password (the backup opens with it), not the old one.
    let tablet = Device::new(&server);
    let out = tablet.run_with(NEW_PASSWORD, &["login", &alice]).await;
    assert!(out.success, "{out:?}");
    let old = Device::new(&server);
    let refused = old.run_with(PASSWORD, &["login", &alice]).await;
    assert!(!refused.success, "{refused:?}");

    // With --keep-sessions the tablet's session stays.
    let kept = laptop
        .run_stdin(
            &format!("{NEW_PASSWORD}\n{THIRD_PASSWORD}\n"),
            &["password", "--keep-sessions"],
        )
        .await;
    assert!(kept.success, "{kept:?}");
    let out = tablet.run_with(NEW_PASSWORD, &["devices"]).await;
    assert!(out.success, "{out:?}");
    let fresh = Device::new(&server);
    let out = fresh.run_with(THIRD_PASSWORD, &["login", &alice]).await;
    assert!(out.success, "{out:?}");
}
