//! XML-DSig (enveloped, whole-document) verification and signing, and the algorithm policy.
