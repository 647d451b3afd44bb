"""Certificates issued per second from CSRs through the service vs the bare cryptography sign.

The service path checks the CSR, its names against the client's policy, signs with
the issuing CA's key (kept in memory once loaded), records the ledger row and the
hash-chained audit event, and commits. The baseline signs the same CSRs with the same
key and nothing else. A second line measures the CSR check alone (parsing and
verifying its signature), which every issuance needs before it signs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

N = 300


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from custody.accounts.service import Principal
    from custody.certs import x509ops
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.db import transaction
    from custody.services import build_services
    from tests.certs.helpers import make_csr

    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        initialize(Path(tmp), "admin")
        svc = build_services(load_settings(Path(tmp) / "custody.toml", environ={}))
        admin = Principal(1, "admin", "admin", None)
        with transaction(svc.db) as db:
            svc.certs.init_root(db, "bench")
            client = svc.clients.create_client(db, "bench", "Bench")
            svc.devices.set_client_policy(db, admin, client.id, False, "admin", [], ["bench.test"])
            ca = svc.certs.issuing_ca(db, client.id)
            issuer = (x509.load_pem_x509_certificate(ca.cert_pem.encode()),
                      x509ops.load_key(svc.secrets.get(ca.key_path or "")["key"].reveal()))
        csrs = [make_csr(f"h{i}.bench.test", [f"h{i}.bench.test"])[0] for i in range(N)]
        parsed = [x509.load_pem_x509_csr(c.encode()) for c in csrs]

        started = time.perf_counter()
        for csr in parsed:
            x509ops.leaf_certificate(csr.public_key(), "x", ["x.bench.test"], 397,
                                     svc.clock(), issuer)
        bare = N / (time.perf_counter() - started)

        started = time.perf_counter()
        for csr_pem in csrs:  # what the service checks first: PEM, signature, key
            x509ops.load_csr(csr_pem, svc.settings.certs.allowed_key_types)
        check = N / (time.perf_counter() - started)

        started = time.perf_counter()
        for csr_pem in csrs:
            with transaction(svc.db) as db:
                svc.certs.issue_from_csr(db, admin, client.id, csr_pem)
        through = N / (time.perf_counter() - started)
        svc.engine.dispose()
    yield {"metric": "certificates_per_second", "value": round(through, 1), "unit": "certs/s",
           "baseline": round(bare, 1), "ratio": round(bare / through, 3),
           "note": "ratio = time per certificate through the service / bare sign"}
    yield {"metric": "csr_check_per_second", "value": round(check, 1), "unit": "csrs/s",
           "baseline": round(bare, 1), "ratio": round(bare / check, 3),
           "note": "checking a CSR (parse, signature, key) alone, against the bare sign"}
