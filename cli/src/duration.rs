//! Human durations on the command line: `90`, `30s`, `15m`, `1h`, `1h30m`, `2d` (a bare number is seconds); and
//! instants printed for people: RFC 3339 UTC plus a relative form (`2026-12-02T06:45:00Z, in 15m`).

/// Parses a duration into whole seconds. Units: `s`, `m`, `h`, `d`; parts may be combined (`1h30m`).
pub fn parse_seconds(input: &str) -> Result<u64, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err("empty duration (examples: 30s, 15m, 1h)".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map_err(|_| format!("duration {input:?} is too large"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit: u64 = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => {
                return Err(format!(
                    "invalid duration {input:?}: unknown unit {ch:?} (use s, m, h or d, e.g. 15m)"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!(
                "invalid duration {input:?}: unit {ch:?} needs a number before it"
            ));
        }
        let value: u64 = digits
            .parse()
            .map_err(|_| format!("duration {input:?} is too large"))?;
        digits.clear();
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {input:?} is too large"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "invalid duration {input:?}: trailing number without a unit (e.g. 1h30m)"
        ));
    }
    Ok(total)
}

/// clap value parser for a duration that must be at least one second.
pub fn parse_positive(input: &str) -> Result<u64, String> {
    match parse_seconds(input)? {
        0 => Err(format!("duration {input:?} must be at least 1s")),
        secs => Ok(secs),
    }
}

/// An instant (Unix seconds) for people: RFC 3339 UTC and how far it is from `now`, e.g.
/// `2026-12-02T06:45:00Z, in 15m` or `2026-12-02T06:15:00Z, 15m ago`. `--json` keeps the Unix seconds.
pub fn format_instant(at: u64, now: u64) -> String {
    let relative = if at >= now {
        format!("in {}", format_span(at - now))
    } else {
        format!("{} ago", format_span(now - at))
    };
    format!("{}, {relative}", rfc3339(at))
}

/// A span in its two largest units: `45s`, `15m`, `1h30m`, `2d3h`.
fn format_span(secs: u64) -> String {
    let units = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)];
    let Some(first) = units.iter().position(|&(_, size)| secs >= size) else {
        return "0s".into();
    };
    let (name, size) = units[first];
    let mut text = format!("{}{name}", secs / size);
    if let Some(&(next, next_size)) = units.get(first + 1) {
        let more = secs % size / next_size;
        if more > 0 {
            text.push_str(&format!("{more}{next}"));
        }
    }
    text
}

/// Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
fn rfc3339(secs: u64) -> String {
    auth4agent_protocol::UnixTime::from_secs(secs).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_for_people() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_193_900), "2026-12-02T06:45:00Z");
        assert_eq!(
            format_instant(1_796_193_900, 1_796_193_000),
            "2026-12-02T06:45:00Z, in 15m"
        );
        assert_eq!(
            format_instant(1_796_193_000, 1_796_198_400),
            "2026-12-02T06:30:00Z, 1h30m ago"
        );
        assert_eq!(format_span(0), "0s");
        assert_eq!(format_span(45), "45s");
        assert_eq!(format_span(3600), "1h");
        assert_eq!(format_span(90_061), "1d1h");
    }

    #[test]
    fn plain_numbers_are_seconds() {
        assert_eq!(parse_seconds("90"), Ok(90));
        assert_eq!(parse_seconds("0"), Ok(0));
    }

    #[test]
    fn units_and_combinations() {
        assert_eq!(parse_seconds("30s"), Ok(30));
        assert_eq!(parse_seconds("15m"), Ok(900));
        assert_eq!(parse_seconds("1h"), Ok(3600));
        assert_eq!(parse_seconds("2d"), Ok(172_800));
        assert_eq!(parse_seconds("1h30m"), Ok(5400));
        assert_eq!(parse_seconds(" 1m5s "), Ok(65));
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_seconds("").is_err());
        assert!(parse_seconds("15x").is_err());
        assert!(parse_seconds("m").is_err());
        assert!(parse_seconds("1h30").is_err());
        assert!(parse_seconds("-5s").is_err());
        assert!(parse_seconds("99999999999999999999").is_err());
        assert!(parse_seconds("999999999999999999d").is_err());
    }

    #[test]
    fn positive_refuses_zero() {
        assert!(parse_positive("0s").is_err());
        assert_eq!(parse_positive("1s"), Ok(1));
    }
}
