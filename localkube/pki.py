"""A small PKI made with openssl: one CA and a certificate for each identity.

Each identity is what the apiserver's ``Node,RBAC`` authorizers see: the
kubelet is ``system:node:<node>`` in ``system:nodes`` (so the Node authorizer
and NodeRestriction really apply), the admin is in ``system:masters``, and the
control-plane components use the built-in RBAC identities.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import attrs


@attrs.frozen
class Identity:
    name: str
    common_name: str
    organization: str = ""
    # Server certificates carry subjectAltNames; client ones do not.
    sans: tuple[str, ...] = ()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def ensure_ca(pki: Path) -> None:
    if (pki / "ca.crt").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("genrsa", "-out", str(pki / "ca.key"), "2048")
    _openssl(
        "req", "-x509", "-new", "-nodes", "-key", str(pki / "ca.key"),
        "-subj", "/CN=localkube-ca", "-days", "3650", "-out", str(pki / "ca.crt"),
    )


def ensure_cert(pki: Path, identity: Identity) -> tuple[Path, Path]:
    """Issue ``<name>.crt``/``<name>.key`` signed by the CA, unless present."""
    crt, key = pki / f"{identity.name}.crt", pki / f"{identity.name}.key"
    if crt.exists() and key.exists():
        return crt, key
    subject = f"/CN={identity.common_name}"
    if identity.organization:
        subject = f"/O={identity.organization}{subject}"
    csr = pki / f"{identity.name}.csr"
    ext = pki / f"{identity.name}.ext"
    usage = "serverAuth,clientAuth" if identity.sans else "clientAuth"
    lines = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if identity.sans:
        entries = [
            f"IP:{san}" if san.replace(".", "").isdigit() else f"DNS:{san}"
            for san in identity.sans
        ]
        lines.append("subjectAltName=" + ",".join(entries))
    ext.write_text("\n".join(lines) + "\n")
    _openssl("genrsa", "-out", str(key), "2048")
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"),
        "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "3650",
        "-extfile", str(ext), "-out", str(crt),
    )
    csr.unlink()
    ext.unlink()
    return crt, key


def ensure_service_account_keys(pki: Path) -> None:
    if (pki / "sa.key").exists():
        return
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))
