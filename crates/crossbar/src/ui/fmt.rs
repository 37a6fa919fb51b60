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
    }
}
