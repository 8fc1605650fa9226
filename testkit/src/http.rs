//! [`Http`]: a small blocking HTTP client bound to one server's base URL, responses read completely
//! for assertions ([`HttpResponse`]), requests signed by a [`Signer`].

use std::time::Duration;

use serde_json::Value;

use crate::sign::Signer;

/// An HTTP response read completely, for assertions.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body; panics with the raw body when it is not JSON.
    pub fn json(&self) -> &Value {
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("HTTP {}: body is not JSON: {:?}", self.status, self.body))
    }

    /// The `error` code of an error body, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.as_str()
    }
}

/// A small blocking HTTP client bound to one base URL.
#[derive(Clone, Debug)]
pub struct Http {
    base: String,
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn new(base: impl Into<String>) -> Http {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the HTTP client");
        Http {
            base: base.into().trim_end_matches('/').to_owned(),
            client,
        }
    }

    /// Full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::Result<HttpResponse> {
        read_response(self.client.get(self.url(path)).send()?)
    }

    /// POST with a JSON body and optional extra headers (e.g. `Auth4Agent-Signature`).
    pub fn post_json(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<HttpResponse> {
        self.send("POST", path, Some(body.to_string().into_bytes()), headers)
    }

    /// POST with an `application/x-www-form-urlencoded` body (the OAuth token endpoint's).
    pub fn post_form(&self, path: &str, form: &str) -> reqwest::Result<HttpResponse> {
        let request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        read_response(request.send()?)
    }

    /// Any method with a raw body; `Content-Type: application/json` when there is a body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<HttpResponse> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid HTTP method");
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        read_response(request.send()?)
    }
}

fn read_response(response: reqwest::blocking::Response) -> reqwest::Result<HttpResponse> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.text()?;
    let json = serde_json::from_str(&body).ok();
    Ok(HttpResponse {
        status,
        headers,
        body,
        json,
    })
}

impl Http {
    /// A request signed by `signer` (`htu` = base URL + path), with an optional JSON body.
    pub fn signed(
        &self,
        signer: &Signer,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> HttpResponse {
        let body = body.map(|b| b.to_string().into_bytes());
        let signature = signer.sign(method, &self.url(path), body.as_deref().unwrap_or_default());
        self.send(
            method,
            path,
            body,
            &[(auth4agent_protocol::SIGNATURE_HEADER, &signature)],
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}
