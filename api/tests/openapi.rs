//! spec/openapi.yaml against the api crate: the paths and their methods, the error codes and their statuses,
//! the schema each endpoint names, and each schema's members against what our types serialize.
//!
//! The document is parsed with a YAML 1.2 parser and turned into a `serde_json::Value`; no schema library is
//! used: a type's sample values are serialized and their member names compared with the schema's `required` and
//! `properties`.

use std::collections::{BTreeMap, BTreeSet};

use auth4agent_api::error::ErrorCode;
use auth4agent_api::routes::{self, Method};
use auth4agent_api::*;
use auth4agent_protocol::{AccessTokenClaims, Audience, Confirmation, Jwk, Jwks};
use serde::Serialize;
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

fn document() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml"))
            .expect("spec/openapi.yaml is readable");
    let docs = YamlLoader::load_from_str(&text).expect("spec/openapi.yaml is YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    to_json(&docs[0])
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(text) => json!(text.parse::<f64>().expect("a YAML float")),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        // Status codes are quoted in the document; an unquoted one would parse as an integer.
                        Yaml::Integer(i) => i.to_string(),
                        other => panic!("non-string mapping key {other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::BadValue => panic!("unsupported YAML node {yaml:?}"),
    }
}

/// Follows a local `$ref` (`#/components/...`), if `node` is one.
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local $ref");
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {reference}")),
            )
        }
        None => node,
    }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc.pointer(&format!("/components/schemas/{name}"))
        .unwrap_or_else(|| panic!("no schema {name}"))
}

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn method_name(method: Method) -> String {
    method.as_str().to_ascii_lowercase()
}

#[test]
fn paths_and_methods_are_ours() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let ours: BTreeSet<&str> = routes::ALL.iter().map(|r| r.path).collect();
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(documented, ours, "paths in the document vs routes::ALL");
    for route in routes::ALL {
        let item = paths[route.path].as_object().unwrap();
        let documented: BTreeSet<String> = item
            .keys()
            .filter(|k| HTTP_METHODS.contains(&k.as_str()))
            .cloned()
            .collect();
        let ours: BTreeSet<String> = route.methods.iter().map(|&m| method_name(m)).collect();
        assert_eq!(documented, ours, "methods of {}", route.path);
    }
}

/// The auth4agent error codes an error response's schema enumerates: `allOf: [Error, {properties: {error:
/// {enum}}}]`, or on the OAuth endpoints `allOf: [OAuthError, {properties: {auth4agent_error: {enum}}}]`, or
/// on the console's HTML pages the media type's `x-auth4agent-errors`.
fn enumerated_codes(doc: &Value, response: &Value) -> Vec<String> {
    // The console's refusals are HTML pages: their codes are listed in `x-auth4agent-errors`.
    if let Some(codes) = response.pointer("/content/text~1html/x-auth4agent-errors") {
        return codes
            .as_array()
            .expect("x-auth4agent-errors is a list")
            .iter()
            .map(|c| c.as_str().expect("codes are strings").to_owned())
            .collect();
    }
    let member = if is_oauth_error(doc, response) {
        "auth4agent_error"
    } else {
        "error"
    };
    enumerated(doc, response, member)
}

fn enumerated(doc: &Value, response: &Value, member: &str) -> Vec<String> {
    let schema = resolve(doc, &response["content"]["application/json"]["schema"]);
    let Some(parts) = schema["allOf"].as_array() else {
        return Vec::new();
    };
    parts
        .iter()
        .filter_map(|part| part.pointer(&format!("/properties/{member}/enum")))
        .flat_map(|codes| codes.as_array().expect("an enum is a list"))
        .map(|code| code.as_str().expect("codes are strings").to_owned())
        .collect()
}

/// Whether an error response is an RFC 6749 §5.2 body (`allOf` starting with `OAuthError`).
fn is_oauth_error(doc: &Value, response: &Value) -> bool {
    let schema = resolve(doc, &response["content"]["application/json"]["schema"]);
    schema.pointer("/allOf/0/$ref").and_then(Value::as_str)
        == Some("#/components/schemas/OAuthError")
}

/// The codes of a description's bullet list (`- \`code\`: meaning`).
fn described_codes(response: &Value) -> Vec<String> {
    response["description"]
        .as_str()
        .unwrap_or("")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- `"))
        .filter_map(|rest| rest.split_once("`:").map(|(code, _)| code.to_owned()))
        .collect()
}

#[test]
fn error_codes_and_statuses_match_the_table() {
    let doc = document();
    let mut seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                let status: u16 = status.parse().expect("explicit status codes");
                let response = resolve(&doc, response);
                let codes = enumerated_codes(&doc, response);
                assert_eq!(
                    status >= 400,
                    !codes.is_empty(),
                    "{method} {path} {status}: error responses, and only they, list codes"
                );
                let described = described_codes(response);
                if !described.is_empty() {
                    assert_eq!(
                        described, codes,
                        "{method} {path} {status}: description vs enum"
                    );
                }
                let oauth = is_oauth_error(&doc, response);
                let oauth_codes = enumerated(&doc, response, "error");
                for code in codes {
                    let known = ErrorCode::parse(&code)
                        .unwrap_or_else(|| panic!("{method} {path}: unknown code {code}"));
                    if oauth {
                        // The OAuth endpoints send RFC 6749 statuses; the table maps each code.
                        let (oauth_status, oauth_code) = oauth_error(known);
                        assert_eq!(
                            oauth_status, status,
                            "{method} {path}: OAuth status of {code}"
                        );
                        assert!(
                            oauth_codes.iter().any(|c| c == oauth_code),
                            "{method} {path} {status}: {code} is sent as {oauth_code}, not enumerated"
                        );
                    } else {
                        assert_eq!(known.status(), status, "{method} {path}: status of {code}");
                    }
                    seen.insert(code);
                }
            }
        }
    }
    // Route-independent answers (unknown path, wrong method) are documented once, as components.
    for (name, response) in doc["components"]["responses"].as_object().unwrap() {
        let codes = enumerated_codes(&doc, response);
        assert!(
            !codes.is_empty(),
            "components/responses/{name} lists no code"
        );
        for code in codes {
            assert!(
                ErrorCode::parse(&code).is_some(),
                "{name}: unknown code {code}"
            );
            seen.insert(code);
        }
    }
    for (code, status) in [("not_found", 404), ("method_not_allowed", 405)] {
        assert_eq!(status_of(code), Some(status));
    }
    let table: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(seen, table, "codes in the document vs ErrorCode::ALL");
}

/// The schema each endpoint names for its body and its success answer.
#[test]
fn endpoints_name_our_schemas() {
    use Method::{Get, Post, Put};
    let expected: &[(&str, Method, Option<&str>, u16, &str)] = &[
        (routes::HEALTH, Get, None, 200, "Health"),
        (routes::READY, Get, None, 200, "Ready"),
        (routes::JWKS, Get, None, 200, "Jwks"),
        (routes::CONFIGURATION, Get, None, 200, "Discovery"),
        (
            routes::STATUS_LISTS,
            Get,
            None,
            200,
            "StatusListAggregation",
        ),
        (routes::STATUS_LIST, Get, None, 200, "StatusListToken"),
        (
            routes::OAUTH_METADATA,
            Get,
            None,
            200,
            "AuthorizationServerMetadata",
        ),
        (
            routes::OAUTH_TOKEN,
            Post,
            Some("OAuthTokenRequest"),
            200,
            "OAuthTokenResponse",
        ),
        (
            routes::OPERATORS,
            Post,
            Some("OperatorCreateRequest"),
            201,
            "Operator",
        ),
        (routes::OPERATOR, Get, None, 200, "Operator"),
        (
            routes::OPERATOR_VERIFICATION,
            Get,
            None,
            200,
            "Verification",
        ),
        (routes::OPERATOR_VERIFICATION, Post, None, 200, "Operator"),
        (
            routes::OPERATOR_KEY,
            Post,
            Some("OperatorKeyChangeRequest"),
            200,
            "Operator",
        ),
        (
            routes::OPERATOR_RECOVERY,
            Post,
            Some("OperatorRecoveryRequest"),
            200,
            "OperatorRecovery",
        ),
        (
            routes::OPERATOR_RECOVERY_CONFIRM,
            Post,
            Some("OperatorRecoveryRequest"),
            200,
            "Operator",
        ),
        (routes::OPERATOR_AGENTS, Get, None, 200, "AgentList"),
        (routes::OPERATOR_REVOCATIONS, Get, None, 200, "Revocations"),
        (routes::OPERATOR_APPROVALS, Get, None, 200, "ApprovalList"),
        (
            routes::OPERATOR_APPROVE,
            Post,
            Some("ApproveRequest"),
            200,
            "ApprovalDecision",
        ),
        (
            routes::OPERATOR_DENY,
            Post,
            Some("DenyRequest"),
            200,
            "ApprovalDecision",
        ),
        (routes::OPERATOR_GRANTS, Get, None, 200, "GrantList"),
        (
            routes::OPERATOR_CONSOLE_LINK,
            Post,
            None,
            200,
            "ConsoleLink",
        ),
        (
            routes::OPERATOR_GRANT_REVOKE,
            Post,
            Some("RevokeGrantRequest"),
            200,
            "RememberedGrant",
        ),
        (
            routes::OAUTH_DEVICE_AUTHORIZATION,
            Post,
            Some("DeviceAuthorizationRequest"),
            200,
            "DeviceAuthorizationResponse",
        ),
        (
            routes::AGENTS,
            Post,
            Some("AgentCreateRequest"),
            201,
            "Agent",
        ),
        (routes::AGENT, Get, None, 200, "Agent"),
        (
            routes::AGENT_SCOPES,
            Put,
            Some("ScopesRequest"),
            200,
            "Agent",
        ),
        (routes::AGENT_SUSPEND, Post, None, 200, "Agent"),
        (routes::AGENT_REACTIVATE, Post, None, 200, "Agent"),
        (routes::AGENT_REVOKE, Post, None, 200, "Agent"),
        (
            routes::CHALLENGE,
            Post,
            Some("ChallengeRequest"),
            200,
            "Challenge",
        ),
        (
            routes::TOKEN,
            Post,
            Some("TokenRequest"),
            200,
            "TokenResponse",
        ),
        (
            routes::INTROSPECT,
            Post,
            Some("IntrospectRequest"),
            200,
            "Introspection",
        ),
        (
            routes::REVOKE,
            Post,
            Some("RevokeRequest"),
            200,
            "RevokeResponse",
        ),
    ];
    // Routes that only ever refuse: no body, no success answer.
    let refusing = [
        (routes::OAUTH_AUTHORIZE, Get),
        (routes::OAUTH_AUTHORIZE, Post),
    ];
    // HTML pages: no body, a text/html success answer.
    let pages = [
        (routes::CONSOLE_APPROVE, Get),
        (routes::CONSOLE, Get),
        (routes::CONSOLE_AGENTS, Get),
        (routes::CONSOLE_AUDIT, Get),
        (routes::CONSOLE_PASSKEYS, Get),
        (routes::CONSOLE_PASSKEY_LOGIN, Get),
    ];
    // The console's forms and redirects: a form body or none, the one success status.
    let console = [
        (routes::CONSOLE_APPROVE, Post, true, 200),
        (routes::CONSOLE_DENY, Post, true, 200),
        (routes::CONSOLE_LOGOUT, Post, true, 303),
        (routes::CONSOLE_LOGIN, Get, false, 303),
        (routes::CONSOLE_STATIC, Get, false, 200),
        (routes::CONSOLE_PASSKEYS, Post, true, 200),
        (routes::CONSOLE_PASSKEY_LOGIN, Post, true, 303),
    ];
    let doc = document();
    let count: usize = routes::ALL.iter().map(|r| r.methods.len()).sum();
    assert_eq!(
        expected.len() + refusing.len() + pages.len() + console.len(),
        count,
        "one row per route and method"
    );
    for (path, method, form, status) in console {
        let operation = &doc["paths"][path][method_name(method)];
        assert!(operation.is_object(), "{method} {path} is documented");
        assert_eq!(
            operation
                .pointer("/requestBody/content/application~1x-www-form-urlencoded")
                .is_some(),
            form,
            "{method} {path}: a form body"
        );
        let responses = operation["responses"].as_object().unwrap();
        let successes: Vec<&String> = responses
            .keys()
            .filter(|s| s.starts_with('2') || s.starts_with('3'))
            .collect();
        assert_eq!(successes, [&status.to_string()], "{method} {path}");
    }
    for (path, method) in pages {
        let operation = &doc["paths"][path][method_name(method)];
        assert!(operation.is_object(), "{method} {path} is documented");
        assert!(
            operation["requestBody"].is_null(),
            "{method} {path}: no body"
        );
        assert!(
            operation
                .pointer("/responses/200/content/text~1html")
                .is_some(),
            "{method} {path}: an HTML page"
        );
    }
    for (path, method) in refusing {
        let operation = &doc["paths"][path][method_name(method)];
        assert!(operation.is_object(), "{method} {path} is documented");
        assert!(
            operation["requestBody"].is_null(),
            "{method} {path}: no body"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().all(|s| s.starts_with('4')),
            "{method} {path}: refusals only"
        );
    }
    let schema_ref = |node: &Value| {
        node.pointer("/content/application~1json/schema/$ref")
            .or_else(|| node.pointer("/content/application~1x-www-form-urlencoded/schema/$ref"))
            .or_else(|| node.pointer("/content/application~1statuslist+jwt/schema/$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .map(str::to_owned)
    };
    for &(path, method, request, status, response) in expected {
        let operation = &doc["paths"][path][method_name(method)];
        assert!(operation.is_object(), "{method} {path} is documented");
        assert_eq!(
            schema_ref(&operation["requestBody"]).as_deref(),
            request,
            "{method} {path}: request body"
        );
        let responses = operation["responses"].as_object().unwrap();
        let successes: Vec<&String> = responses.keys().filter(|s| s.starts_with('2')).collect();
        assert_eq!(
            successes,
            [&status.to_string()],
            "{method} {path}: success status"
        );
        assert_eq!(
            schema_ref(&responses[&status.to_string()]).as_deref(),
            Some(response),
            "{method} {path}: answer"
        );
    }
}

/// A type's serialized samples: `least` with every optional member absent, `most` with every one present.
struct Sample {
    least: Value,
    most: Value,
}

fn sample(value: impl Serialize) -> Sample {
    let value = serde_json::to_value(value).unwrap();
    Sample {
        least: value.clone(),
        most: value,
    }
}

fn samples(least: impl Serialize, most: impl Serialize) -> Sample {
    Sample {
        least: serde_json::to_value(least).unwrap(),
        most: serde_json::to_value(most).unwrap(),
    }
}

/// `required` = the members always serialized, `properties` ⊇ the members ever serialized, recursively for
/// nested objects and lists of objects.
fn check_members(doc: &Value, schema: &Value, least: &Value, most: &Value, at: &str) {
    let schema = resolve(doc, schema);
    let (Value::Object(least), Value::Object(most)) = (least, most) else {
        return;
    };
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .unwrap_or_else(|| panic!("{at}: schema has no required list"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let always: BTreeSet<&str> = least.keys().map(String::as_str).collect();
    assert_eq!(required, always, "{at}: required vs always serialized");
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{at}: schema has no properties"));
    for (name, value) in most {
        let property = properties
            .get(name)
            .unwrap_or_else(|| panic!("{at}: {name} is serialized but not a property"));
        let property = resolve(doc, property);
        let least_value = least.get(name).unwrap_or(value);
        match (least_value, value) {
            (Value::Object(_), Value::Object(_)) => {
                check_members(doc, property, least_value, value, &format!("{at}.{name}"));
            }
            (Value::Array(l), Value::Array(m)) if !m.is_empty() => {
                let items = &property["items"];
                check_members(
                    doc,
                    items,
                    l.first().unwrap_or(&m[0]),
                    &m[0],
                    &format!("{at}.{name}[]"),
                );
            }
            _ => {}
        }
    }
}

const DID: &str = "did:agent:example.com:6a3803d5f059902a1c6dafbc9ba47292";

fn public_jwk() -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: Some("Ed25519".into()),
        x: Some("gTl3Dqh9F19Wo1Rmw0x-zMuNipG07jeiXfYPW4_Js5Q".into()),
        ..Jwk::default()
    }
}

fn registration() -> AgentRegistration {
    AgentRegistration {
        expires_at: 601,
        granted_scopes: vec!["files:read".into()],
        interval: 5,
        name: Some("build bot".into()),
        requested_scopes: vec!["files:read".into(), "files:write".into()],
        status: "approved".into(),
        user_code: "WDJB-MJHT".into(),
        verification_uri: "https://auth.example.com/console/approve".into(),
        verification_uri_complete: "https://auth.example.com/console/approve?user_code=WDJB-MJHT"
            .into(),
    }
}

fn registered_agent() -> Agent {
    Agent {
        registration: Some(registration()),
        ..agent(Some(3))
    }
}

fn agent(revoked_at: Option<u64>) -> Agent {
    let keys: Value = serde_json::from_str(include_str!("../../spec/examples/keys.json")).unwrap();
    Agent {
        allowed_scopes: vec!["files:read".into()],
        approval_scopes: vec!["payments:write".into()],
        created_at: 1,
        did: DID.into(),
        did_document: keys["agent"]["did_document"].clone(),
        operator_id: "op_x".into(),
        registration: None,
        revoked_at,
        status: AgentStatus::Active,
        updated_at: 2,
    }
}

fn approval_request() -> ApprovalRequest {
    ApprovalRequest {
        age: 3,
        binding_message: Some("Pay #1".into()),
        created_at: 1,
        did: DID.into(),
        expires_at: 601,
        kind: ApprovalKind::DeviceAuthorization,
        name: None,
        resource: "https://api.example.com".into(),
        scopes: vec!["payments:write".into()],
        user_code: "WDJB-MJHT".into(),
    }
}

fn registration_request() -> ApprovalRequest {
    ApprovalRequest {
        binding_message: None,
        kind: ApprovalKind::Registration,
        name: Some("build bot".into()),
        resource: String::new(),
        ..approval_request()
    }
}

fn remembered_grant() -> auth4agent_api::RememberedGrant {
    auth4agent_api::RememberedGrant {
        created_at: 1,
        did: DID.into(),
        expires_at: 3601,
        id: "gr_x".into(),
        resource: "https://api.example.com".into(),
        revoked_at: None,
        scopes: vec!["payments:write".into()],
    }
}

fn decision(remembered_grant: Option<auth4agent_api::RememberedGrant>) -> ApprovalDecision {
    ApprovalDecision {
        agent_status: None,
        did: DID.into(),
        remembered_grant,
        resource: "https://api.example.com".into(),
        scopes: vec!["payments:write".into()],
        status: "approved".into(),
        user_code: "WDJB-MJHT".into(),
    }
}

fn claims(nbf: Option<u64>) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://auth.example.com".into(),
        sub: DID.into(),
        client_id: DID.into(),
        aud: Audience::One("https://api.example.com".into()),
        scope: "files:read".into(),
        iat: 1,
        nbf,
        exp: 2,
        jti: "tQ2kGd3iX0b1S7yKp9cWmA".into(),
        cnf: Confirmation { jkt: "j".into() },
        status: None,
    }
}

fn active(nbf: Option<u64>) -> Introspection {
    Introspection::active(ActiveToken::new(
        &claims(nbf),
        "Bearer",
        AgentStatus::Active,
        OperatorStatus::Verified,
        "op_x",
    ))
}

fn configuration() -> Configuration {
    let url = |p: &str| format!("https://auth.example.com{p}");
    Configuration {
        endpoints: Endpoints {
            agents: url(routes::AGENTS),
            challenge: url(routes::CHALLENGE),
            health: url(routes::HEALTH),
            introspect: url(routes::INTROSPECT),
            jwks: url(routes::JWKS),
            oauth_token: Some(url(routes::OAUTH_TOKEN)),
            operators: url(routes::OPERATORS),
            ready: url(routes::READY),
            revoke: url(routes::REVOKE),
            token: url(routes::TOKEN),
        },
        issuer: url(""),
        jwks_uri: url(routes::JWKS),
        oauth_authorization_server: Some(url(routes::OAUTH_METADATA)),
        limits: Limits {
            challenge_ttl: 60,
            leeway: 60,
            max_body_bytes: 65536,
            rate_limit: 20.0,
            rate_limit_burst: 100,
            request_max_age: 120,
            token_default_ttl: 900,
            token_max_ttl: 3600,
        },
        proof_typ: "auth4agent-proof+jwt".into(),
        request_signature_header: "Auth4Agent-Signature".into(),
        request_typ: "auth4agent-req+jwt".into(),
        signing_alg_values_supported: vec!["EdDSA".into()],
        status_list_aggregation_endpoint: Some("https://auth.example.com/status-lists".into()),
        token_types_supported: vec!["at+jwt".into()],
    }
}

fn configuration_without_oauth() -> Configuration {
    let mut doc = configuration();
    doc.oauth_authorization_server = None;
    doc.endpoints.oauth_token = None;
    doc.status_list_aggregation_endpoint = None;
    doc
}

fn metadata(full: bool) -> AuthorizationServerMetadata {
    let url = |p: &str| format!("https://auth.example.com{p}");
    AuthorizationServerMetadata {
        auth4agent_configuration: full.then(|| url(routes::CONFIGURATION)),
        authorization_endpoint: url(routes::OAUTH_AUTHORIZE),
        device_authorization_endpoint: full.then(|| url(routes::OAUTH_DEVICE_AUTHORIZATION)),
        dpop_signing_alg_values_supported: if full {
            vec!["EdDSA".into()]
        } else {
            Vec::new()
        },
        grant_types_supported: vec![
            "client_credentials".into(),
            "urn:ietf:params:oauth:grant-type:device_code".into(),
        ],
        introspection_endpoint: url(routes::INTROSPECT),
        issuer: url(""),
        jwks_uri: url(routes::JWKS),
        response_types_supported: Vec::new(),
        revocation_endpoint: url(routes::REVOKE),
        scopes_supported: if full {
            vec!["files:read".into()]
        } else {
            Vec::new()
        },
        status_list_aggregation_endpoint: full.then(|| url(routes::STATUS_LISTS)),
        token_endpoint: url(routes::OAUTH_TOKEN),
        token_endpoint_auth_methods_supported: vec!["private_key_jwt".into()],
        token_endpoint_auth_signing_alg_values_supported: vec!["EdDSA".into()],
    }
}

#[test]
fn schemas_have_the_members_our_types_serialize() {
    let operator = |verified: Option<u64>| Operator {
        created_at: 1,
        domain: "example.com".into(),
        domain_verified_at: verified,
        id: "op_x".into(),
        status: OperatorStatus::Unverified,
        verification_expires_at: verified,
    };
    let server_key = Jwk {
        kid: Some("k".into()),
        alg: Some("EdDSA".into()),
        use_: Some("sig".into()),
        ..public_jwk()
    };
    let checks: Vec<(&str, Sample)> = vec![
        ("Error", sample(ErrorBody::new(ErrorCode::Forbidden, "no"))),
        ("Health", sample(Health::ok(1))),
        ("Ready", sample(Ready::storage_reachable())),
        (
            "ConsoleLink",
            sample(auth4agent_api::ConsoleLink {
                expires_at: 61,
                expires_in: 60,
                login_url: "https://auth.example.com/console/login?token=t".into(),
            }),
        ),
        (
            "Jwks",
            sample(Jwks {
                keys: vec![server_key],
            }),
        ),
        (
            "Discovery",
            samples(configuration_without_oauth(), configuration()),
        ),
        (
            "OAuthError",
            sample(OAuthErrorBody::new(ErrorCode::ClientAssertionReplayed, "replayed").1),
        ),
        (
            "OAuthTokenResponse",
            sample(OAuthTokenResponse {
                access_token: "a.b.c".into(),
                expires_in: 900,
                scope: "files:read".into(),
                token_type: "Bearer".into(),
            }),
        ),
        (
            "AuthorizationServerMetadata",
            samples(metadata(false), metadata(true)),
        ),
        (
            "OperatorRecoveryRequest",
            samples(
                RecoverOperator {
                    public_key: public_jwk(),
                },
                RecoverOperator {
                    public_key: public_jwk(),
                },
            ),
        ),
        (
            "OperatorRecovery",
            samples(
                RecoveryInstructions {
                    domain: "example.com".into(),
                    expires_at: 1_800_086_400,
                    txt_record_name: "_auth4agent.example.com".into(),
                    txt_record_value: "auth4agent-verification=0123".into(),
                },
                RecoveryInstructions {
                    domain: "example.com".into(),
                    expires_at: 1_800_086_400,
                    txt_record_name: "_auth4agent.example.com".into(),
                    txt_record_value: "auth4agent-verification=0123".into(),
                },
            ),
        ),
        (
            "OperatorKeyChangeRequest",
            samples(
                ChangeOperatorKey {
                    public_key: public_jwk(),
                    key_change: "eyJ…".into(),
                },
                ChangeOperatorKey {
                    public_key: public_jwk(),
                    key_change: "eyJ…".into(),
                },
            ),
        ),
        (
            "OperatorCreateRequest",
            samples(
                RegisterOperator {
                    domain: "example.com".into(),
                    public_key: public_jwk(),
                },
                RegisterOperator {
                    domain: "example.com".into(),
                    public_key: Jwk {
                        kid: Some("k".into()),
                        alg: Some("EdDSA".into()),
                        use_: Some("sig".into()),
                        ..public_jwk()
                    },
                },
            ),
        ),
        ("Operator", samples(operator(None), operator(Some(3)))),
        (
            "Verification",
            sample(VerificationInstructions {
                domain: "example.com".into(),
                txt_record_name: "_auth4agent.example.com".into(),
                txt_record_value: "auth4agent-verification=0123456789abcdef0123456789abcdef".into(),
            }),
        ),
        (
            "AgentCreateRequest",
            samples(
                RegisterAgent {
                    domain: None,
                    name: None,
                    operator_id: None,
                    public_key: public_jwk(),
                    requested_scopes: None,
                },
                RegisterAgent {
                    domain: Some("example.com".into()),
                    name: Some("build bot".into()),
                    operator_id: Some("op_x".into()),
                    public_key: public_jwk(),
                    requested_scopes: Some(vec!["files:read".into()]),
                },
            ),
        ),
        ("Agent", samples(agent(None), registered_agent())),
        ("AgentRegistration", sample(registration())),
        (
            "AgentList",
            sample(AgentList {
                agents: vec![agent(None)],
                next_cursor: Some("MTc2NzIyNTYwMDpkaWQ".into()),
            }),
        ),
        (
            "ScopesRequest",
            samples(
                SetScopes {
                    allowed_scopes: vec!["files:read".into()],
                    approval_scopes: None,
                },
                SetScopes {
                    allowed_scopes: vec!["files:read".into()],
                    approval_scopes: Some(vec!["payments:write".into()]),
                },
            ),
        ),
        (
            "DeviceAuthorizationResponse",
            sample(DeviceAuthorizationResponse {
                device_code: "d".into(),
                expires_in: 600,
                interval: 5,
                user_code: "WDJB-MJHT".into(),
                verification_uri: "https://auth.example.com/console/approve".into(),
                verification_uri_complete:
                    "https://auth.example.com/console/approve?user_code=WDJB-MJHT".into(),
            }),
        ),
        (
            "ApprovalList",
            sample(ApprovalList {
                approvals: vec![approval_request(), registration_request()],
                next_cursor: Some("MTc2NzIyNTYwMDpXREpCTUpIVA".into()),
            }),
        ),
        (
            "ApproveRequest",
            samples(
                ApproveRequest {
                    remember_seconds: None,
                    scopes: None,
                    user_code: "WDJB-MJHT".into(),
                },
                ApproveRequest {
                    remember_seconds: Some(3600),
                    scopes: Some(vec!["payments:write".into()]),
                    user_code: "WDJB-MJHT".into(),
                },
            ),
        ),
        (
            "DenyRequest",
            sample(DenyRequest {
                user_code: "WDJB-MJHT".into(),
            }),
        ),
        (
            "ApprovalDecision",
            samples(
                decision(None),
                ApprovalDecision {
                    // Never both on one decision (a registration remembers nothing): members only.
                    agent_status: Some("active".into()),
                    ..decision(Some(remembered_grant()))
                },
            ),
        ),
        ("RememberedGrant", sample(remembered_grant())),
        (
            "GrantList",
            sample(GrantList {
                grants: vec![remembered_grant()],
                next_cursor: None,
            }),
        ),
        (
            "RevokeGrantRequest",
            sample(RevokeGrantRequest {
                grant_id: "gr_x".into(),
            }),
        ),
        (
            "Revocations",
            sample(Revocations {
                agents: vec![RevokedAgent {
                    did: DID.into(),
                    revoked_at: 3,
                }],
                tokens: vec![RevokedToken {
                    did: DID.into(),
                    expires_at: 4,
                    jti: "j".into(),
                    revoked_at: 3,
                }],
                next_cursor: None,
            }),
        ),
        (
            "ChallengeRequest",
            sample(ChallengeRequest { did: DID.into() }),
        ),
        (
            "Challenge",
            sample(ChallengeResponse {
                challenge_id: "ch_x".into(),
                expires_at: 60,
                nonce: "n".into(),
            }),
        ),
        (
            "TokenRequest",
            sample(TokenRequest {
                proof: "a.b.c".into(),
            }),
        ),
        (
            "TokenResponse",
            sample(TokenResponse {
                aud: "https://api.example.com".into(),
                expires_at: 2,
                scope: "files:read".into(),
                token: "a.b.c".into(),
                token_type: "Bearer".into(),
            }),
        ),
        (
            "IntrospectRequest",
            sample(IntrospectRequest {
                token: "a.b.c".into(),
            }),
        ),
        ("IntrospectionInactive", sample(Introspection::inactive())),
        (
            "IntrospectionActive",
            samples(active(None), active(Some(1))),
        ),
        (
            "RevokeRequest",
            sample(RevokeRequest {
                token: "a.b.c".into(),
            }),
        ),
        (
            "RevokeResponse",
            sample(RevokeResponse {
                jti: "j".into(),
                revoked: true,
            }),
        ),
        ("AccessTokenClaims", samples(claims(None), claims(Some(1)))),
    ];
    let doc = document();
    let mut names = BTreeMap::new();
    for (name, Sample { least, most }) in &checks {
        check_members(&doc, schema(&doc, name), least, most, name);
        names.insert(*name, ());
    }
    // The two shapes of an introspection answer are the whole of `Introspection`.
    let one_of: BTreeSet<&str> = schema(&doc, "Introspection")["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["$ref"]
                .as_str()
                .unwrap()
                .trim_start_matches("#/components/schemas/")
        })
        .collect();
    assert_eq!(
        one_of,
        BTreeSet::from(["IntrospectionActive", "IntrospectionInactive"])
    );
    assert_eq!(
        schema(&doc, "IntrospectionInactive")["additionalProperties"],
        json!(false)
    );
}
