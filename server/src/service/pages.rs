//! Paged lists: the `limit` every list endpoint accepts, and cursors, opaque to clients (base64url of the position
//! of the last entry shown: `<time>:<key>`, with a kind prefix where one list holds two kinds).

use auth4agent_api::{DEFAULT_AGENT_PAGE, ErrorCode, MAX_AGENT_PAGE};
use auth4agent_protocol::{b64url_decode, b64url_encode};

use super::{ServiceError, ServiceResult};
use crate::store::UnixTime;

/// The page size asked for, 1 to [`MAX_AGENT_PAGE`]; [`DEFAULT_AGENT_PAGE`] when absent.
pub fn limit(requested: Option<u32>) -> ServiceResult<u32> {
    let limit = requested.unwrap_or(DEFAULT_AGENT_PAGE);
    if !(1..=MAX_AGENT_PAGE).contains(&limit) {
        return Err(ServiceError::refused(
            ErrorCode::InvalidRequest,
            format!("limit must be 1 to {MAX_AGENT_PAGE}"),
        ));
    }
    Ok(limit)
}

/// The cursor of a position `<prefix><time>:<key>`.
pub fn encode(prefix: &str, time: UnixTime, key: &str) -> String {
    b64url_encode(format!("{prefix}{time}:{key}").as_bytes())
}

/// The position of a cursor [`encode`] made with `prefix`: its time and key (`None` if the cursor is the bare
/// prefix). Anything else is `invalid_request`.
pub fn decode(cursor: &str, prefix: &str) -> ServiceResult<Option<(UnixTime, String)>> {
    let bytes = b64url_decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let position = text.strip_prefix(prefix).ok_or_else(invalid)?;
    if position.is_empty() {
        return Ok(None);
    }
    let (time, key) = position.split_once(':').ok_or_else(invalid)?;
    let time = time.parse().map_err(|_| invalid())?;
    Ok(Some((time, key.to_owned())))
}

/// A page fetched with `limit + 1` rows: the first `limit`, and the cursor of the next page (made from the last row
/// kept) when there was one more.
pub fn cut<T>(
    mut rows: Vec<T>,
    limit: u32,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if rows.len() <= limit as usize {
        return (rows, None);
    }
    rows.truncate(limit as usize);
    let next = rows.last().map(cursor);
    (rows, next)
}

/// The cursor that starts the `prefix` part of a list at its beginning.
pub fn start(prefix: &str) -> String {
    b64url_encode(prefix.as_bytes())
}

pub fn invalid() -> ServiceError {
    ServiceError::refused(
        ErrorCode::InvalidRequest,
        "cursor is not one this server gave",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_was_not_given() {
        let at: UnixTime = 1_767_225_700;
        let cursor = encode("t:", at, "a:b");
        assert_eq!(decode(&cursor, "t:").unwrap(), Some((at, "a:b".into())));
        assert_eq!(decode(&start("a:"), "a:").unwrap(), None);
        for bad in [
            cursor.as_str(), // another kind
            "!!",
            &b64url_encode(b"a:x:did"),
            &b64url_encode(b"a:12"),
        ] {
            assert!(decode(bad, "a:").is_err(), "{bad}");
        }
        assert_eq!(limit(None).unwrap(), DEFAULT_AGENT_PAGE);
        assert!(limit(Some(0)).is_err() && limit(Some(MAX_AGENT_PAGE + 1)).is_err());
    }
}
