//! The government PKI: trust anchors, chain building, revocation, certificate ↔ agency binding.
