#!/usr/bin/env bash
# Makes the DEV/TEST PKI under certs/dev/ (wiped first). Every private key it writes is public
# test material: never trust this root anywhere but in lienthong's own tests and dev runs.
#
# Shape: a root in the style of the Government Cipher Committee's specialised root CA, one issuing
# CA under it, agency ("tổ chức") certificates, the bad cases the PKI tests need, CRLs (current and
# stale), and the bundles the server reads (trust.pem, intermediates.pem, bindings.json).
# Dates are fixed (not "now + n days") so that tests run at a fixed time never rot.
# Needs bash and the openssl CLI >= 3.0 (for -crl_lastupdate/-crl_nextupdate). See certs/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/dev"

case "$(openssl version)" in
  "OpenSSL 3."*) ;;
  *) echo "make-dev-pki.sh: needs OpenSSL 3.x, found: $(openssl version)" >&2; exit 1 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# openssl.cnf reads $ENV::CA_DIR; each CA command sets its own, this is only so `req` can load the file.
export CA_DIR="$work"

rm -rf "$out"
mkdir -p "$out"

# Placeholder URLs on the loopback address: nothing listens there unless a test starts a server.
ROOT_CRL_URL="http://127.0.0.1:8080/pki/dev-root-ca.crl"
ISSUING_CRL_URL="http://127.0.0.1:8080/pki/dev-issuing-ca.crl"
ISSUING_CERT_URL="http://127.0.0.1:8080/pki/dev-issuing-ca.cer"
OCSP_URL="http://127.0.0.1:8081/ocsp"

cat >"$work/openssl.cnf" <<CNF
[ ca ]
default_ca = ca_default

[ ca_default ]
dir             = \$ENV::CA_DIR
database        = \$dir/index.txt
new_certs_dir   = \$dir/newcerts
certificate     = \$dir/ca.pem
private_key     = \$dir/ca.key.pem
crlnumber       = \$dir/crlnumber
serial          = \$dir/serial
default_md      = sha256
policy          = policy_any
email_in_dn     = no
preserve        = yes
unique_subject  = no
copy_extensions = none
string_mask     = utf8only
utf8            = yes

[ policy_any ]
countryName            = optional
stateOrProvinceName    = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes
prompt             = no

[ req_dn ]
CN = placeholder (every request passes -subj)

[ v3_root ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ v3_issuing ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:$ROOT_CRL_URL

[ v3_agency ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:$ISSUING_CRL_URL
authorityInfoAccess    = OCSP;URI:$OCSP_URL, caIssuers;URI:$ISSUING_CERT_URL

[ v3_no_signing_usage ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, keyEncipherment
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:$ISSUING_CRL_URL

[ v3_no_key_usage ]
basicConstraints       = critical, CA:FALSE
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:$ISSUING_CRL_URL

[ v3_ca_as_leaf ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, digitalSignature, nonRepudiation, keyCertSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:$ISSUING_CRL_URL

[ v3_foreign_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:$ISSUING_CRL_URL

[ crl_ext ]
authorityKeyIdentifier = keyid:always

# CRLs that must NOT vouch for an agency certificate: a delta CRL, one limited to CA
# certificates, and one for another distribution point (a partitioned CRL).
[ crl_ext_delta ]
authorityKeyIdentifier   = keyid:always
# deltaCRLIndicator (2.5.29.27) = BaseCRLNumber 1; openssl has no text syntax for it.
2.5.29.27                = critical, DER:02:01:01

[ crl_ext_ca_only ]
authorityKeyIdentifier   = keyid:always
issuingDistributionPoint = critical, @idp_ca_only

[ idp_ca_only ]
onlyCA = TRUE

[ crl_ext_other_partition ]
authorityKeyIdentifier   = keyid:always
issuingDistributionPoint = critical, @idp_other_partition

[ idp_other_partition ]
fullname = URI:http://127.0.0.1:8080/pki/dev-issuing-ca-part2.crl
CNF

# quiet CMD… — runs CMD, showing its chatter only when it fails.
quiet() {
  if ! "$@" >"$work/last.log" 2>&1; then
    cat "$work/last.log" >&2
    echo "make-dev-pki.sh: failed: $*" >&2
    exit 1
  fi
}

# keygen OUT SPEC — SPEC is rsa2048 | rsa3072 | rsa4096 | p256 | p384
keygen() {
  local out_key="$1" spec="$2"
  case "$spec" in
    rsa*) openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:${spec#rsa}" -out "$out_key" ;;
    p256) openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$out_key" ;;
    p384) openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve -out "$out_key" ;;
    *) echo "keygen: unknown key spec $spec" >&2; exit 1 ;;
  esac
}

# ca_dir NAME — a private openssl-ca database (index, CRL number) for one CA.
ca_dir() {
  local dir="$work/ca-$1"
  mkdir -p "$dir/newcerts"
  : >"$dir/index.txt"
  echo "unique_subject = no" >"$dir/index.txt.attr"
  echo 01 >"$dir/crlnumber"
  echo "$dir"
}

# csr NAME SUBJECT KEYSPEC — key to $out/NAME.key.pem, request to $work/NAME.csr
csr() {
  local name="$1" subject="$2" spec="$3"
  keygen "$out/$name.key.pem" "$spec"
  openssl req -new -utf8 -config "$work/openssl.cnf" -key "$out/$name.key.pem" \
    -subj "$subject" -out "$work/$name.csr"
}

# self_signed_ca NAME SUBJECT KEYSPEC START END — a root, through `openssl ca -selfsign` so the dates are exact.
self_signed_ca() {
  local name="$1" subject="$2" spec="$3" start="$4" end="$5" dir
  dir="$(ca_dir "$name")"
  csr "$name" "$subject" "$spec"
  CA_DIR="$dir" quiet openssl ca -batch -notext -utf8 -config "$work/openssl.cnf" -selfsign \
    -keyfile "$out/$name.key.pem" -extensions v3_root -rand_serial \
    -startdate "$start" -enddate "$end" -in "$work/$name.csr" -out "$out/$name.pem"
  cp "$out/$name.pem" "$dir/ca.pem"
  cp "$out/$name.key.pem" "$dir/ca.key.pem"
}

# issue CA NAME SUBJECT KEYSPEC EXTENSIONS START END
issue() {
  local ca="$1" name="$2" subject="$3" spec="$4" ext="$5" start="$6" end="$7"
  csr "$name" "$subject" "$spec"
  CA_DIR="$work/ca-$ca" quiet openssl ca -batch -notext -utf8 -config "$work/openssl.cnf" \
    -extensions "$ext" -rand_serial -startdate "$start" -enddate "$end" \
    -in "$work/$name.csr" -out "$out/$name.pem"
}

# sub_ca PARENT NAME SUBJECT KEYSPEC START END — an issuing CA with its own database.
sub_ca() {
  local parent="$1" name="$2" subject="$3" spec="$4" start="$5" end="$6" dir
  issue "$parent" "$name" "$subject" "$spec" v3_issuing "$start" "$end"
  dir="$(ca_dir "$name")"
  cp "$out/$name.pem" "$dir/ca.pem"
  cp "$out/$name.key.pem" "$dir/ca.key.pem"
}

# crl CA OUT LAST NEXT [EXTENSIONS] — a PEM CRL with exact thisUpdate/nextUpdate.
crl() {
  local ca="$1" file="$2" last="$3" next="$4" exts="${5:-crl_ext}"
  CA_DIR="$work/ca-$ca" quiet openssl ca -batch -config "$work/openssl.cnf" -gencrl -crlexts "$exts" \
    -crl_lastupdate "$last" -crl_nextupdate "$next" -out "$out/$file"
}

# revoke CA NAME DATE — revoke with reason keyCompromise, then pin the revocation date.
# `openssl ca -revoke` always records "now"; the fixed date is written into its text database
# (field 3 of index.txt) so that tests at a fixed time do not depend on when this script ran.
revoke() {
  local ca="$1" name="$2" date="$3" dir serial
  dir="$work/ca-$ca"
  CA_DIR="$dir" quiet openssl ca -batch -config "$work/openssl.cnf" -revoke "$out/$name.pem" \
    -crl_reason keyCompromise
  serial="$(openssl x509 -in "$out/$name.pem" -noout -serial | cut -d= -f2)"
  awk -F'\t' -v OFS='\t' -v s="$serial" -v d="$date" \
    '$1 == "R" && toupper($4) == toupper(s) { $3 = d ",keyCompromise" } { print }' \
    "$dir/index.txt" >"$dir/index.txt.new"
  mv "$dir/index.txt.new" "$dir/index.txt"
  if ! grep -q "^R.*	${date},keyCompromise	" "$dir/index.txt"; then
    echo "make-dev-pki.sh: could not pin the revocation date of $name" >&2
    exit 1
  fi
}

ROOT_SUBJ="/C=VN/O=Ban Cơ yếu Chính phủ/CN=Cơ quan chứng thực số chuyên dùng Chính phủ (DEV ROOT)"
ISSUING_SUBJ="/C=VN/O=Ban Cơ yếu Chính phủ/OU=Cục Chứng thực số và Bảo mật thông tin/CN=Cục Chứng thực số và Bảo mật thông tin (DEV ISSUING CA)"
LONG_START=20250101000000Z
LEAF_END=20450101000000Z

# --- trust anchor and issuing CA ------------------------------------------------------------
self_signed_ca root-ca "$ROOT_SUBJ" rsa4096 "$LONG_START" 20550101000000Z
sub_ca root-ca issuing-ca "$ISSUING_SUBJ" rsa3072 "$LONG_START" 20500101000000Z

# --- agency ("tổ chức") certificates: subject carries the NAME, never the code ------------------
# agency CODE ALG NAME PROVINCE — file agency-CODE-ALG.pem
agency() {
  local code="$1" alg="$2" org="$3" province="$4" subject
  subject="/C=VN"
  [ -n "$province" ] && subject="$subject/ST=$province"
  subject="$subject/O=$org/CN=$org"
  issue issuing-ca "agency-$code-$alg" "$subject" "$alg" v3_agency "$LONG_START" "$LEAF_END"
}
agency 000.00.00.G22 rsa2048 "Bộ Thử nghiệm Liên thông (DEV)" ""
agency 000.00.00.G22 p256    "Bộ Thử nghiệm Liên thông (DEV)" ""
agency 000.00.00.H49 rsa2048 "Ủy ban nhân dân tỉnh Quảng Ninh (DEV)" "Quảng Ninh"
agency 000.00.00.H49 p384    "Ủy ban nhân dân tỉnh Quảng Ninh (DEV)" "Quảng Ninh"
agency 000.01.01.H49 rsa2048 "Văn phòng Ủy ban nhân dân tỉnh Quảng Ninh (DEV)" "Quảng Ninh"
agency 000.00.00.H08 rsa2048 "Ủy ban nhân dân tỉnh Thử nghiệm (DEV)" "Tỉnh Thử nghiệm"
agency 000.00.00.H08 rsa3072 "Ủy ban nhân dân tỉnh Thử nghiệm (DEV)" "Tỉnh Thử nghiệm"

# --- the server's own receipt-signing certificate ------------------------------------------------
issue issuing-ca server-receipts-p256 "/C=VN/O=lienthong (DEV)/CN=lienthong receipts (DEV)" \
  p256 v3_server "$LONG_START" "$LEAF_END"

# --- bad cases ----------------------------------------------------------------------------------
BAD_ORG="Cơ quan Thử nghiệm Lỗi (DEV)"
issue issuing-ca bad-expired "/C=VN/O=$BAD_ORG/CN=Chứng thư đã hết hạn (DEV)" \
  rsa2048 v3_agency 20200101000000Z 20210101000000Z
issue issuing-ca bad-not-yet-valid "/C=VN/O=$BAD_ORG/CN=Chứng thư chưa có hiệu lực (DEV)" \
  rsa2048 v3_agency 20900101000000Z 20950101000000Z
issue issuing-ca bad-revoked "/C=VN/O=$BAD_ORG/CN=Chứng thư đã bị thu hồi (DEV)" \
  rsa2048 v3_agency "$LONG_START" "$LEAF_END"
issue issuing-ca bad-no-signing-usage "/C=VN/O=$BAD_ORG/CN=Chứng thư chỉ để mã hóa (DEV)" \
  rsa2048 v3_no_signing_usage "$LONG_START" "$LEAF_END"
issue issuing-ca bad-no-key-usage "/C=VN/O=$BAD_ORG/CN=Chứng thư không có KeyUsage (DEV)" \
  rsa2048 v3_no_key_usage "$LONG_START" "$LEAF_END"
issue issuing-ca bad-ca-as-leaf "/C=VN/O=$BAD_ORG/CN=Chứng thư CA dùng để ký (DEV)" \
  rsa2048 v3_ca_as_leaf "$LONG_START" "$LEAF_END"

# A foreign hierarchy: its own root (not in trust.pem) and a leaf under it.
self_signed_ca foreign-root-ca "/C=VN/O=Tổ chức Ngoài (DEV)/CN=Foreign Root CA (DEV, NOT IN TRUST)" \
  rsa2048 "$LONG_START" 20550101000000Z
issue foreign-root-ca bad-foreign-leaf "/C=VN/O=Cơ quan Ngoài (DEV)/CN=Cơ quan Ngoài (DEV)" \
  rsa2048 v3_foreign_leaf "$LONG_START" "$LEAF_END"

# An impostor: a self-made CA with exactly the issuing CA's subject but its own key, and a leaf
# under it. Its issuer NAME matches the trusted issuing CA; only the key tells them apart.
self_signed_ca impostor-issuing-ca "$ISSUING_SUBJ" rsa2048 "$LONG_START" 20500101000000Z
issue impostor-issuing-ca bad-impostor-leaf "/C=VN/O=Cơ quan Giả mạo (DEV)/CN=Cơ quan Giả mạo (DEV)" \
  rsa2048 v3_foreign_leaf "$LONG_START" "$LEAF_END"

# --- CRLs ---------------------------------------------------------------------------------------
crl root-ca root-ca.crl.pem 20250101000000Z 20450101000000Z
# The stale CRL is the one the issuing CA published in January 2025, before the revocation.
crl issuing-ca issuing-ca-stale.crl.pem 20250101000000Z 20250201000000Z
revoke issuing-ca bad-revoked 250301000000Z
crl issuing-ca issuing-ca.crl.pem 20250601000000Z 20450101000000Z
openssl crl -in "$out/issuing-ca.crl.pem" -outform DER -out "$out/issuing-ca.crl.der"
crl issuing-ca issuing-ca-delta.crl.pem 20250601000000Z 20450101000000Z crl_ext_delta
crl issuing-ca issuing-ca-ca-only.crl.pem 20250601000000Z 20450101000000Z crl_ext_ca_only
crl issuing-ca issuing-ca-other-partition.crl.pem 20250601000000Z 20450101000000Z crl_ext_other_partition
# Same issuer NAME as the issuing CA, signed by the impostor's key, listing nothing: accepted
# only by a checker that forgets to verify CRL signatures.
crl impostor-issuing-ca impostor-issuing-ca.crl.pem 20250601000000Z 20450101000000Z

# --- bundles --------------------------------------------------------------------------------------
cp "$out/root-ca.pem" "$out/trust.pem"
cp "$out/issuing-ca.pem" "$out/intermediates.pem"

fingerprint() { openssl x509 -in "$out/$1.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
{
  echo '{"bindings":['
  first=1
  while IFS='|' read -r code name note; do
    [ "$first" = 1 ] || echo ','
    first=0
    printf '  {"agency":"%s","certificate_sha256":"%s","note":"%s"}' "$code" "$(fingerprint "$name")" "$note"
  done <<'LIST'
000.00.00.G22|agency-000.00.00.G22-rsa2048|agency-000.00.00.G22-rsa2048.pem (RSA-2048)
000.00.00.G22|agency-000.00.00.G22-p256|agency-000.00.00.G22-p256.pem (EC P-256), second key of the same agency
000.00.00.H49|agency-000.00.00.H49-rsa2048|agency-000.00.00.H49-rsa2048.pem (RSA-2048)
000.00.00.H49|agency-000.00.00.H49-p384|agency-000.00.00.H49-p384.pem (EC P-384), second key of the same agency
000.01.01.H49|agency-000.01.01.H49-rsa2048|agency-000.01.01.H49-rsa2048.pem (RSA-2048), a unit under H49
000.00.00.H08|agency-000.00.00.H08-rsa2048|agency-000.00.00.H08-rsa2048.pem (RSA-2048)
000.00.00.H08|agency-000.00.00.H08-rsa3072|agency-000.00.00.H08-rsa3072.pem (RSA-3072), second key of the same agency
000.00.00.G22|bad-expired|bad case bound on purpose: the PKI check, not the binding, must refuse it (expired)
000.00.00.G22|bad-not-yet-valid|bad case bound on purpose: the PKI check must refuse it (not yet valid)
000.00.00.G22|bad-revoked|bad case bound on purpose: the PKI check must refuse it (revoked)
000.00.00.G22|bad-no-signing-usage|bad case bound on purpose: the PKI check must refuse it (keyEncipherment only)
000.00.00.G22|bad-no-key-usage|bad case bound on purpose: the PKI check must refuse it (no KeyUsage)
000.00.00.G22|bad-ca-as-leaf|bad case bound on purpose: the PKI check must refuse it (CA:TRUE leaf)
000.00.00.G22|bad-foreign-leaf|bad case bound on purpose: the PKI check must refuse it (foreign root)
000.00.00.G22|bad-impostor-leaf|bad case bound on purpose: the PKI check must refuse it (impostor issuer)
LIST
  echo
  echo ']}'
} >"$out/bindings.json"

cat >"$out/README.txt" <<'TXT'
DEV/TEST MATERIAL ONLY. Every private key in this folder is public. Never put trust.pem or
any certificate from here into a production trust store. Remake with ../make-dev-pki.sh;
see ../README.md for what each file is.
TXT

# --- self-check: the good path verifies and each bad case fails, per openssl itself --------------
at=1780272000 # 2026-06-01T00:00:00Z
check() {
  local expect="$1" name="$2" extra="${3:-}"
  # shellcheck disable=SC2086
  if openssl verify -attime "$at" -CAfile "$out/trust.pem" -untrusted "$out/intermediates.pem" \
       $extra "$out/$name.pem" >/dev/null 2>&1; then got=ok; else got=fail; fi
  if [ "$got" != "$expect" ]; then
    echo "make-dev-pki.sh: self-check: $name: expected $expect, openssl said $got" >&2
    exit 1
  fi
}
for f in "$out"/agency-*.pem; do
  case "$f" in *.key.pem) continue ;; esac
  check ok "$(basename "$f" .pem)"
done
check ok server-receipts-p256
check fail bad-expired
check fail bad-not-yet-valid
check fail bad-foreign-leaf
check fail bad-impostor-leaf
check fail bad-revoked "-crl_check -CRLfile $out/issuing-ca.crl.pem"
check ok agency-000.00.00.G22-rsa2048 "-crl_check_all -CRLfile $out/issuing-ca.crl.pem -CRLfile $out/root-ca.crl.pem"

echo "make-dev-pki.sh: wrote $(find "$out" -type f | wc -l) files to $out"
