package vaultstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sidekey/sidekey/internal/secret"
)

// A secret is one KV v2 entry at
// <mount>/data/<prefix>/orgs/<org>/domains/<domain>/secrets/<alias>.
//
// Its data (readable by the sidecar policy) holds the type, the allowed
// hosts and the value fields of the type:
//
//	{"type": "token", "allowed_hosts": ["api.example.com"], "token": "…"}
//	{"type": "username_password", "allowed_hosts": [], "username": "…", "password": "…"}
//	{"type": "json", "allowed_hosts": [], "json": "{…compact JSON text…}"}
//
// Its custom_metadata (readable by the admin policy, never a value) holds
// what lists and the Macro Manager need; Vault limits custom metadata to 64
// keys of at most 512 bytes each, so long lists are split over numbered keys
// ("allowed_hosts", "allowed_hosts.1", …).
const (
	metaType       = "type"
	metaKind       = "kind"          // credential kind of a json secret, absent for none
	metaHosts      = "allowed_hosts" // comma-separated host globs
	metaJSONKeys   = "json_keys"     // JSON array of the top-level keys
	metaVersion    = "version"       // the data version this metadata describes
	metaCreatedAt  = "created_at"
	metaCreatedBy  = "created_by"
	metaUpdatedBy  = "updated_by"
	metaArchivedAt = "archived_at"
	metaArchivedBy = "archived_by"

	dataType  = "type"
	dataKind  = "kind"
	dataHosts = "allowed_hosts"

	// metaValueMax is Vault's limit on one custom metadata value.
	metaValueMax = 512
	// maxHostChunks bounds allowed_hosts to 8 KiB of globs.
	maxHostChunks = 16
	// maxKeyChunks bounds the recorded JSON keys to 12 KiB; keys beyond
	// that are not listed (the Macro Manager offers the first ones).
	maxKeyChunks = 24
	// maxActorLen bounds the recorded actor names.
	maxActorLen = metaValueMax
)

// secretRel is the entry of (t, alias) relative to the prefix.
func secretRel(t secret.Tenant, alias string) string {
	return tenantRel(t) + alias
}

// tenantRel is the directory of t's secrets relative to the prefix.
func tenantRel(t secret.Tenant) string {
	return "orgs/" + t.Org + "/domains/" + t.Domain + "/secrets/"
}

// encodeData is the KV data of a secret.
func encodeData(typ secret.Type, kind string, v secret.Value, hosts []string) map[string]any {
	h := make([]any, len(hosts))
	for i, g := range hosts {
		h[i] = g
	}
	d := map[string]any{dataType: string(typ), dataHosts: h}
	if kind != "" {
		d[dataKind] = kind
	}
	switch typ {
	case secret.TypeToken:
		d["token"] = v.Token
	case secret.TypeUsernamePassword:
		d["username"] = v.Username
		d["password"] = v.Password
	case secret.TypeJSON:
		d["json"] = string(v.JSON)
	}
	return d
}

// errMalformed marks an entry that Sidekey did not write (or that was
// changed by hand). Its messages name the field, never a value.
var errMalformed = errors.New("malformed secret entry")

// decodeData reads a secret from its KV data.
func decodeData(d map[string]any) (secret.Secret, error) {
	typ := secret.Type(str(d[dataType]))
	if !typ.Valid() {
		return secret.Secret{}, fmt.Errorf("%w: unknown type", errMalformed)
	}
	var hosts []string
	if raw, ok := d[dataHosts].([]any); ok {
		hosts = make([]string, 0, len(raw))
		for _, h := range raw {
			hosts = append(hosts, str(h))
		}
	}
	s := secret.Secret{Type: typ, Kind: str(d[dataKind]), AllowedHosts: hosts}
	switch typ {
	case secret.TypeToken:
		s.Value.Token = str(d["token"])
		if s.Value.Token == "" {
			return secret.Secret{}, fmt.Errorf("%w: empty token", errMalformed)
		}
	case secret.TypeUsernamePassword:
		s.Value.Username = str(d["username"])
		s.Value.Password = str(d["password"])
	case secret.TypeJSON:
		raw := str(d["json"])
		if raw == "" || !json.Valid([]byte(raw)) {
			return secret.Secret{}, fmt.Errorf("%w: json value is not valid JSON", errMalformed)
		}
		s.Value.JSON = json.RawMessage(raw)
	}
	return s, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// describe is the custom metadata of a secret written at version.
type describe struct {
	typ       secret.Type
	kind      string
	hosts     []string
	jsonKeys  []string
	version   int
	createdAt time.Time
	createdBy string
	updatedBy string
}

// checkHosts reports allowed_hosts that do not fit into the metadata.
func checkHosts(hosts []string) error {
	if n := len(strings.Join(hosts, ",")); n > maxHostChunks*metaValueMax {
		verr := &secret.ValidationError{}
		verr.Add("allowed_hosts", "too long: %d bytes of host globs, at most %d", n, maxHostChunks*metaValueMax)
		return verr
	}
	return nil
}

// custom returns d as KV custom metadata.
func (d describe) custom() map[string]string {
	m := map[string]string{
		metaType:      string(d.typ),
		metaVersion:   strconv.Itoa(d.version),
		metaCreatedAt: d.createdAt.UTC().Format(time.RFC3339Nano),
	}
	if d.kind != "" {
		m[metaKind] = d.kind
	}
	if d.createdBy != "" {
		m[metaCreatedBy] = truncate(d.createdBy, maxActorLen)
	}
	if d.updatedBy != "" {
		m[metaUpdatedBy] = truncate(d.updatedBy, maxActorLen)
	}
	putChunked(m, metaHosts, strings.Join(d.hosts, ","), maxHostChunks)
	if len(d.jsonKeys) > 0 {
		putChunked(m, metaJSONKeys, fitKeys(d.jsonKeys), maxKeyChunks)
	}
	return m
}

// fitKeys encodes as many leading keys as fit into maxKeyChunks values
// (with room for the bytes lost by splitting at rune boundaries).
func fitKeys(keys []string) string {
	limit := maxKeyChunks * (metaValueMax - utf8.UTFMax)
	var b strings.Builder
	b.WriteByte('[')
	for i, k := range keys {
		raw, err := json.Marshal(k)
		if err != nil || b.Len()+len(raw)+2 > limit {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(raw)
	}
	b.WriteByte(']')
	return b.String()
}

// putChunked stores s under key, key.1, key.2, … in values of at most
// metaValueMax bytes, split at rune boundaries, using at most max keys.
func putChunked(m map[string]string, key, s string, max int) {
	for i := 0; i < max && s != ""; i++ { // Vault refuses empty custom metadata values
		n := min(len(s), metaValueMax)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		k := key
		if i > 0 {
			k = key + "." + strconv.Itoa(i)
		}
		m[k] = s[:n]
		s = s[n:]
	}
}

// getChunked reassembles a value stored by putChunked.
func getChunked(m map[string]string, key string) string {
	var b strings.Builder
	b.WriteString(m[key])
	for i := 1; ; i++ {
		v, ok := m[key+"."+strconv.Itoa(i)]
		if !ok {
			return b.String()
		}
		b.WriteString(v)
	}
}

// toMetadata describes the secret alias from its KV metadata.
func (m kvMetadata) toMetadata(alias string) secret.Metadata {
	md := secret.Metadata{
		Alias:     alias,
		Type:      secret.Type(m.Custom[metaType]),
		Kind:      m.Custom[metaKind],
		UpdatedAt: m.CreatedAt,
		Version:   m.CurrentVersion,
	}
	if hosts := getChunked(m.Custom, metaHosts); hosts != "" {
		md.AllowedHosts = strings.Split(hosts, ",")
	} else {
		md.AllowedHosts = []string{}
	}
	if keys := getChunked(m.Custom, metaJSONKeys); keys != "" {
		_ = json.Unmarshal([]byte(keys), &md.JSONKeys) // recorded by us; a damaged list is shown empty
	}
	md.CreatedAt = toTime(m.Custom[metaCreatedAt])
	if md.CreatedAt.IsZero() {
		md.CreatedAt = md.UpdatedAt
	}
	return md
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
