package main

import (
	kubeauth "github.com/hashicorp/vault-plugin-auth-kubernetes"
)

// kubernetesFactory is Vault's Kubernetes auth method.
var kubernetesFactory = kubeauth.Factory
