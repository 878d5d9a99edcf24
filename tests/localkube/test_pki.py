"""The PKI issues certificates that carry the identities the apiserver sees."""

from __future__ import annotations

import subprocess
from pathlib import Path

from localkube import pki


def _text(cert: Path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout


def test_client_cert_carries_user_and_group(tmp_path: Path) -> None:
    pki.ensure_ca(tmp_path)
    crt, key = pki.ensure_cert(tmp_path, pki.Identity("kubelet", "system:node:n1", "system:nodes"))
    text = _text(crt)
    assert "Subject: O = system:nodes, CN = system:node:n1" in text
    assert "TLS Web Client Authentication" in text
    assert "Subject Alternative Name" not in text
    assert key.exists()
    subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), str(crt)], check=True,
                   capture_output=True)


def test_server_cert_has_dns_and_ip_sans(tmp_path: Path) -> None:
    pki.ensure_ca(tmp_path)
    crt, _ = pki.ensure_cert(tmp_path, pki.Identity(
        "apiserver", "kube-apiserver", sans=("kubernetes.default", "10.96.0.1")))
    text = _text(crt)
    assert "DNS:kubernetes.default" in text
    assert "IP Address:10.96.0.1" in text
    assert "TLS Web Server Authentication" in text


def test_existing_certificates_are_kept(tmp_path: Path) -> None:
    pki.ensure_ca(tmp_path)
    identity = pki.Identity("admin", "admin", "system:masters")
    crt, _ = pki.ensure_cert(tmp_path, identity)
    first = crt.read_bytes()
    pki.ensure_ca(tmp_path)
    pki.ensure_cert(tmp_path, identity)
    assert crt.read_bytes() == first
