# Sidekey admin API: least-privilege Vault policy.
#
# Written for the default KV v2 mount "secret" and prefix "sidekey"; replace
# both in every path when you configure others (--vault-mount, --vault-prefix).
#
# The admin API writes secrets but never reads a value back, and it cannot
# destroy anything: archive is a soft delete of the current version.

# Write values (create-only or check-and-set), and soft-delete the current
# version (archive). No "read": values are write-only for the admin API.
path "secret/data/sidekey/orgs/*" {
  capabilities = ["create", "update", "delete"]
}

# Metadata: versions, timestamps and Sidekey's descriptive custom_metadata
# (type, allowed hosts, JSON keys, who archived it): read, list, and update
# custom_metadata. No "delete" here: deleting metadata destroys every version.
path "secret/metadata/sidekey/orgs/*" {
  capabilities = ["read", "list", "update"]
}

# The change feed the sidecars poll: read it and append with check-and-set.
path "secret/data/sidekey/changes" {
  capabilities = ["create", "read", "update"]
}
path "secret/data/sidekey/changes/*" {
  capabilities = ["create", "read", "update"]
}

# Keep its own token alive (also in Vault's "default" policy, repeated here so
# that a token of exactly this policy works).
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Not granted, on purpose: secret/destroy/* (hard-destroy versions),
# delete on secret/metadata/* (destroy all versions), secret/undelete/*.
