package main

import (
	"sort"

	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/builtin/credential/approle"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// The builtin plugins of this dev server: only what Sidekey uses.
func logicalBackends() map[string]logical.Factory {
	return map[string]logical.Factory{"kv": kv.Factory}
}

func credentialBackends() map[string]logical.Factory {
	return map[string]logical.Factory{
		"approle":    approle.Factory,
		"kubernetes": kubernetesFactory,
	}
}

// registry is Vault's builtin plugin catalog reduced to the backends above
// (Vault's own registry imports every plugin; corehelpers' mock lacks
// Kubernetes auth).
type registry struct {
	plugins map[consts.PluginType]map[string]logical.Factory
}

func newRegistry() *registry {
	return &registry{plugins: map[consts.PluginType]map[string]logical.Factory{
		consts.PluginTypeSecrets:    logicalBackends(),
		consts.PluginTypeCredential: credentialBackends(),
	}}
}

func (r *registry) Contains(name string, t consts.PluginType) bool {
	_, ok := r.plugins[t][name]
	return ok
}

func (r *registry) Get(name string, t consts.PluginType) (func() (interface{}, error), bool) {
	f, ok := r.plugins[t][name]
	if !ok {
		return nil, false
	}
	return func() (interface{}, error) { return f, nil }, true
}

func (r *registry) Keys(t consts.PluginType) []string {
	keys := make([]string, 0, len(r.plugins[t]))
	for k := range r.plugins[t] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (r *registry) DeprecationStatus(name string, t consts.PluginType) (consts.DeprecationStatus, bool) {
	if r.Contains(name, t) {
		return consts.Supported, true
	}
	return consts.Unknown, false
}

func (r *registry) IsBuiltinEntPlugin(string, consts.PluginType) bool { return false }
