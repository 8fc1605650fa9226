//! `verify JWKS_FILE` (token on stdin): verifies an EdDSA JWT with the JWKS key named by its `kid` and prints the
//! header and claims as JSON, exit 1 if refused. `sign-assertion KEY_PEM ISS AUD IAT EXP JTI`: prints a client
//! assertion (typ JWT) signed with the PKCS#8 key, claims set with josekit's own setters.

use std::io::Read as _;
use std::time::{Duration, UNIX_EPOCH};

use josekit::jws::{EdDSA, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("verify") if args.len() == 2 => verify(&args[1]),
        Some("sign-assertion") if args.len() == 7 => sign_assertion(&args[1..]),
        _ => Err(
            "usage: verify JWKS_FILE < token | sign-assertion KEY_PEM ISS AUD IAT EXP JTI".into(),
        ),
    };
    match result {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("josekit-interop: {e}");
            std::process::exit(1);
        }
    }
}

fn verify(jwks_file: &str) -> Result<String, String> {
    let mut token = String::new();
    std::io::stdin()
        .read_to_string(&mut token)
        .map_err(|e| e.to_string())?;
    let token = token.trim();
    let jwks: Value = serde_json::from_slice(&std::fs::read(jwks_file).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let header = jwt::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or("no kid")?
        .to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .ok_or("kid not in the JWKS")?;
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).map_err(|e| e.to_string())?;
    let verifier = EdDSA.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?;
    let (payload, header) =
        jwt::decode_with_verifier(token, &verifier).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_str(&payload.to_string()).map_err(|e| e.to_string())?;
    Ok(json!({"typ": header.token_type(), "claims": claims}).to_string())
}

fn sign_assertion(args: &[String]) -> Result<String, String> {
    let [key, iss, aud, iat, exp, jti] = args else {
        return Err("six arguments".into());
    };
    let secs = |s: &str| {
        s.parse::<u64>()
            .map(|n| UNIX_EPOCH + Duration::from_secs(n))
            .map_err(|e| e.to_string())
    };
    let pem = std::fs::read(key).map_err(|e| e.to_string())?;
    let signer = EdDSA.signer_from_pem(&pem).map_err(|e| e.to_string())?;
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    let mut payload = JwtPayload::new();
    payload.set_issuer(iss);
    payload.set_subject(iss);
    payload.set_audience(vec![aud.as_str()]);
    payload.set_issued_at(&secs(iat)?);
    payload.set_expires_at(&secs(exp)?);
    payload.set_jwt_id(jti);
    jwt::encode_with_signer(&payload, &header, &signer).map_err(|e| e.to_string())
}
