//! `--key value` command lines, the only shape the bench programs take.

use std::collections::HashMap;
use std::str::FromStr;

/// Parsed `--key value` pairs plus positional words.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, Vec<String>>,
    positional: Vec<String>,
}

impl Args {
    /// The process's arguments, without the program name.
    pub fn from_env() -> crate::Result<Args> {
        Args::parse(std::env::args().skip(1))
    }

    /// Parses `args`; every `--key` must be followed by a value.
    pub fn parse(args: impl IntoIterator<Item = String>) -> crate::Result<Args> {
        let mut parsed = Args::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if let Some(key) = arg.strip_prefix("--") {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--{key} needs a value"))?;
                parsed.values.entry(key.to_owned()).or_default().push(value);
            } else {
                parsed.positional.push(arg);
            }
        }
        Ok(parsed)
    }

    /// The positional words, in order.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// The last value of `--key`, parsed, or `None` when absent.
    pub fn get<T: FromStr>(&self, key: &str) -> crate::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(key).and_then(|values| values.last()) {
            None => Ok(None),
            Some(value) => value
                .parse()
                .map(Some)
                .map_err(|error| format!("--{key} {value:?}: {error}").into()),
        }
    }

    /// The value of `--key`, which must be present.
    pub fn required<T: FromStr>(&self, key: &str) -> crate::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key)?
            .ok_or_else(|| format!("--{key} is required").into())
    }

    /// Every value given for `--key`, in order.
    pub fn all(&self, key: &str) -> &[String] {
        self.values.get(key).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Args {
        Args::parse(words.iter().map(|word| word.to_string())).unwrap()
    }

    #[test]
    fn keys_values_and_positionals() {
        let args = parse(&["image", "--size", "12", "--header", "a", "--header", "b"]);
        assert_eq!(args.positional(), ["image"]);
        assert_eq!(args.required::<u64>("size").unwrap(), 12);
        assert_eq!(args.all("header"), ["a", "b"]);
        assert_eq!(args.get::<u64>("missing").unwrap(), None);
    }

    #[test]
    fn a_key_without_value_or_a_bad_number_is_an_error() {
        assert!(Args::parse(["--size".to_string()]).is_err());
        assert!(parse(&["--size", "x"]).required::<u64>("size").is_err());
        assert!(parse(&[]).required::<u64>("size").is_err());
    }
}
