package testbin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KubeAPI stands in for the Kubernetes API server's TokenReview endpoint,
// which Vault's Kubernetes auth calls (no cluster runs here). It vouches
// for the ServiceAccount tokens it minted, with their audiences.
type KubeAPI struct {
	// URL is the base URL to give Vault as kubernetes_host.
	URL     string
	key     *ecdsa.PrivateKey
	mu      sync.Mutex
	sas     map[string]kubeSA // token → identity
	reviews int64
}

type kubeSA struct {
	username, uid string
	audiences     []string
}

// StartKubeAPI starts a KubeAPI on loopback, closed when the test ends.
func StartKubeAPI(t testing.TB) *KubeAPI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &KubeAPI{key: key, sas: map[string]kubeSA{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		var review struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		k.mu.Lock()
		k.reviews++
		sa, ok := k.sas[review.Spec.Token]
		k.mu.Unlock()
		status := map[string]any{"authenticated": false}
		if ok && (len(review.Spec.Audiences) == 0 || slices.ContainsFunc(review.Spec.Audiences, func(a string) bool { return slices.Contains(sa.audiences, a) })) {
			status = map[string]any{"authenticated": true, "audiences": sa.audiences,
				"user": map[string]any{"username": sa.username, "uid": sa.uid}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(srv.Close)
	k.URL = srv.URL
	return k
}

// ServiceAccountToken mints a projected-style token of namespace/name for
// the audience (empty: none).
func (k *KubeAPI) ServiceAccountToken(t testing.TB, ns, name, audience string) string {
	t.Helper()
	uid := RandomString(t, "uid-")[:16]
	claims := jwt.MapClaims{
		"iss": "https://kubernetes.default.svc",
		"sub": "system:serviceaccount:" + ns + ":" + name,
		"iat": time.Now().Add(-time.Minute).Unix(),
		"nbf": time.Now().Add(-time.Minute).Unix(),
		"exp": time.Now().Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      ns,
			"serviceaccount": map[string]any{"name": name, "uid": uid},
		},
	}
	var auds []string
	if audience != "" {
		auds = []string{audience}
		claims["aud"] = auds
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	k.sas[tok] = kubeSA{username: "system:serviceaccount:" + ns + ":" + name, uid: uid, audiences: auds}
	k.mu.Unlock()
	return tok
}

// Revoke makes the API reject token from now on, as for a deleted
// ServiceAccount.
func (k *KubeAPI) Revoke(token string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.sas, token)
}

// Reviews is the number of TokenReviews the API has answered.
func (k *KubeAPI) Reviews() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reviews
}
