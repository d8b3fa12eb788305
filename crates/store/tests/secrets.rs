//! App secrets at rest: sealed on write, opened on read, an old plaintext database sealed when a
//! key is first given, a wrong key refused, and a key rotation in one transaction; plus the
//! settings move that turns a stored admin token into its hash.

mod backends;

use backends::Backend;
use wabahook_model::sealed::{Keyring, SecretKey};
use wabahook_model::secrets;
use wabahook_store::{App, Business, DynStore, OnConflict, Resealed, StoreError};

const APP_ONE: &str = "200000000000001";
const APP_TWO: &str = "200000000000002";

async fn add_app(s: &DynStore, id: &str, secret: &str) {
    let b = Business {
        id: "100000000000001".into(),
        name: "B".into(),
        created_at: 1,
    };
    s.put_business(&b, OnConflict::Update).await.unwrap();
    let a = App {
        id: id.into(),
        business_id: b.id.clone(),
        name: "A".into(),
        link: String::new(),
        secret: secret.into(),
        created_at: 1,
    };
    s.put_app(&a, OnConflict::Update).await.unwrap();
}

async fn stored_secrets(b: &Backend) -> Vec<String> {
    b.texts("SELECT secret FROM apps ORDER BY id").await
}

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

async fn secrets_are_sealed_at_rest_and_plain_in_memory(b: Backend) {
    let k = key();
    let s = b.open().await;
    s.use_keyring(Keyring::new(k.clone())).await.unwrap();
    add_app(&s, APP_ONE, "first-app-secret").await;
    let stored = stored_secrets(&b).await;
    assert!(
        stored[0].starts_with(&format!("v1:{}:", k.id())),
        "{stored:?}"
    );
    assert!(!stored[0].contains("first-app-secret"));
    assert_eq!(
        s.app(APP_ONE).await.unwrap().unwrap().secret,
        "first-app-secret"
    );
    assert_eq!(s.apps().await.unwrap()[0].secret, "first-app-secret");
    // An update that names no secret keeps the stored one.
    add_app(&s, APP_ONE, "").await;
    assert_eq!(
        s.app(APP_ONE).await.unwrap().unwrap().secret,
        "first-app-secret"
    );
    assert!(!format!("{:?}", s.app(APP_ONE).await.unwrap()).contains("first-app-secret"));

    // A store without the key cannot read it, and says why.
    let keyless = b.open().await;
    match keyless.app(APP_ONE).await {
        Err(StoreError::Config(m)) => assert!(m.contains("without a key"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_plain_in_memory_sqlite() {
    secrets_are_sealed_at_rest_and_plain_in_memory(Backend::sqlite()).await
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_plain_in_memory_postgres() {
    secrets_are_sealed_at_rest_and_plain_in_memory(Backend::postgres().await).await
}

async fn an_old_database_is_sealed_and_a_wrong_key_refused(b: Backend) {
    let old = b.open().await;
    add_app(&old, APP_ONE, "plain-secret-one").await;
    add_app(&old, APP_TWO, "plain-secret-two").await;
    assert_eq!(
        stored_secrets(&b).await,
        ["plain-secret-one", "plain-secret-two"]
    );

    let k = key();
    let s = b.open().await;
    let done = s.use_keyring(Keyring::new(k.clone())).await.unwrap();
    assert_eq!(
        done,
        Resealed {
            sealed: 2,
            moved: 0
        }
    );
    assert!(stored_secrets(&b)
        .await
        .iter()
        .all(|v| v.starts_with("v1:") && !v.contains("plain-secret")));
    assert_eq!(
        s.sealing_key_ids()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [k.id().to_string()]
    );
    // Starting again changes nothing.
    let again = b.open().await;
    let done = again.use_keyring(Keyring::new(k.clone())).await.unwrap();
    assert_eq!(done, Resealed::default());
    assert_eq!(
        again.app(APP_TWO).await.unwrap().unwrap().secret,
        "plain-secret-two"
    );

    // A wrong key is an error naming the key that sealed them, never garbage secrets.
    let before = stored_secrets(&b).await;
    let wrong = b.open().await;
    match wrong.use_keyring(Keyring::new(key())).await {
        Err(StoreError::Config(m)) => {
            assert!(m.contains(k.id()) && m.contains("not configured"), "{m}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(stored_secrets(&b).await, before);
}

#[tokio::test]
async fn an_old_database_is_sealed_and_a_wrong_key_refused_sqlite() {
    an_old_database_is_sealed_and_a_wrong_key_refused(Backend::sqlite()).await
}

#[tokio::test]
async fn an_old_database_is_sealed_and_a_wrong_key_refused_postgres() {
    an_old_database_is_sealed_and_a_wrong_key_refused(Backend::postgres().await).await
}

async fn rotating_the_key_moves_every_secret_or_none(b: Backend) {
    let (old_key, new_key) = (key(), key());
    let s = b.open().await;
    s.use_keyring(Keyring::new(old_key.clone())).await.unwrap();
    add_app(&s, APP_ONE, "rotated-secret-1").await;
    add_app(&s, APP_TWO, "rotated-secret-2").await;

    // The rotation, as `wabahook secrets rotate-key` runs it.
    let done = s
        .use_keyring(Keyring::new(new_key.clone()).also_opening(old_key.clone()))
        .await
        .unwrap();
    assert_eq!(
        done,
        Resealed {
            sealed: 0,
            moved: 2
        }
    );
    assert!(stored_secrets(&b)
        .await
        .iter()
        .all(|v| v.starts_with(&format!("v1:{}:", new_key.id()))));
    assert_eq!(
        s.app(APP_ONE).await.unwrap().unwrap().secret,
        "rotated-secret-1"
    );
    let fresh = b.open().await;
    fresh
        .use_keyring(Keyring::new(new_key.clone()))
        .await
        .unwrap();
    assert_eq!(
        fresh.app(APP_TWO).await.unwrap().unwrap().secret,
        "rotated-secret-2"
    );
    assert!(b
        .open()
        .await
        .use_keyring(Keyring::new(old_key.clone()))
        .await
        .is_err());

    // One secret that will not open stops the whole rotation: nothing moves.
    let stranger = Keyring::new(key());
    let foreign = stranger.seal(APP_TWO, "foreign").unwrap();
    b.execute(&format!(
        "UPDATE apps SET secret = '{foreign}' WHERE id = '{APP_TWO}'"
    ))
    .await;
    let before = stored_secrets(&b).await;
    let third = key();
    assert!(s
        .use_keyring(Keyring::new(third).also_opening(new_key.clone()))
        .await
        .is_err());
    assert_eq!(stored_secrets(&b).await, before);
    assert_eq!(
        s.app(APP_ONE).await.unwrap().unwrap().secret,
        "rotated-secret-1"
    );
}

#[tokio::test]
async fn rotating_the_key_moves_every_secret_or_none_sqlite() {
    rotating_the_key_moves_every_secret_or_none(Backend::sqlite()).await
}

#[tokio::test]
async fn rotating_the_key_moves_every_secret_or_none_postgres() {
    rotating_the_key_moves_every_secret_or_none(Backend::postgres().await).await
}

async fn a_setting_moves_to_its_new_form_once(b: Backend) {
    let s = b.open().await;
    assert!(!s
        .move_setting("admin_token", "admin_token_sha256", &secrets::token_hash)
        .await
        .unwrap());
    s.setting_or_insert("admin_token", "whk_admin_old")
        .await
        .unwrap();
    assert!(s
        .move_setting("admin_token", "admin_token_sha256", &secrets::token_hash)
        .await
        .unwrap());
    assert_eq!(s.setting("admin_token").await.unwrap(), None);
    let hash = s.setting("admin_token_sha256").await.unwrap().unwrap();
    assert!(secrets::token_matches_hash("whk_admin_old", &hash));
    s.put_setting("admin_token_sha256", "other").await.unwrap();
    assert_eq!(
        s.setting("admin_token_sha256").await.unwrap().as_deref(),
        Some("other")
    );
    assert!(!b
        .texts("SELECT value FROM settings")
        .await
        .iter()
        .any(|v| v.contains("whk_admin_old")));
}

#[tokio::test]
async fn a_setting_moves_to_its_new_form_once_sqlite() {
    a_setting_moves_to_its_new_form_once(Backend::sqlite()).await
}

#[tokio::test]
async fn a_setting_moves_to_its_new_form_once_postgres() {
    a_setting_moves_to_its_new_form_once(Backend::postgres().await).await
}
