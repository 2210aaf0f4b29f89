//! The algorithms the profile knows (by their XML-DSig URIs) and the policy that decides which
//! of them a deployment accepts.

use openssl::hash::MessageDigest;
use openssl::pkey::Id;

/// URI of the enveloped-signature transform.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// A digest for the Reference (DigestMethod) or inside the signature method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => DigestAlgorithm::Sha1,
            "http://www.w3.org/2001/04/xmlenc#sha256" => DigestAlgorithm::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => DigestAlgorithm::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512" => DigestAlgorithm::Sha512,
            _ => return None,
        })
    }

    pub fn uri(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
            DigestAlgorithm::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            DigestAlgorithm::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            DigestAlgorithm::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    pub fn message_digest(self) -> MessageDigest {
        match self {
            DigestAlgorithm::Sha1 => MessageDigest::sha1(),
            DigestAlgorithm::Sha256 => MessageDigest::sha256(),
            DigestAlgorithm::Sha384 => MessageDigest::sha384(),
            DigestAlgorithm::Sha512 => MessageDigest::sha512(),
        }
    }
}

/// The public-key family of a signature method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFamily {
    Rsa,
    Ecdsa,
}

impl KeyFamily {
    /// The family of an openssl key, if it is one the profile signs with.
    pub fn of(id: Id) -> Option<Self> {
        match id {
            Id::RSA => Some(KeyFamily::Rsa),
            Id::EC => Some(KeyFamily::Ecdsa),
            _ => None,
        }
    }
}

/// A SignatureMethod: RSA PKCS#1 v1.5 or ECDSA, with a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SignatureAlgorithm {
    pub family: KeyFamily,
    pub digest: DigestAlgorithm,
}

impl SignatureAlgorithm {
    const TABLE: [(&'static str, KeyFamily, DigestAlgorithm); 8] = [
        (
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            KeyFamily::Rsa,
            DigestAlgorithm::Sha1,
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            KeyFamily::Rsa,
            DigestAlgorithm::Sha256,
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            KeyFamily::Rsa,
            DigestAlgorithm::Sha384,
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            KeyFamily::Rsa,
            DigestAlgorithm::Sha512,
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
            KeyFamily::Ecdsa,
            DigestAlgorithm::Sha1,
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            KeyFamily::Ecdsa,
            DigestAlgorithm::Sha256,
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
            KeyFamily::Ecdsa,
            DigestAlgorithm::Sha384,
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
            KeyFamily::Ecdsa,
            DigestAlgorithm::Sha512,
        ),
    ];

    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::TABLE
            .iter()
            .find(|(u, _, _)| *u == uri)
            .map(|&(_, family, digest)| SignatureAlgorithm { family, digest })
    }

    pub fn uri(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(_, f, d)| *f == self.family && *d == self.digest)
            .map(|(u, _, _)| *u)
            .unwrap_or("")
    }
}

/// What a deployment accepts. The default is the profile: SHA-2 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// Accept SHA-1 digests and signatures (rsa-sha1 as in the national SDK's example).
    /// Off by default; a packet accepted under it is marked as such in its evidence.
    pub allow_sha1: bool,
    /// Smallest RSA modulus accepted, in bits (2048 unless configured).
    pub min_rsa_bits: u32,
}

impl Default for AlgorithmPolicy {
    fn default() -> Self {
        Self::profile()
    }
}

impl AlgorithmPolicy {
    pub fn profile() -> Self {
        AlgorithmPolicy {
            allow_sha1: false,
            min_rsa_bits: 2048,
        }
    }

    /// Whether the policy permits this digest.
    pub fn permits(&self, digest: DigestAlgorithm) -> bool {
        digest != DigestAlgorithm::Sha1 || self.allow_sha1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for (uri, _, _) in SignatureAlgorithm::TABLE {
            assert_eq!(SignatureAlgorithm::from_uri(uri).unwrap().uri(), uri);
        }
        for d in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            assert_eq!(DigestAlgorithm::from_uri(d.uri()), Some(d));
        }
        assert_eq!(
            DigestAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#md5"),
            None
        );
    }

    #[test]
    fn sha1_needs_the_legacy_switch() {
        assert!(!AlgorithmPolicy::profile().permits(DigestAlgorithm::Sha1));
        assert!(AlgorithmPolicy::profile().permits(DigestAlgorithm::Sha256));
        let legacy = AlgorithmPolicy {
            allow_sha1: true,
            ..AlgorithmPolicy::profile()
        };
        assert!(legacy.permits(DigestAlgorithm::Sha1));
    }
}
