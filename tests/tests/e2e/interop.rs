//! Interop with independent JOSE implementations, in both directions: tokens from a real server verify in
//! PyJWT, Node's `jose` and the `jsonwebtoken` crate (through the published JWKS); tokens those libraries sign
//! verify with our offline `auth4agent verify` given their JWKS. The Python, Node and Rust verifiers are the shipped
//! examples in `examples/` (the Python and Node dependencies are installed by `scripts/test.sh`; the Rust one is the
//! protocol crate's `verify_token` example target, built here).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use auth4agent_protocol::{SigningKey, b64url_encode};
use serde_json::{Value, json};

use crate::support::{AUD, World, assert_invalid, assert_valid, verify};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unix_now() -> u64 {
    #[allow(clippy::disallowed_methods)] // the other libraries check exp against the real clock
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Runs a program with `stdin`, returning (exit code, stdout, stderr); panics with setup instructions
/// when the interpreter or its JOSE library is missing.
fn run(program: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; install it (see SETUP.md)"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("No module named") && !stderr.contains("Cannot find package"),
        "{program}: JOSE library missing; run `bash scripts/test.sh` (it installs examples' dependencies)\n{stderr}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn server_tokens_verify_in_pyjwt_node_jose_and_jsonwebtoken() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let token = agent.token("read");
    let issuer = world.server.url().to_owned();
    let jwks_url = format!("{issuer}/.well-known/jwks.json");

    let verifiers: [(&str, &str); 2] = [
        ("python3", "examples/python/verify_token.py"),
        ("node", "examples/node/verify_token.mjs"),
    ];
    for (program, script) in verifiers {
        let args = ["--jwks-url", &jwks_url, "--issuer", &issuer, "--token", "-"];
        let (code, stdout, stderr) = run(
            program,
            &[&[script][..], &args, &["--audience", AUD]].concat(),
            &token,
        );
        assert_eq!(code, 0, "{script} refused our token\n{stdout}\n{stderr}");
        let claims: Value = serde_json::from_str(stdout.trim()).expect("claims JSON");
        assert_eq!(claims["sub"], agent.did.as_str(), "{script}");
        assert_eq!(claims["scope"], "read", "{script}");

        let (code, _, stderr) = run(
            program,
            &[
                &[script][..],
                &args,
                &["--audience", "https://other.example"],
            ]
            .concat(),
            &token,
        );
        assert_eq!(code, 1, "{script} must refuse a wrong audience\n{stderr}");
        let mut tampered = token.clone();
        tampered.insert(token.find('.').expect("dot") + 5, 'A');
        let (code, _, stderr) = run(
            program,
            &[&[script][..], &args, &["--audience", AUD]].concat(),
            &tampered,
        );
        assert_eq!(code, 1, "{script} must refuse a tampered token\n{stderr}");
    }

    // The Rust example (`auth4agent-protocol`'s `verify_token`), given the published JWKS as a file.
    let jwks_text = reqwest::blocking::get(&jwks_url)
        .expect("GET jwks")
        .text()
        .expect("JWKS body");
    let mut jwks_file = tempfile::NamedTempFile::new().expect("jwks file");
    jwks_file
        .write_all(jwks_text.as_bytes())
        .expect("write jwks");
    let example = auth4agent_testkit::example_bin("auth4agent-protocol", "verify_token");
    let example = example.to_str().expect("UTF-8 path");
    let jwks_path = jwks_file.path().display().to_string();
    let rust =
        |audience: &str, token: &str| run(example, &[&jwks_path, &issuer, audience, "-"], token);
    let (code, stdout, stderr) = rust(AUD, &token);
    assert_eq!(
        code, 0,
        "verify_token refused our token\n{stdout}\n{stderr}"
    );
    let claims: Value = serde_json::from_str(stdout.trim()).expect("claims JSON");
    assert_eq!(claims["sub"], agent.did.as_str());
    assert_eq!(claims["scope"], "read");
    let (code, _, stderr) = rust("https://other.example", &token);
    assert_eq!(
        code, 1,
        "verify_token must refuse a wrong audience\n{stderr}"
    );
    assert!(stderr.contains("(wrong_audience)"), "{stderr}");
    let mut tampered = token.clone();
    tampered.insert(token.find('.').expect("dot") + 5, 'A');
    let (code, _, stderr) = rust(AUD, &tampered);
    assert_eq!(
        code, 1,
        "verify_token must refuse a tampered token\n{stderr}"
    );
    // It requires the scope `read`: a token for `write` alone verifies but is refused.
    let (code, _, stderr) = rust(AUD, &agent.token("write"));
    assert_eq!(
        code, 1,
        "verify_token must require the read scope\n{stderr}"
    );
    assert!(stderr.contains("(scope_not_allowed)"), "{stderr}");

    // jsonwebtoken, keyed from the published JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks_text).expect("JWKS JSON");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[issuer.as_str()]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("jsonwebtoken accepts our token");
    assert_eq!(data.claims["client_id"], agent.did.as_str());
    validation.set_audience(&["https://other.example"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_err());
}

/// A foreign issuer: an Ed25519 key, its JWKS file, and RFC 9068 claims for `sub`.
struct Foreign {
    key: SigningKey,
    kid: String,
    jwks_file: tempfile::NamedTempFile,
    claims: Value,
}

impl Foreign {
    fn new(sub: &str) -> Foreign {
        let key = SigningKey::from_seed(&rand::random::<[u8; 32]>());
        let public = key.public_key();
        let kid = public.thumbprint();
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(public.as_bytes()),
                                    "kid": kid, "alg": "EdDSA", "use": "sig"}]});
        let mut jwks_file = tempfile::NamedTempFile::new().expect("jwks file");
        jwks_file
            .write_all(jwks.to_string().as_bytes())
            .expect("write jwks");
        let now = unix_now();
        let claims = json!({
            "iss": "https://foreign-issuer.example", "sub": sub, "client_id": sub, "aud": AUD,
            "scope": "read write", "iat": now, "exp": now + 300, "jti": b64url_encode(&rand::random::<[u8; 16]>()),
            "cnf": {"jkt": kid},
        });
        Foreign {
            key,
            kid,
            jwks_file,
            claims,
        }
    }

    fn verify_args(&self) -> Vec<String> {
        let path = self.jwks_file.path().display().to_string();
        [
            "--jwks",
            &path,
            "--iss",
            "https://foreign-issuer.example",
            "--aud",
            AUD,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

#[test]
fn foreign_tokens_verify_with_our_offline_verifier() {
    let world = World::new();
    // A home with no identity at all: --jwks and --iss say everything.
    let cli = world.cli("service");
    let sub = "did:agent:example.com:0123456789abcdef0123456789abcdef";

    // jsonwebtoken signs with a PKCS#8 PEM we wrote.
    let foreign = Foreign::new(sub);
    let pem = foreign.key.to_pkcs8_pem().expect("pem");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(foreign.kid.clone());
    let encoding = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).expect("encoding key");
    let token =
        jsonwebtoken::encode(&header, &foreign.claims, &encoding).expect("jsonwebtoken signs");
    let args = foreign.verify_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let claims = assert_valid(&verify(&cli, &token, &args));
    assert_eq!(claims["sub"], sub);
    // Its default typ "JWT" is not an access token.
    header.typ = Some("JWT".into());
    let untyped = jsonwebtoken::encode(&header, &foreign.claims, &encoding).expect("sign");
    assert_invalid(&verify(&cli, &untyped, &args), "wrong_typ");

    // PyJWT signs with the same PEM.
    let script = "import sys, json, jwt\n\
                  pem, kid, claims = sys.stdin.read().split('\\x00')\n\
                  print(jwt.encode(json.loads(claims), pem, algorithm='EdDSA', headers={'typ': 'at+jwt', 'kid': kid}))\n";
    let input = format!(
        "{}\u{0}{}\u{0}{}",
        pem.as_str(),
        foreign.kid,
        foreign.claims
    );
    let (code, stdout, stderr) = run("python3", &["-c", script], &input);
    assert_eq!(code, 0, "PyJWT failed to sign\n{stderr}");
    let py_token = stdout.trim();
    let claims = assert_valid(&verify(&cli, py_token, &args));
    assert_eq!(claims["scope"], "read write");
    // A token from that issuer under a key the JWKS does not hold is refused.
    let other = Foreign::new(sub);
    let input = format!(
        "{}\u{0}{}\u{0}{}",
        other.key.to_pkcs8_pem().expect("pem").as_str(),
        foreign.kid,
        foreign.claims
    );
    let (code, stdout, _) = run("python3", &["-c", script], &input);
    assert_eq!(code, 0);
    assert_invalid(&verify(&cli, stdout.trim(), &args), "bad_signature");
}
