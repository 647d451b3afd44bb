# custody-kv: what custody needs in OpenBao or Vault (README, "More than one machine")
path "secret/data/custody/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/custody/*" { capabilities = ["read", "list", "delete"] }
path "secret/destroy/custody/*" { capabilities = ["update"] }
