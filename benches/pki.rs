//! Cost of the PKI part of verification for a signer seen before: `TrustStore::validate` (path,
//! key usage, both CRLs) plus `Bindings::check`, with the committed dev PKI (root RSA-4096,
//! issuing CA RSA-3072) and the G22 agency's RSA-2048 and P-256 certificates.
//!
//! `same/*` validates the very same `X509` objects every time; `fresh/*` gives each iteration
//! new objects decoded from the same DER, as `trust::verify_packet` does for every packet (the
//! decoding and freeing are set-up, not measured). `presented` adds the issuing CA as a certificate
//! that came with the signature, as the signed packets carry it.
//!
//!     cargo bench --bench pki

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use openssl::x509::X509;

use lienthong::pki::{Bindings, TrustStore, ValidationPolicy};

const AGENCY: &str = "000.00.00.G22";

fn dev() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev")
}

fn der(name: &str) -> Vec<u8> {
    let pem = std::fs::read(dev().join(name)).expect("certificate file");
    X509::from_pem(&pem)
        .expect("PEM certificate")
        .to_der()
        .expect("DER")
}

fn decode(der: &[u8]) -> X509 {
    X509::from_der(der).expect("DER certificate")
}

fn bench(c: &mut Criterion) {
    let store = TrustStore::from_pem_files(
        &[dev().join("trust.pem")],
        &[dev().join("intermediates.pem")],
        &[
            dev().join("root-ca.crl.pem"),
            dev().join("issuing-ca.crl.pem"),
        ],
    )
    .expect("trust store");
    let bindings = Bindings::load(&dev().join("bindings.json")).expect("bindings");
    let policy = ValidationPolicy::now();
    let issuing = der("issuing-ca.pem");

    let check = |leaf: &X509, presented: &[X509]| {
        store.validate(leaf, presented, &policy).expect("valid");
        bindings.check(AGENCY, leaf).expect("bound");
    };

    let mut group = c.benchmark_group("pki");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    for (label, file) in [
        ("rsa2048", "agency-000.00.00.G22-rsa2048.pem"),
        ("p256", "agency-000.00.00.G22-p256.pem"),
    ] {
        let leaf_der = der(file);
        let leaf = decode(&leaf_der);
        let presented = vec![decode(&issuing)];
        check(&leaf, &[]);

        group.bench_function(BenchmarkId::new("same", label), |b| {
            b.iter(|| check(&leaf, &[]))
        });
        group.bench_function(BenchmarkId::new("same_presented", label), |b| {
            b.iter(|| check(&leaf, &presented))
        });
        group.bench_function(BenchmarkId::new("fresh_presented", label), |b| {
            b.iter_batched_ref(
                || (decode(&leaf_der), vec![decode(&issuing)]),
                |(leaf, presented)| check(leaf, presented),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
