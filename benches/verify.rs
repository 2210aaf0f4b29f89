//! Verification speed for 2 KB, 1 MB and 20 MB packets signed with the dev PKI (RSA-2048,
//! SHA-256, exclusive C14N): the whole trust pipeline (parse, signature, path, CRLs, binding)
//! and the signature alone. The signed packets are also written to target/bench-packets/ so
//! that benches/xmlsec_compare.py measures libxmlsec1 on the very same bytes.
//!
//!     cargo bench --bench verify
//!     python3 benches/xmlsec_compare.py

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use openssl::pkey::PKey;
use openssl::x509::X509;

use lienthong::dsig::{self, AlgorithmPolicy, SignOptions};
use lienthong::edxml::{self, MessagePacket, NonEmpty, OrganId, Organization};
use lienthong::pki::{Bindings, TrustStore, ValidationPolicy};
use lienthong::trust::{self, TrustPolicy};
use lienthong::xml::reader::Limits;

fn dev() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/dev")
}

/// A signed packet whose unsigned form is about `size` bytes (the attachment pads it).
fn signed_packet(size: usize) -> Vec<u8> {
    let org = |code: &str, name: &str| Organization::new(OrganId::parse(code).expect("code"), name);
    let mut letter = MessagePacket::new_document(
        org("000.00.00.G22", "Bộ Thử nghiệm Liên thông"),
        NonEmpty::from_vec(vec![
            org("000.00.00.H49", "Ủy ban nhân dân tỉnh Quảng Ninh"),
            org(
                "000.01.01.H49",
                "Sở Thông tin và Truyền thông tỉnh Quảng Ninh",
            ),
            org("000.00.00.H08", "Ủy ban nhân dân tỉnh thử nghiệm"),
        ])
        .expect("recipients"),
        "Về việc triển khai gửi, nhận văn bản điện tử giữa các cơ quan nhà nước",
    );
    let bare = edxml::write(&letter.clone().into()).expect("write").len();
    let payload = size.saturating_sub(bare + 600) * 3 / 4;
    // Pseudo-random bytes so that the base64 text looks like a real (compressed) file.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..payload.max(16))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    letter.attach("van-ban.pdf", "application/pdf", data);
    let unsigned = edxml::write(&letter.into()).expect("write");
    let key = PKey::private_key_from_pem(
        &std::fs::read(dev().join("agency-000.00.00.G22-rsa2048.key.pem")).expect("key"),
    )
    .expect("key");
    let cert = X509::from_pem(
        &std::fs::read(dev().join("agency-000.00.00.G22-rsa2048.pem")).expect("cert"),
    )
    .expect("cert");
    let chain =
        X509::stack_from_pem(&std::fs::read(dev().join("intermediates.pem")).expect("chain"))
            .expect("chain");
    dsig::sign(
        &unsigned,
        &key,
        &cert,
        &chain,
        &SignOptions::default(),
        Limits::default(),
    )
    .expect("sign")
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
    let policy = TrustPolicy {
        validation: ValidationPolicy::now(),
        ..TrustPolicy::now()
    };
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-packets");
    std::fs::create_dir_all(&out).expect("mkdir");

    let mut group = c.benchmark_group("verify");
    group.warm_up_time(Duration::from_secs(1));
    for (label, size) in [
        ("2KB", 2 * 1024),
        ("1MB", 1024 * 1024),
        ("20MB", 20 * 1024 * 1024),
    ] {
        let packet = signed_packet(size);
        std::fs::write(out.join(format!("{label}.xml")), &packet).expect("write packet");
        trust::verify_packet(&packet, &store, Some(&bindings), &policy)
            .expect("the bench packet verifies");
        group.throughput(Throughput::Bytes(packet.len() as u64));
        if size > 1024 * 1024 {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(8));
        } else {
            group
                .sample_size(50)
                .measurement_time(Duration::from_secs(4));
        }
        group.bench_with_input(
            BenchmarkId::new("trust_pipeline", label),
            &packet,
            |b, p| {
                b.iter(|| trust::verify_packet(p, &store, Some(&bindings), &policy).expect("valid"))
            },
        );
        group.bench_with_input(
            BenchmarkId::new("signature_only", label),
            &packet,
            |b, p| {
                b.iter(|| {
                    dsig::verify(p, &AlgorithmPolicy::profile(), Limits::default()).expect("valid")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
