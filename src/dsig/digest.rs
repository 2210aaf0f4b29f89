//! The running digest of a canonicalized packet, fed by the canonicalizer as it writes.
//!
//! OpenSSL's SHA functions are called directly rather than through an EVP context: the EVP
//! route fetches the algorithm from the provider store (taking its locks) for every packet,
//! which costs about as much as hashing a small packet. The hash itself is the same code.

use std::io;

use openssl::sha::{Sha1, Sha256, Sha384, Sha512};

use super::DigestAlgorithm;

/// A digest being computed.
pub(crate) enum RunningDigest {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl RunningDigest {
    pub(crate) fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha1 => RunningDigest::Sha1(Sha1::new()),
            DigestAlgorithm::Sha256 => RunningDigest::Sha256(Sha256::new()),
            DigestAlgorithm::Sha384 => RunningDigest::Sha384(Sha384::new()),
            DigestAlgorithm::Sha512 => RunningDigest::Sha512(Sha512::new()),
        }
    }

    /// The digest of `bytes` at once.
    pub(crate) fn of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Vec<u8> {
        let mut running = RunningDigest::new(algorithm);
        running.update(bytes);
        running.finish()
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            RunningDigest::Sha1(h) => h.update(bytes),
            RunningDigest::Sha256(h) => h.update(bytes),
            RunningDigest::Sha384(h) => h.update(bytes),
            RunningDigest::Sha512(h) => h.update(bytes),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            RunningDigest::Sha1(h) => h.finish().to_vec(),
            RunningDigest::Sha256(h) => h.finish().to_vec(),
            RunningDigest::Sha384(h) => h.finish().to_vec(),
            RunningDigest::Sha512(h) => h.finish().to_vec(),
        }
    }
}

impl io::Write for RunningDigest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use openssl::hash::{hash, MessageDigest};

    use super::*;

    #[test]
    fn each_algorithm_matches_the_evp_digest_of_the_same_bytes_written_in_pieces() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            let mut running = RunningDigest::new(algorithm);
            for piece in data.chunks(777) {
                running.write_all(piece).unwrap();
            }
            let expected = hash(algorithm.message_digest(), &data).unwrap();
            assert_eq!(running.finish(), expected.to_vec(), "{algorithm:?}");
        }
        let empty = RunningDigest::new(DigestAlgorithm::Sha256).finish();
        assert_eq!(empty, hash(MessageDigest::sha256(), b"").unwrap().to_vec());
    }
}
