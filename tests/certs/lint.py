"""pkilint's RFC 5280 linters (DigiCert's, not ours), as the lint_pkix_cert and lint_crl
commands set them up, returning the findings of WARNING severity or worse."""

from __future__ import annotations

from pkilint import loader, pkix
from pkilint.pkix import certificate, crl, extension, name
from pkilint.validation import ValidationFindingSeverity

# pkilint's PKIX profile reads DNS names by RFC 1034's preferred syntax, which has no
# wildcards (RFC 6125 and the CA/B Forum define them), so it flags every "*." name with
# this code. Allowed for exactly that: the code with a wildcard name in its message.
WILDCARD_QUIRK = ("pkix.invalid_domain_name_syntax", 'Invalid domain name syntax: "*.')

_CERT = certificate.create_pkix_certificate_validator_container(
    certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS,
                                           extension.EXTENSION_MAPPINGS),
    [certificate.create_issuer_validator_container([]),
     certificate.create_validity_validator_container(),
     certificate.create_subject_validator_container([]),
     certificate.create_extensions_validator_container([]),
     certificate.create_spki_validator_container([])],
)
_CRL = crl.create_pkix_crl_validator_container(
    [pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
     pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
    [crl.create_issuer_validator_container([]),
     crl.create_validity_validator_container([]),
     crl.create_extensions_validator_container([])],
)


def _findings(results: object) -> list[str]:
    return sorted(
        f"{d.finding.severity.name} {d.finding.code}" + (f": {d.message}" if d.message else "")
        for result in results  # type: ignore[attr-defined]
        for d in result.finding_descriptions
        if d.finding.severity <= ValidationFindingSeverity.WARNING
        and not (d.finding.code == WILDCARD_QUIRK[0]
                 and (d.message or "").startswith(WILDCARD_QUIRK[1])))


def lint_certificate(pem: str) -> list[str]:
    doc = loader.RFC5280CertificateDocumentLoader().load_pem_document(pem, "certificate")
    return _findings(_CERT.validate(doc.root))


def lint_crl(der: bytes) -> list[str]:
    doc = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    return _findings(_CRL.validate(doc.root))
