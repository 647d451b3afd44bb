"""Certificates issued per second from CSRs through the service vs the minimal durable
issuance.

The service path checks the CSR, its names against the client's policy, signs with the
issuing CA's key (kept in memory once loaded), records the ledger row and the
hash-chained audit event, and commits. The baseline is the least any durable issuance
does: check the CSR, sign it with the same key and profile, and commit one ledger row
in the same database. Target: ratio (time per certificate through the service / the
baseline's) at most 1.5, and at least 200 certificates/s on SQLite. Further lines: the
bare sign, and the CSR check alone. P-256 CA and CSRs (generating RSA keys is not the
issuance path).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

N = 400


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from custody.accounts.service import Principal
    from custody.certs import x509ops
    from custody.certs.models import Certificate
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.db import transaction
    from custody.services import build_services
    from tests.certs.helpers import make_csr

    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        initialize(Path(tmp), "admin")
        svc = build_services(load_settings(Path(tmp) / "custody.toml", environ={}))
        admin = Principal(1, "admin", "admin", None)
        with transaction(svc.db) as db:  # `custody init` made the root CA
            client = svc.clients.create_client(db, "bench", "Bench")
            svc.devices.set_client_policy(db, admin, client.id, False, "admin", [], ["bench.test"])
            ca = svc.certs.issuing_ca(db, client.id)
            issuer = (x509.load_pem_x509_certificate(ca.cert_pem.encode()),
                      x509ops.load_key(svc.secrets.get(ca.key_path or "")["key"].reveal()))
        csrs = [make_csr(f"h{i}.bench.test", [f"h{i}.bench.test"])[0] for i in range(2 * N)]
        parsed = [x509.load_pem_x509_csr(c.encode()) for c in csrs]
        links = x509ops.Links(crl="https://bench.test/crl/1.crl", issuer="https://bench.test/ca/1.crt")

        started = time.perf_counter()
        for csr in parsed:
            x509ops.leaf_certificate(csr.public_key(), "x.bench.test", ["x.bench.test"], 397,
                                     svc.clock(), issuer, links)
        bare = len(parsed) / (time.perf_counter() - started)

        started = time.perf_counter()
        for csr_pem in csrs:  # what the service checks first: PEM, signature, key
            x509ops.load_csr(csr_pem, svc.settings.certs.allowed_key_types)
        check = len(csrs) / (time.perf_counter() - started)

        def minimal_issuance(csr_pem: str) -> None:
            request = x509ops.load_csr(csr_pem, svc.settings.certs.allowed_key_types)
            cert = x509ops.leaf_certificate(request.csr.public_key(), request.common_name,
                                            request.sans, 397, svc.clock(), issuer, links)
            with transaction(svc.db) as db:
                db.add(Certificate(
                    client_id=client.id, ca_id=ca.id, serial=x509ops.serial_hex(cert),
                    fingerprint=x509ops.fingerprint(cert), subject=f"CN={request.common_name}",
                    sans=request.sans, not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc, key_origin="csr",
                    cert_pem=x509ops.pem(cert), issued_at=svc.clock(), notices_sent=[]))

        def service_issuance(csr_pem: str) -> None:
            with transaction(svc.db) as db:
                svc.certs.issue_from_csr(db, admin, client.id, csr_pem)

        # The two paths take turns, one certificate each, so a slow stretch of this
        # shared machine weighs on both alike. Each gets its own CSRs: no serial repeats.
        spent = {minimal_issuance: 0.0, service_issuance: 0.0}
        for pair in range(N):
            for turn, issue in enumerate(spent):
                started = time.perf_counter()
                issue(csrs[2 * pair + turn])
                spent[issue] += time.perf_counter() - started
        minimal, through = N / spent[minimal_issuance], N / spent[service_issuance]
        svc.engine.dispose()
    yield {"metric": "certificates_per_second", "value": round(through, 1), "unit": "certs/s",
           "baseline": round(minimal, 1), "ratio": round(minimal / through, 3),
           "target": {"ratio": 1.5, "value": 200},
           "note": "ratio = time per certificate through the service / the minimal durable "
                   "issuance (check the CSR, sign, commit one ledger row); lower is better"}
    yield {"metric": "bare_sign_per_second", "value": round(bare, 1), "unit": "certs/s",
           "note": "signing alone, with the same key and profile"}
    yield {"metric": "csr_check_per_second", "value": round(check, 1), "unit": "csrs/s",
           "baseline": round(bare, 1), "ratio": round(bare / check, 3),
           "note": "checking a CSR (parse, signature, key) alone, against the bare sign"}
