//! Standard Webhooks signatures beyond one secret: a `v1` signature per secret while it is rotated
//! (`secret_next`), and a `v1a` Ed25519 signature (`signing_key_file`) a receiver verifies with the
//! public key `key new` printed, checked with libraries of their own, not ours.

use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;
use hmac::Mac as _;

use crate::support::*;

const CURRENT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEXT: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

/// Whether `signature` (Base64) is the HMAC-SHA256 of `signed` keyed as the spec's libraries key it.
fn hmac_verifies(secret: &str, signed: &[u8], signature: &str) -> bool {
    let key = b64(secret.strip_prefix("whsec_").expect("whsec_"));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(signed);
    mac.verify_slice(&b64(signature)).is_ok()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_push_is_signed_with_both_secrets_and_the_key_receivers_verify_with_its_public_key() {
    let receiver = Receiver::start().expect("receiver");
    let server = Server::new("");
    let dir = server.tmp.path();
    let key_file = dir.join("signing.key");
    let key_arg = key_file.to_string_lossy().into_owned();
    let public = stdout(&run_bin(dir, &["key", "new", &key_arg], b"", &[]));
    assert!(public.starts_with("whpk_"), "{public}");
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner reads the key");
    assert_eq!(
        stdout(&run_bin(dir, &["key", "public", &key_arg], b"", &[])),
        public
    );
    let again = run_bin(dir, &["key", "new", &key_arg], b"", &[]);
    assert_eq!(again.status.code(), Some(1));
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("never overwritten") && said.contains("key public"),
        "{said}"
    );
    assert_eq!(
        stdout(&run_bin(dir, &["key", "public", &key_arg], b"", &[])),
        public
    );

    let next_file = dir.join("next.secret");
    std::fs::write(&next_file, format!("{NEXT}\n")).expect("next secret");
    std::fs::set_permissions(&next_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    server.write_config(&config_in_format(
        &receiver.url("/events"),
        "standard-webhooks",
        &format!(
            "secret = \"{CURRENT}\"\nsecret_next_file = \"{}\"\nsigning_key_file = \"{key_arg}\"\n",
            next_file.display()
        ),
    ));
    let work = server.clone_work();
    work.write("a.txt", "a\n");
    work.commit("Add a");
    let pushed = work.push(&["origin", "main"]);
    for secret in [
        CURRENT,
        NEXT,
        &std::fs::read_to_string(&key_file).expect("key"),
    ] {
        assert!(!pushed.contains(secret.trim()), "{pushed}");
    }
    let got = expect_requests(&receiver, 1);
    let r = &got[0];
    let (id, ts) = (
        r.header("webhook-id").expect("id"),
        r.header("webhook-timestamp").expect("timestamp"),
    );
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let list: Vec<&str> = r
        .header("webhook-signature")
        .expect("signature")
        .split(' ')
        .collect();
    assert_eq!(list.len(), 3, "{list:?}");
    let v1: Vec<&str> = list.iter().filter_map(|s| s.strip_prefix("v1,")).collect();
    assert!(
        hmac_verifies(CURRENT, &signed, v1[0]),
        "the current secret's"
    );
    assert!(hmac_verifies(NEXT, &signed, v1[1]), "the next secret's");
    assert!(!hmac_verifies(NEXT, &signed, v1[0]));
    let v1a = list[2].strip_prefix("v1a,").expect("v1a last");
    let public: [u8; 32] = b64(public.strip_prefix("whpk_").expect("whpk_"))
        .try_into()
        .expect("32 bytes");
    let verifier = ed25519_dalek::VerifyingKey::from_bytes(&public).expect("public key");
    let signature = ed25519_dalek::Signature::from_slice(&b64(v1a)).expect("64 bytes");
    verifier
        .verify_strict(&signed, &signature)
        .expect("the v1a signature verifies with the public key alone");
    let mut tampered = signed.clone();
    tampered.push(b' ');
    assert!(verifier.verify_strict(&tampered, &signature).is_err());

    // `config check` names where each came from and shows no secret.
    let check = run_bin(&server.bare, &["config", "check"], b"", &[("GIT_DIR", ".")]);
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{shown}");
    assert!(
        shown.contains("secret_next_file") && shown.contains("signing_key_file"),
        "{shown}"
    );
    assert!(!shown.contains(CURRENT) && !shown.contains(NEXT), "{shown}");
}

#[test]
fn rotation_and_keys_are_refused_where_the_format_cannot_carry_them() {
    let server = Server::new("");
    let dir = server.tmp.path();
    let not_a_key = dir.join("not.key");
    std::fs::write(&not_a_key, "whsec_abc\n").expect("file");
    let cases = [
        (
            "gitlab",
            "secret = \"a\"\nsecret_next = \"b\"\n".to_owned(),
            "format \"gitlab\" carries one secret, so secret_next cannot go with it: to rotate, have the receiver accept the new secret too, then change secret (docs/formats.md, \"Rotating a secret\")",
        ),
        (
            "standard-webhooks",
            "secret_next = \"b\"\n".to_owned(),
            "secret_next goes with a secret",
        ),
        (
            "standard-webhooks",
            "secret_next = \"b\"\nsecret_next_env = \"B\"\nsecret = \"a\"\n".to_owned(),
            "give at most one of secret_next, secret_next_file and secret_next_env",
        ),
        (
            "github",
            format!("signing_key_file = \"{}\"\n", not_a_key.display()),
            "format \"github\" does not sign with a key: signing_key_file goes with standard-webhooks",
        ),
        (
            "standard-webhooks",
            format!("signing_key_file = \"{}\"\n", not_a_key.display()),
            "is not a signing key: write one with `git-webhook key new FILE`",
        ),
    ];
    for (format, extra, message) in cases {
        server.write_config(&config_in_format("http://127.0.0.1:9/x", format, &extra));
        let out = run_bin(&server.bare, &["config", "check"], b"", &[("GIT_DIR", ".")]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains(message), "{format} {extra}: {text}");
        assert!(
            text.contains("webhook.toml:"),
            "names the file and line: {text}"
        );
    }
}
