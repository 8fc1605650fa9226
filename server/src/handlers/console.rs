//! `GET /console/approve`: the page a device authorization's `verification_uri` names. Until the browser
//! console exists it only tells the approver how to decide from the CLI, for the code in `?user_code=`
//! (validated, never looked up: the page reveals nothing about any request and is no oracle for guessing
//! codes). Served with a CSP that allows nothing, never framed, never cached.

use auth4agent_protocol::{Form, UserCode};
use axum::extract::RawQuery;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The headers of every console page: no script, style, image or form; never framed; never cached.
const PAGE_HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// What the page says about the code it was given.
fn body(code: Option<Result<UserCode, ()>>) -> String {
    // A parsed code is eight characters of BCDFGHJKLMNPQRSTVWXZ and a dash: nothing to escape.
    let main = match code {
        Some(Ok(code)) => format!(
            "<p>Request <strong>{code}</strong> waits for the operator's approval.</p>\n\
             <p>The operator approves it with the operator key:</p>\n\
             <pre>auth4agent approvals list\nauth4agent approvals approve {code}</pre>\n\
             <p>or refuses it with <code>auth4agent approvals deny {code}</code>.</p>"
        ),
        Some(Err(())) => {
            "<p>This is not a valid code: a code has eight letters, shown as XXXX-XXXX.</p>"
                .to_owned()
        }
        None => "<p>Approve a request with the code the agent shows:</p>\n\
                 <pre>auth4agent approvals list\nauth4agent approvals approve XXXX-XXXX</pre>"
            .to_owned(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>auth4agent: approve a request</title></head>\n<body>\n<h1>Approve a request</h1>\n{main}\n\
         <p>The browser console is not available on this server yet: decide from the CLI.</p>\n</body>\n</html>\n"
    )
}

/// `GET /console/approve[?user_code=XXXX-XXXX]`.
pub async fn approve(RawQuery(query): RawQuery) -> Response {
    let code = query.and_then(|q| {
        let form = Form::parse(q.as_bytes()).ok()?;
        form.get("user_code")
            .map(|c| UserCode::parse(c).map_err(|_| ()))
    });
    let mut response = body(code).into_response();
    for (name, value) in PAGE_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}
