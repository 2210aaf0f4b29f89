"""Checks a push the exchange made, with an RFC 9421 implementation that is not ours
(the `http-message-signatures` package): the signature over @method, @target-uri,
content-digest and x-lienthong-delivery, made with the key of the receipt certificate, and
the Content-Digest (RFC 9530) against the body.

    verify_push.py REQUEST.json CERTIFICATE.pem

REQUEST.json: {"method", "url", "headers": {name: value}, "body_base64"}. Prints the covered
components and exits 0 when everything verifies; exits 1 with the reason otherwise.
"""
import base64
import hashlib
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms


class Request:
    def __init__(self, method, url, headers):
        self.method = method
        self.url = url
        self.headers = headers


class CertificateKey(HTTPSignatureKeyResolver):
    def __init__(self, certificate):
        self.certificate = certificate
        self.key_id = certificate.fingerprint(hashes.SHA256()).hex()

    def resolve_public_key(self, key_id):
        if key_id != self.key_id:
            raise KeyError(f"unknown keyid {key_id!r} (the receipt certificate is {self.key_id})")
        return self.certificate.public_key()


def main():
    request = json.load(open(sys.argv[1]))
    certificate = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
    body = base64.b64decode(request["body_base64"])
    message = Request(request["method"], request["url"], request["headers"])
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ECDSA_P256_SHA256,
        key_resolver=CertificateKey(certificate),
    )
    results = verifier.verify(
        message,
        require_components=("@method", "@target-uri", "content-digest", "x-lienthong-delivery"),
        body=body,
    )
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    if request["headers"].get("content-digest") != digest:
        print(f"Content-Digest {request['headers'].get('content-digest')!r} is not {digest!r}")
        return 1
    for result in results:
        print("verified:", list(result.covered_components.keys()), result.parameters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
