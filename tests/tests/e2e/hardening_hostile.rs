//! Hostile input to every endpoint (enumerated from `spec/openapi.yaml` and cross-checked with the
//! discovery document), over raw TCP: malformed JSON, wrong types, deep nesting, bodies over the
//! limit, non-UTF-8, oversized headers, garbage signatures, broken framing and slow bodies. Every
//! answer must be a 4xx JSON `{error, message}` (or, for endpoints that take no body and no
//! signature, their normal answer), never a 5xx, and `/health` must stay 200 throughout.
//!
//! Refusals at the HTTP framing level (a request head over hyper's buffer, an unparsable
//! `Content-Length`) come from hyper before any handler runs: there a 4xx without a JSON body (for
//! example a bare 431) or a closed connection is accepted.

use std::net::SocketAddr;
use std::time::Duration;

use auth4agent_api::{ErrorCode, oauth_error};
use auth4agent_e2e::kit::raw::{self, RawOutcome};
use auth4agent_protocol::SIGNATURE_HEADER;
use auth4agent_testkit::{Signer, workspace_root};
use serde_json::{Value, json};

use crate::hardening_support::{
    ApiAgent, NO_RATE_LIMIT, active_agent, addr, assert_healthy, try_token, verified_operator,
};
use crate::support::{World, str_field};

/// The server's request timeout for these tests, in seconds.
const REQUEST_TIMEOUT: u64 = 2;
/// How long a raw exchange may take before the server counts as hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// One method on one path, with real ids substituted.
#[derive(Clone, Debug)]
struct Endpoint {
    method: String,
    /// The path as the spec writes it (`/v1/agents/{did}`).
    template: String,
    /// The path with a real operator id and DID.
    path: String,
    /// A body of the right shape (empty for endpoints that take none).
    valid_body: Vec<u8>,
}

impl Endpoint {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    /// Signed endpoints (§9.4); the others ignore `Auth4Agent-Signature`.
    fn signed(&self) -> bool {
        !matches!(
            self.template.as_str(),
            "/health"
                | "/ready"
                | "/.well-known/jwks.json"
                | "/.well-known/auth4agent-configuration"
                | "/v1/challenge"
                | "/v1/token"
                | "/v1/introspect"
                | "/.well-known/oauth-authorization-server"
                | "/oauth/token"
                | "/oauth/authorize"
                | "/oauth/device_authorization"
                | "/console/approve"
                | "/console"
                | "/console/login"
                | "/console/agents"
                | "/console/audit"
                | "/console/deny"
                | "/console/logout"
                | "/console/static/{file}"
                | "/console/passkeys"
                | "/console/passkey-login"
                | "/status-lists"
                | "/status-lists/{list}"
        )
    }

    /// The OAuth endpoints answer errors in RFC 6749 §5.2 form, with our code in `auth4agent_error`
    /// and the OAuth status of that code.
    fn oauth(&self) -> bool {
        self.template.starts_with("/oauth/")
    }

    /// Unsigned GETs read no body: content sent there is ignored and they answer normally. Neither
    /// does `/oauth/authorize`, which refuses every request at once.
    fn reads_body(&self) -> bool {
        (self.signed() || self.method != "GET") && self.template != "/oauth/authorize"
    }

    /// Unsigned endpoints with a JSON body, where the body decides the answer alone.
    fn unsigned_json(&self) -> bool {
        !self.signed() && !self.oauth() && !self.console() && self.method == "POST"
    }

    /// The browser console's pages and forms: their refusals are HTML pages naming the code.
    fn console(&self) -> bool {
        self.template.starts_with("/console")
    }
}

/// `(method, path)` of every operation in `spec/openapi.yaml`.
fn spec_operations() -> Vec<(String, String)> {
    let spec = std::fs::read_to_string(workspace_root().join("spec").join("openapi.yaml"))
        .expect("read spec/openapi.yaml");
    let mut operations = Vec::new();
    let mut in_paths = false;
    let mut path = None;
    for line in spec.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            path = Some(format!("/{}", p.trim_end().trim_end_matches(':')));
        } else if let Some(method) = line.strip_prefix("    ").and_then(|m| m.strip_suffix(':'))
            && ["get", "post", "put", "delete", "patch"].contains(&method)
        {
            let path = path.clone().expect("a method under a path");
            operations.push((method.to_ascii_uppercase(), path));
        }
    }
    operations
}

/// Every operation of the spec, with `operator_id` and `did` in the paths and, in `/v1/revoke`'s
/// body, a real `token` (so that the signature, not the token, is what a garbage header breaks).
fn endpoints(world: &World, operator_id: &str, did: &str, token: &str) -> Vec<Endpoint> {
    let operations = spec_operations();
    assert!(
        operations.len() >= 19,
        "spec/openapi.yaml lists too few operations: {operations:?}"
    );
    // Every endpoint the discovery document names is in the spec.
    let discovery = world
        .server
        .http()
        .get("/.well-known/auth4agent-configuration")
        .expect("discovery");
    let base = world.server.url();
    for (name, url) in discovery.json()["endpoints"]
        .as_object()
        .expect("endpoints")
    {
        let path = url
            .as_str()
            .and_then(|u| u.strip_prefix(&base))
            .unwrap_or_else(|| panic!("endpoint {name} is not under the issuer: {url}"));
        assert!(
            operations.iter().any(|(_, p)| p == path),
            "discovery endpoint {name} ({path}) is not in spec/openapi.yaml"
        );
    }
    let jwk = Signer::generate().public_jwk();
    operations
        .into_iter()
        .map(|(method, template)| {
            let path = template
                .replace("{id}", operator_id)
                .replace("{did}", did)
                .replace("{list}", "1")
                .replace("{file}", "console.css");
            let body: Option<Value> = match (method.as_str(), template.as_str()) {
                ("POST", "/v1/operators") => {
                    Some(json!({ "domain": "hostile-new.example.com", "public_key": jwk }))
                }
                ("POST", "/v1/agents") => {
                    Some(json!({ "operator_id": operator_id, "public_key": jwk }))
                }
                // Signed by the new key in the body, as a registration is.
                ("POST", "/v1/operators/{id}/recovery" | "/v1/operators/{id}/recovery/confirm") => {
                    Some(json!({ "public_key": jwk }))
                }
                ("PUT", "/v1/agents/{did}/scopes") => Some(json!({ "allowed_scopes": ["read"] })),
                ("POST", "/v1/challenge") => Some(json!({ "did": did })),
                ("POST", "/v1/token") => Some(json!({ "proof": "e30.e30.e30" })),
                ("POST", "/v1/introspect") => Some(json!({ "token": "e30.e30.e30" })),
                ("POST", "/v1/revoke") => Some(json!({ "token": token })),
                _ => None,
            };
            Endpoint {
                method,
                template,
                path,
                valid_body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            }
        })
        .collect()
}

fn real_token(world: &World, agent: &ApiAgent) -> String {
    let issued = try_token(world.server.http(), &world.server.url(), agent, "read").expect("token");
    assert_eq!(issued.status, 200, "{issued:?}");
    str_field(issued.json(), "token")
}

/// What a case may get back.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Refused with a 4xx JSON error by every endpoint that reads a body.
    Refused,
    /// This status and code from every endpoint that reads a body.
    Status(u16, &'static str),
    /// This status and code from the unsigned JSON endpoints; a 4xx JSON error from the others.
    UnsignedJson(u16, &'static str),
    /// `401 invalid_signature` from signed endpoints; unsigned ones ignore the header.
    BadSignature,
    /// `401 missing_signature` from signed endpoints (an unsigned request with an odd but legal
    /// header); unsigned ones answer normally.
    MissingSignature,
    /// Refused at the HTTP framing level: any status below 500, or a closed connection.
    Framing,
    /// Exactly this status and code (cases made for one endpoint).
    Exactly(u16, &'static str),
}

struct Case {
    name: &'static str,
    request: Vec<u8>,
    expect: Expect,
}

const JSON: (&str, &[u8]) = ("Content-Type", b"application/json");

fn json_case(ep: &Endpoint, name: &'static str, body: &[u8], expect: Expect) -> Case {
    Case {
        name,
        request: raw::request(&ep.method, &ep.path, &[JSON], Some(body)),
        expect,
    }
}

fn signature_case(ep: &Endpoint, name: &'static str, values: &[&[u8]]) -> Case {
    let body = (!ep.valid_body.is_empty()).then_some(ep.valid_body.as_slice());
    let mut headers: Vec<(&str, &[u8])> = body.map(|_| JSON).into_iter().collect();
    headers.extend(values.iter().map(|v| (SIGNATURE_HEADER, *v)));
    Case {
        name,
        request: raw::request(&ep.method, &ep.path, &headers, body),
        expect: Expect::BadSignature,
    }
}

fn chunked(ep: &Endpoint, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        ep.method, ep.path
    )
    .into_bytes();
    for chunk in body.chunks(8192) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn cases(ep: &Endpoint, proof_like: &str) -> Vec<Case> {
    let over_limit = {
        let mut body = b"{\"pad\":\"".to_vec();
        body.resize(70 * 1024, b'a');
        body.extend_from_slice(b"\"}");
        body
    };
    let big_header = vec![b'a'; 64 * 1024];
    let huge_header = vec![b'a'; 1024 * 1024];
    let big_signature = vec![b'A'; 64 * 1024];
    let wrong_types = br#"{"did":1,"proof":[],"token":{},"domain":false,"public_key":"x","operator_id":2,"allowed_scopes":"read"}"#;
    vec![
        json_case(
            ep,
            "malformed JSON",
            b"{\"did\": \"did:agent:",
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(
            ep,
            "trailing garbage",
            b"{} x",
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(ep, "empty body with a JSON type", b"", Expect::Refused),
        json_case(
            ep,
            "wrong types",
            wrong_types,
            Expect::UnsignedJson(400, "invalid_request"),
        ),
        json_case(
            ep,
            "array instead of object",
            b"[]",
            Expect::UnsignedJson(400, "invalid_request"),
        ),
        json_case(
            ep,
            "null",
            b"null",
            Expect::UnsignedJson(400, "invalid_request"),
        ),
        json_case(ep, "number", b"1e999999", Expect::Refused),
        json_case(
            ep,
            "duplicate member",
            br#"{"did":"a","did":"b","token":"a","token":"b","proof":"a","proof":"b"}"#,
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(
            ep,
            "65,000 nested arrays",
            &vec![b'['; 65_000],
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(
            ep,
            "12,000 nested objects",
            &b"{\"a\":".repeat(12_000),
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(
            ep,
            "100,000 nested arrays (over the limit)",
            &vec![b'['; 100_000],
            Expect::Status(413, "payload_too_large"),
        ),
        json_case(
            ep,
            "body over 64 KiB",
            &over_limit,
            Expect::Status(413, "payload_too_large"),
        ),
        Case {
            name: "chunked body over 64 KiB",
            request: chunked(ep, &over_limit),
            expect: Expect::Status(413, "payload_too_large"),
        },
        json_case(
            ep,
            "non-UTF-8 string",
            b"{\"did\":\"\xff\xfe\xfd\",\"token\":\"\xc3\x28\"}",
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(
            ep,
            "non-UTF-8 bytes",
            b"\xff\xfe\x00\x00",
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(
            ep,
            "byte order mark",
            b"\xef\xbb\xbf{}",
            Expect::UnsignedJson(400, "invalid_json"),
        ),
        json_case(
            ep,
            "lone surrogate",
            br#"{"did":"\ud800","token":"\ud800","proof":"\ud800"}"#,
            Expect::Refused,
        ),
        json_case(ep, "NUL bytes", b"{\"did\":\"\0\"}\0", Expect::Refused),
        Case {
            name: "JSON sent as text/plain",
            request: raw::request(
                &ep.method,
                &ep.path,
                &[("Content-Type", b"text/plain")],
                Some(b"{}"),
            ),
            expect: Expect::Status(415, "unsupported_media_type"),
        },
        Case {
            name: "64 KiB header",
            request: raw::request(
                &ep.method,
                &ep.path,
                &[JSON, ("X-Padding", &big_header)],
                Some(&ep.valid_body),
            ),
            expect: Expect::MissingSignature,
        },
        Case {
            name: "1 MiB header",
            request: raw::request(
                &ep.method,
                &ep.path,
                &[JSON, ("X-Padding", &huge_header)],
                Some(&ep.valid_body),
            ),
            expect: Expect::Framing,
        },
        Case {
            name: "unparsable Content-Length",
            request: format!(
                "{} {} HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{{}}",
                ep.method, ep.path
            )
            .into_bytes(),
            expect: Expect::Framing,
        },
        Case {
            name: "not HTTP at all",
            request: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n".to_vec(),
            expect: Expect::Framing,
        },
        signature_case(ep, "64 KiB signature", &[&big_signature]),
        signature_case(ep, "garbage signature", &[b"garbage"]),
        signature_case(ep, "empty JWS segments", &[b".."]),
        signature_case(ep, "base64 junk JWS", &[b"e30.e30.e30"]),
        signature_case(ep, "five segments", &[b"a.b.c.d.e"]),
        signature_case(ep, "non-ASCII signature", &[b"\xff\xfe.\xfd.\xfc"]),
        signature_case(
            ep,
            "alg none token",
            &[b"eyJhbGciOiJub25lIiwidHlwIjoiYXV0aDRhZ2VudC1yZXErand0In0.e30."],
        ),
        signature_case(ep, "a proof as signature", &[proof_like.as_bytes()]),
        signature_case(ep, "two signatures", &[b"e30.e30.e30", b"e30.e30.e30"]),
    ]
}

/// Hostile bodies correctly signed by `signer`, for the signed endpoints that check the signature
/// before they parse the body (`PUT …/scopes`, `POST /v1/revoke`): the parser must refuse them.
/// (Endpoints that take an empty body ignore it once signed, and act: they are left out.)
fn signed_body_cases(ep: &Endpoint, issuer: &str, signer: &Signer) -> Vec<Case> {
    if !matches!(
        (ep.method.as_str(), ep.template.as_str()),
        ("PUT", "/v1/agents/{did}/scopes") | ("POST", "/v1/revoke")
    ) {
        return Vec::new();
    }
    let bodies: [(&'static str, Vec<u8>, &'static str); 9] = [
        (
            "signed malformed JSON",
            b"{\"allowed_scopes\": [".to_vec(),
            "invalid_json",
        ),
        ("signed trailing garbage", b"{} x".to_vec(), "invalid_json"),
        (
            "signed wrong types",
            br#"{"allowed_scopes":"read","token":5}"#.to_vec(),
            "invalid_request",
        ),
        ("signed array", b"[]".to_vec(), "invalid_request"),
        (
            "signed duplicate member",
            br#"{"allowed_scopes":["a"],"allowed_scopes":["b"],"token":"a","token":"b"}"#.to_vec(),
            "invalid_json",
        ),
        (
            "signed 65,000 nested arrays",
            vec![b'['; 65_000],
            "invalid_json",
        ),
        (
            "signed non-UTF-8",
            b"{\"allowed_scopes\":[\"\xff\"],\"token\":\"\xff\"}".to_vec(),
            "invalid_json",
        ),
        (
            "signed lone surrogate",
            br#"{"allowed_scopes":["\ud800"],"token":"\ud800"}"#.to_vec(),
            "invalid_json",
        ),
        ("signed empty body", Vec::new(), "invalid_json"),
    ];
    bodies
        .into_iter()
        .map(|(name, body, code)| {
            let signature = signer.sign(&ep.method, &format!("{issuer}{}", ep.path), &body);
            let headers: Vec<(&str, &[u8])> = if body.is_empty() {
                vec![(SIGNATURE_HEADER, signature.as_bytes())]
            } else {
                vec![JSON, (SIGNATURE_HEADER, signature.as_bytes())]
            };
            Case {
                name,
                request: raw::request(&ep.method, &ep.path, &headers, Some(&body)),
                expect: Expect::Exactly(400, code),
            }
        })
        .collect()
}

/// A console refusal page as `{error, message}`: the code it names (`id="error-code"`) and its message.
fn console_refusal(ep: &Endpoint, body: &str) -> Option<Value> {
    if !ep.console() {
        return None;
    }
    let code = body
        .split_once("id=\"error-code\"><code>")?
        .1
        .split_once("</code>")?
        .0;
    let message = body
        .split_once("id=\"error-message\">")?
        .1
        .split_once("</p>")?
        .0;
    Some(json!({ "error": code, "message": message }))
}

/// Why `outcome` is wrong for `case` at `ep`, if it is.
fn judge(ep: &Endpoint, case: &Case, outcome: &RawOutcome) -> Option<String> {
    let response = match outcome {
        RawOutcome::Closed if matches!(case.expect, Expect::Framing) => return None,
        RawOutcome::Closed => return Some("the connection closed without a response".into()),
        RawOutcome::Response(response) => response,
    };
    let status = response.status;
    let body = response.text();
    let short: String = body.chars().take(300).collect();
    if status >= 500 {
        return Some(format!("got {status} {short}"));
    }
    if matches!(case.expect, Expect::Framing) {
        return None;
    }
    let doc = response.json().or_else(|| console_refusal(ep, &body));
    let (code_member, message_member) = if ep.oauth() {
        ("auth4agent_error", "error_description")
    } else {
        ("error", "message")
    };
    let code = doc
        .as_ref()
        .and_then(|d| d.get(code_member))
        .and_then(Value::as_str);
    if status >= 400 {
        let message = doc
            .as_ref()
            .and_then(|d| d.get(message_member))
            .and_then(Value::as_str);
        let oauth_error = doc
            .as_ref()
            .and_then(|d| d.get("error"))
            .and_then(Value::as_str);
        if code.is_none() || message.is_none() || oauth_error.is_none() {
            return Some(format!(
                "{status} without a JSON {{error, {message_member}}} body: {short:?}"
            ));
        }
    }
    // At the OAuth endpoints a code is sent with its OAuth status (spec §8.4).
    let status_of = |s: u16, c: &str| {
        if ep.oauth() {
            ErrorCode::parse(c).map_or(s, |known| oauth_error(known).0)
        } else {
            s
        }
    };
    let refused = (400..500).contains(&status);
    let expected = match case.expect {
        Expect::Framing => unreachable!(),
        Expect::Refused if ep.reads_body() => refused,
        Expect::Status(s, c) if ep.reads_body() => status == status_of(s, c) && code == Some(c),
        Expect::UnsignedJson(s, c) if ep.unsigned_json() => status == s && code == Some(c),
        Expect::UnsignedJson(..) if ep.reads_body() => refused,
        Expect::BadSignature if ep.signed() => status == 401 && code == Some("invalid_signature"),
        Expect::Exactly(s, c) => status == status_of(s, c) && code == Some(c),
        Expect::MissingSignature if ep.signed() => {
            status == 401 && code == Some("missing_signature")
        }
        // Unsigned endpoints with no body to read, or that ignore the signature header: anything
        // but a server error.
        _ => true,
    };
    (!expected).then(|| format!("expected {:?}, got {status} {short}", case.expect))
}

#[test]
fn hostile_input_to_every_endpoint_is_refused_with_a_json_4xx() {
    let world = World::with(|b| {
        b.args(NO_RATE_LIMIT)
            .args(["--request-timeout", &REQUEST_TIMEOUT.to_string()])
    });
    let operator = verified_operator(&world, "hostile.example.com");
    let agent = active_agent(&world, &operator, &["read"]);
    let http = world.server.http();
    let proof_like = agent.signer.proof(
        &agent.did,
        &world.server.url(),
        "ch_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "nonce",
        "read",
        "aud",
        None,
    );
    let server: SocketAddr = addr(&world);
    let token = real_token(&world, &agent);
    let endpoints = endpoints(&world, &operator.id, &agent.did, &token);

    let mut failures = Vec::new();
    let mut framing = std::collections::BTreeMap::<(&str, String), usize>::new();
    let mut sent = 0;
    for ep in &endpoints {
        let signed = signed_body_cases(ep, &world.server.url(), &operator.signer);
        for case in cases(ep, &proof_like).into_iter().chain(signed) {
            sent += 1;
            match raw::exchange(server, &case.request, ANSWER_WITHIN) {
                Ok(outcome) => {
                    if matches!(case.expect, Expect::Framing) {
                        let seen = match outcome.response() {
                            Some(r) => format!("{} {}", r.status, r.text()),
                            None => "closed".to_owned(),
                        };
                        *framing.entry((case.name, seen)).or_default() += 1;
                    }
                    if let Some(why) = judge(ep, &case, &outcome) {
                        failures.push(format!("{} — {}: {why}", ep.label(), case.name));
                    }
                }
                Err(e) => failures.push(format!(
                    "{} — {}: no answer within {ANSWER_WITHIN:?} ({e})",
                    ep.label(),
                    case.name
                )),
            }
        }
        assert_healthy(http, &format!("hostile input to {}", ep.label()));
    }
    eprintln!("{sent} hostile requests to {} endpoints", endpoints.len());
    for ((case, seen), count) in &framing {
        eprintln!("  framing-level {case}: {seen:.120} ({count} endpoints)");
    }
    assert!(
        failures.is_empty(),
        "{} of {sent} hostile requests were mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing changed: the agent is as it was.
    let seen = crate::hardening_support::try_signed(
        http,
        &operator.signer,
        "GET",
        &format!("/v1/agents/{}", agent.did),
        None,
    )
    .expect("agent");
    assert_eq!(seen.json()["allowed_scopes"], json!(["read"]), "{seen:?}");
    assert_eq!(str_field(seen.json(), "status"), "active");
}

#[test]
fn slow_bodies_hit_the_request_timeout_on_every_endpoint() {
    let world = World::with(|b| {
        b.args(NO_RATE_LIMIT)
            .args(["--request-timeout", &REQUEST_TIMEOUT.to_string()])
    });
    let operator = verified_operator(&world, "slow.example.com");
    let agent = active_agent(&world, &operator, &["read"]);
    let server = addr(&world);
    let http = world.server.http().clone();
    let token = real_token(&world, &agent);
    let endpoints = endpoints(&world, &operator.id, &agent.did, &token);

    // All at once, so the whole test takes about one timeout; /health is asked meanwhile.
    let results = std::thread::scope(|scope| {
        let trickles: Vec<_> = endpoints
            .iter()
            .map(|ep| {
                scope.spawn(move || {
                    let head = format!(
                        "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
                        ep.method, ep.path
                    );
                    let body = [b' '; 1000];
                    let give_up = ANSWER_WITHIN + Duration::from_secs(REQUEST_TIMEOUT);
                    let result = raw::trickle(
                        server,
                        head.as_bytes(),
                        &body,
                        Duration::from_millis(200),
                        give_up,
                    );
                    (ep, result)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        assert_healthy(&http, "slow bodies started");
        trickles
            .into_iter()
            .map(|t| t.join().expect("trickle thread"))
            .collect::<Vec<_>>()
    });

    let mut failures = Vec::new();
    let mut summary = Vec::new();
    let timeout = Duration::from_secs(REQUEST_TIMEOUT);
    for (ep, result) in results {
        let label = ep.label();
        let trickled = match result {
            Ok(t) => {
                let seen = t.outcome.response().map_or(0, |r| r.status);
                summary.push(format!("{label} → {seen} after {:.1?}", t.elapsed));
                t
            }
            Err(e) => {
                failures.push(format!(
                    "{label}: the server neither answered nor closed ({e})"
                ));
                continue;
            }
        };
        if !ep.reads_body() {
            // Reads no body: it may answer at once; it must not fail.
            if let Some(r) = trickled.outcome.response()
                && r.status >= 500
            {
                failures.push(format!("{label}: {} {}", r.status, r.text()));
            }
            continue;
        }
        if trickled.elapsed < timeout - Duration::from_millis(500) {
            failures.push(format!(
                "{label}: ended after {:?}, before the {timeout:?} timeout ({:?})",
                trickled.elapsed, trickled.outcome
            ));
        }
        match &trickled.outcome {
            RawOutcome::Closed => {}
            RawOutcome::Response(r) => {
                let member = if ep.oauth() {
                    "auth4agent_error"
                } else {
                    "error"
                };
                let code = r
                    .json()
                    .and_then(|d| d.get(member).and_then(Value::as_str).map(str::to_owned));
                if (r.status, code.as_deref()) != (408, Some("request_timeout")) {
                    failures.push(format!(
                        "{label}: expected 408 request_timeout, got {} {}",
                        r.status,
                        r.text()
                    ));
                }
            }
        }
    }
    eprintln!("slow bodies: {}", summary.join("; "));
    assert_healthy(&http, "slow bodies");
    assert!(
        failures.is_empty(),
        "slow bodies mishandled:\n{}",
        failures.join("\n")
    );
}

/// A request head that trickles in (slowloris) is cut off by the server's header-read timeout
/// instead of holding the connection open forever.
#[test]
fn slow_request_head_is_cut_off() {
    use std::io::{Read as _, Write as _};
    let world = World::new();
    let addr: SocketAddr = world
        .server
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .expect("start the head");
    let started = std::time::Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_secs(1));
        if stream.write_all(b"X-Slow: a\r\n").is_err() {
            closed = true;
            break;
        }
        stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {
                // hyper answers 408 before closing; either way the connection ends.
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(
        closed,
        "the server kept a trickling request head open for 30 s"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "cut off too early ({:?}): the timeout is 10 s",
        started.elapsed()
    );
    let health = raw::exchange(
        addr,
        &raw::request("GET", "/health", &[], None),
        ANSWER_WITHIN,
    )
    .expect("health answers");
    assert_eq!(health.response().map(|r| r.status), Some(200), "{health:?}");
}

/// A 2 MiB POST from Python's `urllib` and `requests`, as ordinary clients send it (the whole body,
/// then read the answer), reads the 413 `payload_too_large` every time: the server lingers, draining
/// the body, instead of closing while the client is still sending (which ends in a reset).
#[test]
fn ordinary_clients_read_the_413_of_an_oversized_body() {
    let world = World::new();
    let script = workspace_root().join("tests/scripts/oversized_body.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([&world.server.url(), "/v1/agents", "50", "2097152"])
        .output()
        .expect("run python3 tests/scripts/oversized_body.py (run `bash scripts/test.sh` first)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    for library in ["urllib", "requests"] {
        assert_eq!(
            report[library]["readable_413"], 50,
            "{library}: every answer a readable 413: {report}"
        );
    }
    assert_healthy(world.server.http(), "oversized bodies from Python clients");
}
