#!/usr/bin/env python3
"""Makes a throwaway certificate chain for a local HTTPS KMS endpoint, shaped like AWS KMS's:
an RSA-2048 root, an RSA-2048 intermediate, and an RSA-2048 leaf for `localhost` and
`127.0.0.1` — so a TLS handshake costs the client what it costs against KMS (two RSA-2048
signature checks, the chain, the name).

Usage: make_test_ca.py OUTDIR

Writes to OUTDIR:
  root.pem        the root certificate (for NODE_EXTRA_CA_CERTS)
  chain.pem       leaf then intermediate (what the server presents)
  leaf.key        the leaf's private key (PKCS#8 PEM)
  bundle.pem      this machine's CA bundle followed by the root (for SSL_CERT_FILE: the function
                  trusts the local endpoint the way it trusts AWS, through the system roots plus one)
Uses `cryptography`, which the project's .venv already has (moto depends on it).
"""
import datetime
import ipaddress
import os
import ssl
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kms-lambda tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(subject, key, issuer, issuer_key, ca, sans=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                        critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
    else:
        b = (b.add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                           key_cert_sign=False, crl_sign=False,
                                           content_commitment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False,
                                           decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
             .add_extension(x509.SubjectAlternativeName(sans), critical=False))
    return b.sign(issuer_key, hashes.SHA256())


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
    root_key, inter_key, leaf_key = keys
    root = cert(name("kms-lambda test root"), root_key, name("kms-lambda test root"), root_key, True)
    inter = cert(name("kms-lambda test intermediate"), inter_key, root.subject, root_key, True)
    leaf = cert(name("localhost"), leaf_key, inter.subject, inter_key, False,
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    system = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    system_pem = open(system, "rb").read() if os.path.exists(system) else b""
    files = {
        "root.pem": pem(root),
        "chain.pem": pem(leaf) + pem(inter),
        "leaf.key": leaf_key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()),
        "bundle.pem": system_pem.rstrip(b"\n") + b"\n" + pem(root),
    }
    for f, data in files.items():
        tmp = os.path.join(out, f + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, os.path.join(out, f))
    print(f"make_test_ca: wrote {', '.join(files)} to {out} (system bundle: {system})")


if __name__ == "__main__":
    main()
