//! The few fields of an X.509 certificate that stampede reads itself: its version, its
//! validity dates and its public key. webpki (under rustls) parses only v3 certificates
//! and keeps the dates to itself; these are what a certificate the user gave is checked
//! against (`tls`), and how a v1 client certificate is matched to its key.
//! A minimal DER reader: anything it does not understand is `None`, never a panic.
//! Depends on nothing else in the crate.

/// What `read` found in a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields<'a> {
    /// 1, 2 or 3 (X.509 v1 has no version field).
    pub version: u8,
    /// Valid from (seconds since the Unix epoch, UTC).
    pub not_before: i64,
    /// Valid until (seconds since the Unix epoch, UTC).
    pub not_after: i64,
    /// The subjectPublicKeyInfo, as DER (the whole SEQUENCE).
    pub public_key: &'a [u8],
}

/// The fields of the DER certificate `der`, or `None` if it is not one.
pub fn read(der: &[u8]) -> Option<Fields<'_>> {
    let (cert, _) = expect(der, 0x30)?;
    let (tbs, _) = expect(cert, 0x30)?;
    let (version, rest) = match element(tbs)? {
        (0xA0, explicit, _, rest) => {
            let (number, _) = expect(explicit, 0x02)?;
            (number.last()?.checked_add(1)?, rest)
        }
        _ => (1, tbs),
    };
    let (_serial, rest) = expect(rest, 0x02)?;
    let (_algorithm, rest) = expect(rest, 0x30)?;
    let (_issuer, rest) = expect(rest, 0x30)?;
    let (validity, rest) = expect(rest, 0x30)?;
    let (not_before, after) = time(validity)?;
    let (not_after, _) = time(after)?;
    let (_subject, rest) = expect(rest, 0x30)?;
    let (0x30, _, public_key, _) = element(rest)? else {
        return None;
    };
    Some(Fields {
        version,
        not_before,
        not_after,
        public_key,
    })
}

/// One DER element: (tag, contents, the whole element, what follows it).
type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// The DER element at the start of `input`.
fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &rest[..len], &input[..header + len], &rest[len..]))
}

/// The element at the start of `input` if its tag is `tag`: (contents, what follows).
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, _, rest) = element(input)?;
    (found == tag).then_some((contents, rest))
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as Unix seconds.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, text, _, rest) = element(input)?;
    let digits = text.strip_suffix(b"Z")?;
    let number = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest_digits) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy = number(&digits[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (0x18, 14) => (number(&digits[..4])?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| number(&rest_digits[i..i + 2]);
    let days = days_from_civil(year, field(0)?, field(2)?)?;
    let seconds = field(4)? * 3600 + field(6)? * 60 + field(8)?;
    Some((days * 86_400 + seconds, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `2026-11-03 12:00:00 UTC`, for messages.
pub fn date(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0).unsigned_abs());
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} UTC", text.trim_end_matches('Z').replace('T', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_unix_seconds() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        let utc = [
            0x17, 13, b'2', b'4', b'0', b'2', b'2', b'9', b'1', b'2', b'0', b'0', b'0', b'1', b'Z',
        ];
        assert_eq!(time(&utc).map(|t| t.0), Some(1_709_208_001));
        let generalized = b"\x18\x0f20500101000000Z";
        assert_eq!(time(generalized).map(|t| t.0), Some(2_524_608_000));
        assert_eq!(date(1_709_208_001), "2024-02-29 12:00:01 UTC");
    }

    #[test]
    fn a_certificate_gives_its_version_dates_and_key() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2020, 1, 2);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let fields = read(cert.der()).expect("fields");
        assert_eq!(fields.version, 3);
        assert_eq!(date(fields.not_before), "2020-01-02 00:00:00 UTC");
        assert_eq!(date(fields.not_after), "2049-12-31 00:00:00 UTC");
        use rcgen::PublicKeyData;
        assert_eq!(fields.public_key, key.subject_public_key_info().as_slice());
    }

    #[test]
    fn what_is_not_a_certificate_is_none() {
        assert_eq!(read(b""), None);
        assert_eq!(read(b"\x30\x84\xff\xff\xff\xff"), None);
        assert_eq!(read(b"\x30\x03\x30\x01"), None);
        assert_eq!(time(b"\x17\x0d2402291200ZZZ"), None);
    }
}
