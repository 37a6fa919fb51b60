//! Numbers with units for the dashboard: $, k/M tokens, ms/s, %, UTC times.

/// `12`, `12.3k`, `4.56M`.
pub fn tokens(n: i64) -> String {
    let a = n.unsigned_abs() as f64;
    if a >= 1e9 {
        format!("{:.2}B", n as f64 / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", n as f64 / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

pub fn opt_tokens(n: Option<i64>) -> String {
    n.map_or_else(|| "–".to_string(), tokens)
}

/// `$0`, `$0.0042`, `$1.23`, `$1,234.50`.
pub fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v.abs() < 0.0001 {
        format!("${v:.6}")
    } else if v.abs() < 0.01 {
        format!("${v:.4}")
    } else if v.abs() < 1000.0 {
        format!("${v:.2}")
    } else {
        let whole = v.trunc() as i64;
        let cents = ((v.fract().abs()) * 100.0).round() as i64;
        format!("${}.{cents:02}", thousands(whole))
    }
}

pub fn opt_usd(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), usd)
}

fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let digits: Vec<char> = s.chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(|g| g.iter().collect()).collect();
    let out = groups.join(",");
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `850 ms`, `1.25 s`.
pub fn ms(v: i64) -> String {
    if v.abs() >= 10_000 {
        format!("{:.1} s", v as f64 / 1000.0)
    } else if v.abs() >= 1000 {
        format!("{:.2} s", v as f64 / 1000.0)
    } else {
        format!("{v} ms")
    }
}

pub fn opt_ms(v: Option<i64>) -> String {
    v.map_or_else(|| "–".to_string(), ms)
}

/// `12.5 %`; `None` is "unknown".
/// A size: bytes below 1 KiB, else KiB with one decimal.
pub fn bytes(n: i64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "unknown".to_string(), |v| format!("{:.1} %", v * 100.0))
}

/// unix ms → `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(60);
    format!("{}:{secs:02}", crate::limits::period::format(ms))
}

/// unix ms → `YYYY-MM-DD` UTC.
pub fn date(ms: i64) -> String {
    crate::limits::period::format(ms).chars().take(10).collect()
}

/// A length of time, coarse: `12 s`, `5 min`, `2 h 10 min`, `3 d 4 h`.
pub fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 if secs % 3600 >= 60 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ if secs % 86_400 >= 3600 => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
        _ => format!("{} d", secs / 86_400),
    }
}

/// `read 12 s ago` style: how long before `now` (both unix seconds) `then` was.
pub fn ago(then: u64, now: u64) -> String {
    format!("{} ago", span(now.saturating_sub(then)))
}

/// unix seconds in the future → `in 2 h 10 min (2026-01-01 14:30 UTC)`.
pub fn until(then: u64, now: u64) -> String {
    let at = crate::limits::period::format(then.saturating_mul(1000).min(i64::MAX as u64) as i64);
    if then <= now {
        format!("passed ({at} UTC)")
    } else {
        format!("in {} ({at} UTC)", span(then - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(tokens(999), "999");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(4_560_000), "4.56M");
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(0.00421), "$0.0042");
        assert_eq!(usd(0.0000123), "$0.000012");
        assert_eq!(usd(1.234), "$1.23");
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(1_234_567.0), "$1,234,567.00");
        assert_eq!(ms(850), "850 ms");
        assert_eq!(ms(1250), "1.25 s");
        assert_eq!(pct(None), "unknown");
        assert_eq!(pct(Some(0.125)), "12.5 %");
        assert_eq!(time(86_400_000 + 61_000), "1970-01-02 00:01:01");
        assert_eq!(date(86_400_000), "1970-01-02");
        assert_eq!(span(12), "12 s");
        assert_eq!(span(300), "5 min");
        assert_eq!(span(3 * 3600), "3 h");
        assert_eq!(span(2 * 3600 + 600), "2 h 10 min");
        assert_eq!(span(3 * 86_400 + 4 * 3600 + 5), "3 d 4 h");
        assert_eq!(ago(100, 112), "12 s ago");
        assert_eq!(ago(200, 100), "0 s ago");
        assert_eq!(until(86_400 + 3600, 86_400), "in 1 h (1970-01-02 01:00 UTC)");
        assert_eq!(until(5, 10), "passed (1970-01-01 00:00 UTC)");
        let _ = until(u64::MAX, 0);
    }
}
