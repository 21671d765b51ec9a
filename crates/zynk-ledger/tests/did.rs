//! DID helpers against published `did:key` vectors and DID Core document rules.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Value;
use uuid::Uuid;
use zynk_ledger::did::{
    DidDocument, DidError, Ed25519PublicKey, ZynkDid, did_key, is_valid_did, parse_did_key,
};

/// RFC 8032 §7.1 TEST 1 and TEST 2 key pairs, and their published `did:key` forms.
const VECTORS: [(&str, &str, &str); 2] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT",
    ),
];

fn key(seed_hex: &str) -> VerifyingKey {
    let seed: [u8; 32] = hex::decode(seed_hex)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    SigningKey::from_bytes(&seed).verifying_key()
}

#[test]
fn did_key_vectors() {
    for (seed, public, expected) in VECTORS {
        let vk = key(seed);
        assert_eq!(hex::encode(vk.as_bytes()), public);
        assert_eq!(did_key(&vk), expected);
        assert_eq!(parse_did_key(expected), Ok(vk));
        let mb = Ed25519PublicKey::from(&vk).to_multibase();
        assert!(mb.starts_with("z6Mk"), "{mb}");
        assert_eq!(format!("did:key:{mb}"), expected);
    }
}

#[test]
fn did_key_rejections() {
    let (_, _, good) = VECTORS[0];
    assert!(matches!(
        parse_did_key(&good.replace("did:key:", "did:web:")),
        Err(DidError::Method { .. })
    ));
    assert_eq!(
        parse_did_key(&good.replace(":z6", ":f6")),
        Err(DidError::MultibasePrefix)
    );
    assert!(matches!(
        parse_did_key(&good.replace('M', "0")),
        Err(DidError::Base58(_))
    ));
    assert!(parse_did_key(&format!("{good}#frag")).is_err());
    assert!(parse_did_key(&good[..good.len() - 1]).is_err());
    // An X25519 multikey (0xec 0x01) is not an Ed25519 key.
    let mut x = vec![0xec, 0x01];
    x.extend([7u8; 32]);
    let x25519 = format!("did:key:z{}", bs58::encode(x).into_string());
    assert!(matches!(
        parse_did_key(&x25519),
        Err(DidError::Multicodec(_))
    ));
    // The identity point is a weak key.
    let mut ident = [0u8; 32];
    ident[0] = 1;
    let weak = Ed25519PublicKey(ident).to_did_key();
    assert!(matches!(parse_did_key(&weak), Err(DidError::InvalidKey(_))));
    let huge = format!("did:key:z{}", "1".repeat(10_000));
    assert!(matches!(parse_did_key(&huge), Err(DidError::Base58(_))));
}

#[test]
fn did_zynk_is_canonical() {
    let id = Uuid::from_u128(0x0f6c1d2e_8a4b_4c1d_9e2f_3a4b5c6d7e8f);
    let did = ZynkDid::new(id);
    let text = did.to_string();
    assert_eq!(text, "did:zynk:0f6c1d2e-8a4b-4c1d-9e2f-3a4b5c6d7e8f");
    assert_eq!(text.len(), 45);
    assert_eq!(text.parse::<ZynkDid>(), Ok(did));
    assert_eq!(did.url("key-1"), format!("{text}#key-1"));
    for bad in [
        "did:zynk:0F6C1D2E-8A4B-4C1D-9E2F-3A4B5C6D7E8F",
        "did:zynk:0f6c1d2e8a4b4c1d9e2f3a4b5c6d7e8f",
        "did:zynk:{0f6c1d2e-8a4b-4c1d-9e2f-3a4b5c6d7e8f}",
        "did:zynk:urn:uuid:0f6c1d2e-8a4b-4c1d-9e2f-3a4b5c6d7e8f",
        "did:zink:0f6c1d2e-8a4b-4c1d-9e2f-3a4b5c6d7e8f",
        "did:zynk:",
    ] {
        assert!(bad.parse::<ZynkDid>().is_err(), "{bad}");
    }
    let json = serde_json::to_string(&did).expect("json");
    assert_eq!(serde_json::from_str::<ZynkDid>(&json).ok(), Some(did));
}

#[test]
fn generic_did_syntax() {
    for ok in [
        "did:zynk:0f6c1d2e-8a4b-4c1d-9e2f-3a4b5c6d7e8f",
        "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw",
        "did:web:example.com%3A8443:users:alice",
    ] {
        assert!(is_valid_did(ok), "{ok}");
    }
    for bad in [
        "did:Web:x",
        "did:web:",
        "did:web:x:",
        "did::x",
        "did:web:a b",
        "did:web:%zz",
        "dId:web:x",
    ] {
        assert!(!is_valid_did(bad), "{bad}");
    }
}

#[test]
fn did_document_shape_and_round_trip() {
    let did = ZynkDid::new(Uuid::from_u128(7));
    let vk = key(VECTORS[0].0);
    let doc = DidDocument::for_identity(&did, &Ed25519PublicKey::from(&vk));
    let v: Value = serde_json::to_value(&doc).expect("json");
    let key_id = format!("{did}#key-1");
    assert_eq!(v["@context"][0], "https://www.w3.org/ns/did/v1");
    assert_eq!(v["id"], did.to_string());
    assert_eq!(v["verificationMethod"][0]["id"], key_id);
    assert_eq!(v["verificationMethod"][0]["type"], "Multikey");
    assert_eq!(v["verificationMethod"][0]["controller"], did.to_string());
    assert_eq!(
        v["verificationMethod"][0]["publicKeyMultibase"],
        "z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
    );
    assert_eq!(v["authentication"][0], key_id);
    assert_eq!(v["assertionMethod"][0], key_id);
    assert_eq!(v["alsoKnownAs"][0], VECTORS[0].2);

    let back: DidDocument = serde_json::from_value(v).expect("parse");
    assert_eq!(back, doc);
    assert_eq!(back.identity_key(), Ok(vk));

    let mut no_auth = doc.clone();
    no_auth.authentication.clear();
    assert!(matches!(no_auth.identity_key(), Err(DidError::Document(_))));
    let mut foreign = doc.clone();
    foreign.verification_method[0].controller =
        "did:zynk:00000000-0000-0000-0000-000000000000".into();
    assert!(matches!(foreign.identity_key(), Err(DidError::Document(_))));
    let mut other_type = doc;
    other_type.verification_method[0].kind = "JsonWebKey2020".into();
    assert!(matches!(
        other_type.identity_key(),
        Err(DidError::Document(_))
    ));
}
