package credential

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sidekey/sidekey/internal/secret"
)

func validateAWS(f fields, verr *secret.ValidationError) {
	f.required(verr, "access_key_id")
	f.required(verr, "secret_access_key")
	f.str(verr, "session_token")
	if r, ok := f.str(verr, "region"); ok && r != "" && !regionRE.MatchString(r) {
		verr.Add(fieldPrefix+"region", "must be an AWS region such as us-east-1")
	}
}

type awsCredentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Region          string `json:"region"`
}

// sigv4Signer is shared so that its derived signing keys are cached (per
// key, date, region and service) across requests.
var sigv4Signer = v4.NewSigner()

// parsedAWS memoises parsed aws_credentials by their JSON text: a request
// signed with a cached secret skips the JSON decoding. Bounded; cleared
// when full. The keys are secret text and never leave this map.
var parsedAWS = struct {
	sync.RWMutex
	m map[string]awsCredentials
}{m: map[string]awsCredentials{}}

const maxParsedAWS = 1024

func parseAWS(obj json.RawMessage) (awsCredentials, error) {
	parsedAWS.RLock()
	c, ok := parsedAWS.m[string(obj)]
	parsedAWS.RUnlock()
	if ok {
		return c, nil
	}
	if err := json.Unmarshal(obj, &c); err != nil {
		return c, invalid("aws_credentials does not parse")
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, invalid("value.json.access_key_id and value.json.secret_access_key are required")
	}
	parsedAWS.Lock()
	if len(parsedAWS.m) >= maxParsedAWS {
		clear(parsedAWS.m)
	}
	parsedAWS.m[string(obj)] = c
	parsedAWS.Unlock()
	return c, nil
}

// UnsignedPayload is the payload hash of a request whose body the
// signature does not cover (S3).
const UnsignedPayload = "UNSIGNED-PAYLOAD"

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// signingNames maps endpoint prefixes whose signing name differs.
var signingNames = map[string]string{
	"email":    "ses",
	"pinpoint": "mobiletargeting",
}

// awsScope derives the signing service and region from an AWS host name:
// service.region.amazonaws.com, service.amazonaws.com (us-east-1),
// bucket.s3.region.amazonaws.com.
func awsScope(host string) (service, region string) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	var rest string
	for _, suffix := range []string{".amazonaws.com", ".amazonaws.com.cn"} {
		if r, ok := strings.CutSuffix(host, suffix); ok {
			rest = r
			break
		}
	}
	if rest == "" {
		return "", ""
	}
	labels := strings.Split(rest, ".")
	n := len(labels)
	if n >= 2 && regionRE.MatchString(labels[n-1]) {
		service, region = labels[n-2], labels[n-1]
	} else {
		service, region = labels[n-1], "us-east-1"
	}
	for _, l := range labels {
		if l == "s3" {
			service = "s3"
		}
	}
	if name, ok := signingNames[service]; ok {
		service = name
	}
	return service, region
}

// signSigV4 signs r from scratch with aws-sdk-go-v2's v4 signer. It drops a
// signature, date and session token an SDK made with placeholder
// credentials, signs host, content-length and every
// header as sent but hop-by-hop and proxy ones, and covers the body by its SHA-256 unless the
// request says UNSIGNED-PAYLOAD (header or "; payload=unsigned").
func signSigV4(ctx context.Context, d Directive, obj json.RawMessage, r *Request, now time.Time) (Edits, error) {
	c, err := parseAWS(obj)
	if err != nil {
		return Edits{}, err
	}
	service, region := awsScope(r.Host)
	if v := d.Params["service"]; v != "" {
		service = v
	}
	switch {
	case d.Params["region"] != "":
		region = d.Params["region"]
	case region == "":
		region = c.Region
	}
	if service == "" || region == "" {
		return Edits{}, signingErr("aws-sigv4: the host names no AWS service and region; add \"; service=…; region=…\"")
	}
	if p := d.Params["payload"]; p != "" && p != "unsigned" && p != "signed" {
		return Edits{}, signingErr("aws-sigv4: payload must be signed or unsigned")
	}

	u, err := url.Parse("https://" + r.Host + r.Path)
	if err != nil || u.Host == "" {
		return Edits{}, signingErr("aws-sigv4: the request URL does not parse")
	}
	u.RawQuery = r.Query
	hreq := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}, ContentLength: int64(len(r.Body))}
	for name, values := range r.Header {
		if signedHeader(name) {
			hreq.Header[http.CanonicalHeaderKey(name)] = values
		}
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		hreq.Header.Del(h)
	}

	edits := Edits{Del: []string{"Authorization", "X-Amz-Security-Token"}}
	payloadHash := ""
	existing := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case d.Params["payload"] == "unsigned" || (existing == UnsignedPayload && d.Params["payload"] != "signed"):
		payloadHash = UnsignedPayload
	default:
		sum := sha256.Sum256(r.Body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	if existing != "" || service == "s3" || payloadHash == UnsignedPayload {
		hreq.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}

	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	// S3 signs the path as sent; every other service escapes it again.
	s3 := func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" }
	if err := sigv4Signer.SignHTTP(ctx, creds, hreq, payloadHash, service, region, now, s3); err != nil {
		return Edits{}, signingErr("aws-sigv4: %s", "the signer refused the request")
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		if v := hreq.Header.Get(h); v != "" {
			edits.Set = append(edits.Set, HeaderField{Name: h, Value: v})
		}
	}
	return edits, nil
}

// unsignedHeaders are headers a signature leaves out: hop-by-hop and
// proxy headers that a hop may rewrite, and those aws-sdk-go-v2's signer
// ignores anyway.
var unsignedHeaders = map[string]bool{
	"accept-encoding": true, "connection": true, "keep-alive": true, "proxy-authorization": true,
	"proxy-connection": true, "te": true, "trailer": true, "transfer-encoding": true,
	"upgrade": true, "user-agent": true, "expect": true, "x-amzn-trace-id": true,
	"authorization": true, "content-length": true, "host": true,
}

// signedHeader reports whether a header is part of a SigV4 signature: every
// header as sent except the ones above and Sidekey-*.
func signedHeader(name string) bool {
	n := strings.ToLower(name)
	return !unsignedHeaders[n] && !strings.HasPrefix(n, "sidekey-")
}
