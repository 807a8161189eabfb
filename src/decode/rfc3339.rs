//! Event times written as RFC 3339 text (SPEC §1), read strictly: the
//! grammar of RFC 3339 §5.6 and nothing else of ISO 8601.

use super::{truncate, DecodeError};

/// RFC 3339 → epoch ms: `YYYY-MM-DD(T|t| )HH:MM:SS[.f+](Z|z|±hh:mm)`.
/// `T` may be a space (RFC 3339 §5.6's note), a leap second `:60` reads as
/// `:59`, and the fraction has any number of digits, truncated to
/// milliseconds. Anything else (ISO 8601's basic format, a missing second
/// or offset, an offset without its colon or past 23:59) is an error.
pub fn parse_rfc3339(s: &str) -> Result<i64, DecodeError> {
    strict_rfc3339(s.as_bytes()).ok_or_else(|| {
        DecodeError::InvalidTimestamp(format!("`{}` is not RFC 3339 with an offset", truncate(s)))
    })
}

fn strict_rfc3339(b: &[u8]) -> Option<i64> {
    fn num(b: &[u8]) -> Option<i64> {
        let mut n = 0i64;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + (c - b'0') as i64;
        }
        Some(n)
    }
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (h, mi, sec) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60
    {
        return None;
    }
    // A leap second is the last second of its minute.
    let sec = sec.min(59);
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                frac_ms = frac_ms * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits.min(3)..3 {
            frac_ms *= 10;
        }
    }
    let offset_s = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = num(&[*h1, *h2])?;
            let om = num(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset_s) * 1000 + frac_ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_jiff_on_rfc_3339() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59.5Z",
            "2024-12-31T12:00:00-08:00",
            "2026-03-29T01:59:59.999+14:00",
            "2100-03-01T00:00:00Z",
            "2026-11-02t10:00:00z",
            "2026-11-02 10:00:00-00:00",
            "2026-12-31T23:59:60Z",
            "2026-11-02T10:00:00.123456789+05:30",
        ] {
            let ours = strict_rfc3339(s.as_bytes()).unwrap();
            let jiff = s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
            assert_eq!(ours, jiff, "{s}");
        }
        assert_eq!(strict_rfc3339(b"2026-02-29T00:00:00Z"), None);
    }

    /// RFC 3339 puts no bound on the fraction's digits.
    #[test]
    fn a_long_fraction_is_truncated_to_milliseconds() {
        let ms = strict_rfc3339(b"2026-11-02T10:00:00Z").unwrap();
        for s in [
            "2026-11-02T10:00:00.1234567891Z",
            "2026-11-02T10:00:00.123999999999999Z",
        ] {
            assert_eq!(strict_rfc3339(s.as_bytes()), Some(ms + 123), "{s}");
        }
    }

    /// ISO 8601 forms outside RFC 3339 (which `jiff` accepts) are refused,
    /// and so is an offset of 24 hours.
    #[test]
    fn other_iso_8601_forms_are_refused() {
        for s in [
            "2026-11-02T10:00:00+24:00",
            "2026-11-02T10:00:00-24:00",
            "2026-11-02T10:00Z",
            "2026-11-02T10Z",
            "20261102T100000Z",
            "2026-11-02T1000Z",
            "2026-11-02T10:00:00+0100",
            "2026-11-02T10:00:00+01",
            "2026-11-02T10:00:00+01:00:00",
            "2026-11-02T10:00:00,5Z",
            "2026-11-02T10:00:00.Z",
            "2026-11-02T10:00:00",
            " 2026-11-02T10:00:00Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s}");
        }
    }
}
