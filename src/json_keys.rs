//! JSON from callers with each object's keys said once. serde_json keeps the last
//! of a repeated key, and a parser elsewhere (a partner's, a log reader's) may keep
//! the first: the same bytes would mean two things. RFC 8259 §4 says names SHOULD be
//! unique, RFC 7515 §4 that a JWS with repeated header names MUST be refused.

use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// `Err` with the repeated key's path if any object in `bytes` repeats a key;
/// `Ok` for anything else, including JSON that is not well formed (its own parse
/// says what is wrong).
pub fn repeated_key(bytes: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match Walk::default().deserialize(&mut de) {
        Err(e) if e.is_data() => Err(e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_owned()),
        _ => Ok(()),
    }
}

/// How deep the walk goes; deeper JSON is left to serde_json's own limit (128).
#[derive(Default, Clone, Copy)]
struct Walk {
    depth: u16,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = Walk {
            depth: self.depth + 1,
        };
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = Walk {
            depth: self.depth + 1,
        };
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                // The key itself is caller text: not repeated back.
                return Err(A::Error::custom("an object repeats a key"));
            }
            if self.depth < 64 {
                map.next_value_seed(inner)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::repeated_key;

    #[test]
    fn a_repeated_key_anywhere_is_found() {
        let cases = [
            (r#"{"a":1,"b":2}"#, true),
            (r#"{"a":1,"a":2}"#, false),
            (r#"{"x":[{"a":1},{"a":2}]}"#, true),
            (r#"{"x":[{"a":1,"a":2}]}"#, false),
            (r#"{"x":{"y":{"z":1,"z":1}}}"#, false),
            (r#"[1,"a",null,true,1.5]"#, true),
            (r#"{"a":"#, true),
        ];
        for (json, ok) in cases {
            assert_eq!(repeated_key(json.as_bytes()).is_ok(), ok, "{json}");
        }
    }
}
