# Sidekey proxy (sidecar): least-privilege Vault policy.
#
# Written for the default KV v2 mount "secret" and prefix "sidekey"; replace
# both in every path when you configure others (--vault-mount, --vault-prefix).
#
# The sidecar only reads secret data under the prefix: the values it injects
# (whose entries also hold type and allowed hosts) and the change feed. It
# cannot list, write, delete or read metadata.
path "secret/data/sidekey/*" {
  capabilities = ["read"]
}

# Keep its own token alive (also in Vault's "default" policy, repeated here so
# that a token of exactly this policy works).
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
