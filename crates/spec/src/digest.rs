//! Content digests: parsing, computing and streaming verification.
//!
//! Source: OCI image-spec v1.1, "Descriptors" → "Digests": a digest is `algorithm:encoded`
//! matching [`DIGEST_REGEX`]; the registered algorithms are `sha256` (64 lowercase hex
//! characters) and `sha512` (128 lowercase hex characters). Implementations must reject
//! uppercase hex for these algorithms.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// The anchored digest expression of the image-spec ("Digests").
pub static DIGEST_REGEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
        .expect("digest expression compiles")
});

/// A registered digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256, the default and the one every registry supports.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as it appears in a digest (`sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded hash.
    pub fn encoded_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a usable digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The string does not match [`DIGEST_REGEX`].
    #[error("invalid digest {digest:?}: it must look like `algorithm:encoded`")]
    Malformed {
        /// The rejected input.
        digest: String,
    },
    /// The algorithm is well-formed but not one this crate can verify.
    #[error("unsupported digest algorithm {algorithm:?} in {digest:?} (supported: sha256, sha512)")]
    UnsupportedAlgorithm {
        /// The algorithm part.
        algorithm: String,
        /// The whole rejected input.
        digest: String,
    },
    /// The encoded part is not lowercase hex of the algorithm's length.
    #[error(
        "invalid {algorithm} digest {digest:?}: expected {expected_len} lowercase hex characters"
    )]
    InvalidEncoding {
        /// The algorithm.
        algorithm: Algorithm,
        /// The whole rejected input.
        digest: String,
        /// The length the algorithm requires.
        expected_len: usize,
    },
}

/// A validated content digest such as `sha256:e3b0…b855`.
///
/// ```
/// use ocipull_spec::{Algorithm, Digest};
/// let d = Digest::sha256(b"");
/// assert_eq!(d.algorithm(), Algorithm::Sha256);
/// assert_eq!(d.to_string().parse::<Digest>()?, d);
/// assert!("sha256:E3B0".parse::<Digest>().is_err());
/// # Ok::<(), ocipull_spec::DigestError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    text: String,
    algorithm: Algorithm,
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Self::compute(Algorithm::Sha256, bytes)
    }

    /// The SHA-512 digest of `bytes`.
    pub fn sha512(bytes: &[u8]) -> Digest {
        Self::compute(Algorithm::Sha512, bytes)
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn compute(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded hash, after the colon.
    pub fn encoded(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The whole digest as a string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A verifier that checks a stream of bytes against this digest.
    pub fn verifier(&self) -> DigestVerifier {
        DigestVerifier::new(self.clone())
    }

    fn parse(s: &str) -> Result<Digest, DigestError> {
        if !DIGEST_REGEX.is_match(s) {
            return Err(DigestError::Malformed {
                digest: s.to_owned(),
            });
        }
        let (alg, enc) = s.split_once(':').expect("the expression requires a colon");
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => {
                return Err(DigestError::UnsupportedAlgorithm {
                    algorithm: alg.to_owned(),
                    digest: s.to_owned(),
                });
            }
        };
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if enc.len() != algorithm.encoded_len() || !enc.bytes().all(lower_hex) {
            return Err(DigestError::InvalidEncoding {
                algorithm,
                digest: s.to_owned(),
                expected_len: algorithm.encoded_len(),
            });
        }
        Ok(Digest {
            text: s.to_owned(),
            algorithm,
        })
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Digest::parse(&s)
    }
}

impl TryFrom<&str> for Digest {
    type Error = DigestError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Digest::parse(s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.text
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

/// An incremental hash for one [`Algorithm`].
///
/// `sha2` picks the fastest implementation the CPU offers (SHA-NI on x86-64) at run time.
#[derive(Clone)]
pub struct Hasher(HasherState);

#[derive(Clone)]
enum HasherState {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        Hasher(match algorithm {
            Algorithm::Sha256 => HasherState::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => HasherState::Sha512(sha2::Sha512::new()),
        })
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HasherState::Sha256(h) => h.update(bytes),
            HasherState::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, raw): (Algorithm, Vec<u8>) = match self.0 {
            HasherState::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            HasherState::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        let mut text = String::with_capacity(algorithm.as_str().len() + 1 + raw.len() * 2);
        text.push_str(algorithm.as_str());
        text.push(':');
        for b in raw {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            text.push(HEX[(b >> 4) as usize] as char);
            text.push(HEX[(b & 15) as usize] as char);
        }
        Digest { text, algorithm }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = match self.0 {
            HasherState::Sha256(_) => Algorithm::Sha256,
            HasherState::Sha512(_) => Algorithm::Sha512,
        };
        f.debug_tuple("Hasher").field(&alg).finish()
    }
}

/// Content did not hash to the digest it was expected to have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest mismatch: expected {expected}, got {actual}")]
pub struct DigestMismatch {
    /// The digest the content should have had.
    pub expected: Digest,
    /// The digest it had.
    pub actual: Digest,
}

/// Checks streamed content against an expected digest without holding the content.
///
/// ```
/// use ocipull_spec::Digest;
/// let expected = Digest::sha256(b"hello world");
/// let mut v = expected.verifier();
/// v.update(b"hello ");
/// v.update(b"world");
/// assert!(v.finish().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct DigestVerifier {
    expected: Digest,
    hasher: Hasher,
    len: u64,
}

impl DigestVerifier {
    /// A verifier for `expected`.
    pub fn new(expected: Digest) -> DigestVerifier {
        DigestVerifier {
            hasher: Hasher::new(expected.algorithm()),
            expected,
            len: 0,
        }
    }

    /// Feeds the next bytes of the content.
    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        self.hasher.update(bytes);
    }

    /// How many bytes were fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no bytes were fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest being checked for.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// Ends the stream: `Ok` when the content hashed to the expected digest.
    pub fn finish(self) -> Result<(), DigestMismatch> {
        let actual = self.hasher.finish();
        if actual == self.expected {
            Ok(())
        } else {
            Err(DigestMismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_values() {
        assert_eq!(Digest::sha256(b"").as_str(), EMPTY);
        assert_eq!(Digest::sha512(b"").encoded().len(), 128);
        assert_eq!(Digest::sha256(b"").encoded(), &EMPTY[7..]);
    }

    #[test]
    fn rejections() {
        assert!(matches!(
            EMPTY
                .to_uppercase()
                .replace("SHA256", "sha256")
                .parse::<Digest>(),
            Err(DigestError::InvalidEncoding { .. })
        ));
        assert!(matches!(
            "sha256:abc".parse::<Digest>(),
            Err(DigestError::InvalidEncoding { .. })
        ));
        assert!(matches!(
            format!("sha384:{}", "a".repeat(96)).parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
        for bad in [
            "",
            "sha256",
            ":abc",
            "sha256:",
            "SHA256:aa",
            "sha256:totally wrong",
            "a+:b",
        ] {
            assert!(
                matches!(bad.parse::<Digest>(), Err(DigestError::Malformed { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            "sha256:totallywrong".parse::<Digest>(),
            Err(DigestError::InvalidEncoding { .. })
        ));
        assert!(matches!(
            format!("sha512:{}", "a".repeat(64)).parse::<Digest>(),
            Err(DigestError::InvalidEncoding { .. })
        ));
    }

    #[test]
    fn verifier_reports_mismatch() {
        let d = Digest::sha256(b"abc");
        let mut v = d.verifier();
        v.update(b"abd");
        let err = v.finish().unwrap_err();
        assert_eq!(err.expected, d);
        assert_eq!(err.actual, Digest::sha256(b"abd"));
        let d512 = Digest::sha512(b"abc");
        let mut v = d512.verifier();
        v.update(b"a");
        v.update(b"bc");
        assert_eq!(v.len(), 3);
        v.finish().unwrap();
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<Digest>("\"sha256:nothex\"").is_err());
        let d: Digest = serde_json::from_str(&format!("\"{EMPTY}\"")).unwrap();
        assert_eq!(d.as_str(), EMPTY);
    }
}
