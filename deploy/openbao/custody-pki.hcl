# custody-pki: what custody needs in OpenBao or Vault (README, "More than one machine")
path "pki/root/generate/internal" { capabilities = ["update"] }
path "pki/intermediate/generate/internal" { capabilities = ["update"] }
path "pki/intermediate/set-signed" { capabilities = ["update"] }
path "pki/issuer/+/sign-intermediate" { capabilities = ["update"] }
path "pki/issuer/+/sign/custody-*" { capabilities = ["update"] }
path "pki/roles/custody-*" { capabilities = ["update"] }
path "pki/issuer/+" { capabilities = ["read", "update", "delete"] }
path "pki/issuer/+/crl" { capabilities = ["read"] }
path "pki/crl/rotate" { capabilities = ["read"] }
path "pki/revoke" { capabilities = ["update"] }
path "pki/key/+" { capabilities = ["delete"] }
