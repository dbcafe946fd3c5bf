package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

// Auth method names (AuthConfig.Method).
const (
	MethodToken      = "token"
	MethodAppRole    = "approle"
	MethodKubernetes = "kubernetes"
)

// DefaultKubernetesJWTFile is where Kubernetes mounts a pod's service
// account token.
const DefaultKubernetesJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

const (
	// minRelogin spaces the logins that a 403 triggers, so that a policy
	// that really refuses does not turn every call into a login.
	minRelogin = time.Second
	// reloginMax caps the pause between two failed logins of the renewal
	// loop.
	reloginMax = 30 * time.Second
)

// authenticator obtains a token for the client.
type authenticator interface {
	// login obtains a token, sets it on the client and returns its auth
	// information (ClientToken, LeaseDuration, Renewable).
	login(ctx context.Context, c *api.Client) (*api.SecretAuth, error)
	// canRelogin reports whether login can give a new token (a static
	// token cannot be replaced).
	canRelogin() bool
	name() string
}

func newAuthenticator(cfg AuthConfig) (authenticator, error) {
	switch cfg.Method {
	case "", MethodToken:
		if cfg.Token == "" && cfg.TokenFile == "" && os.Getenv(api.EnvVaultToken) == "" {
			return nil, errors.New("vaultstore: token auth: no token (set the token, a token file or VAULT_TOKEN)")
		}
		return &tokenAuth{token: cfg.Token, file: cfg.TokenFile}, nil
	case MethodAppRole:
		if cfg.RoleID == "" {
			return nil, errors.New("vaultstore: approle auth: role id is required")
		}
		sid := &approle.SecretID{FromString: cfg.SecretID}
		if cfg.SecretIDFile != "" {
			sid = &approle.SecretID{FromFile: cfg.SecretIDFile}
		}
		if sid.FromString == "" && sid.FromFile == "" {
			return nil, errors.New("vaultstore: approle auth: secret id or secret id file is required")
		}
		opts := []approle.LoginOption{}
		if cfg.MountPath != "" {
			opts = append(opts, approle.WithMountPath(cfg.MountPath))
		}
		a, err := approle.NewAppRoleAuth(cfg.RoleID, sid, opts...)
		if err != nil {
			return nil, fmt.Errorf("vaultstore: approle auth: %w", err)
		}
		return &methodAuth{method: MethodAppRole, m: a}, nil
	case MethodKubernetes:
		if cfg.Role == "" {
			return nil, errors.New("vaultstore: kubernetes auth: role is required")
		}
		jwt := cfg.JWTFile
		if jwt == "" {
			jwt = DefaultKubernetesJWTFile
		}
		return &kubeAuth{role: cfg.Role, jwtFile: jwt, mount: cfg.MountPath}, nil
	default:
		return nil, fmt.Errorf("vaultstore: unknown auth method %q (want token, approle or kubernetes)", cfg.Method)
	}
}

// tokenAuth uses a given token: from the config, a file (read again at each
// login, so that an agent may replace it) or VAULT_TOKEN.
type tokenAuth struct {
	token string
	file  string
}

func (a *tokenAuth) name() string { return MethodToken }

func (a *tokenAuth) canRelogin() bool { return a.file != "" }

func (a *tokenAuth) login(ctx context.Context, c *api.Client) (*api.SecretAuth, error) {
	tok := a.token
	if a.file != "" {
		raw, err := os.ReadFile(a.file)
		if err != nil {
			return nil, fmt.Errorf("read token file: %w", err)
		}
		tok = strings.TrimSpace(string(raw))
	}
	if tok == "" {
		tok = os.Getenv(api.EnvVaultToken)
	}
	if tok == "" {
		return nil, errors.New("empty token")
	}
	c.SetToken(tok)
	self, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, err
	}
	if self == nil || self.Data == nil {
		return nil, errors.New("token lookup answered without data")
	}
	renewable, _ := self.TokenIsRenewable()
	ttl, _ := self.TokenTTL()
	return &api.SecretAuth{ClientToken: tok, LeaseDuration: int(ttl.Seconds()), Renewable: renewable}, nil
}

// methodAuth logs in with a vault/api auth method (AppRole, Kubernetes).
type methodAuth struct {
	method string
	m      api.AuthMethod
}

func (a *methodAuth) name() string { return a.method }

func (a *methodAuth) canRelogin() bool { return true }

func (a *methodAuth) login(ctx context.Context, c *api.Client) (*api.SecretAuth, error) {
	// Log in on a clone without the old token: a login needs none, and a
	// revoked one has no business travelling again.
	lc, err := c.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone client: %w", err)
	}
	lc.ClearToken()
	sec, err := lc.Auth().Login(ctx, a.m)
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, errors.New("login answered without a token")
	}
	c.SetToken(sec.Auth.ClientToken)
	return sec.Auth, nil
}

// kubeAuth logs in with the pod's service account token. The file is read
// at every login: Kubernetes rotates projected tokens, and vault/api's
// helper would keep the one it read first.
type kubeAuth struct {
	role, jwtFile, mount string
}

func (a *kubeAuth) name() string { return MethodKubernetes }

func (a *kubeAuth) canRelogin() bool { return true }

func (a *kubeAuth) login(ctx context.Context, c *api.Client) (*api.SecretAuth, error) {
	raw, err := os.ReadFile(a.jwtFile)
	if err != nil {
		return nil, fmt.Errorf("read service account token: %w", err)
	}
	opts := []kubernetes.LoginOption{kubernetes.WithServiceAccountToken(strings.TrimSpace(string(raw)))}
	if a.mount != "" {
		opts = append(opts, kubernetes.WithMountPath(a.mount))
	}
	m, err := kubernetes.NewKubernetesAuth(a.role, opts...)
	if err != nil {
		return nil, err
	}
	return (&methodAuth{method: MethodKubernetes, m: m}).login(ctx, c)
}

// login obtains a token, retrying transient failures within ctx.
func (s *Client) login(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(0),
	)
	var last error
	err := backoff.Retry(func() error {
		err := s.loginOnce(ctx)
		if err == nil {
			return nil
		}
		last = err
		if classify(err) == kindTransient {
			return err
		}
		return backoff.Permanent(err)
	}, backoff.WithContext(b, ctx))
	if err == nil {
		return nil
	}
	if last == nil {
		last = err
	}
	return loginError(s.auth.name(), last)
}

// loginError maps a failed login onto the package's sentinels.
func loginError(method string, err error) error {
	var re *api.ResponseError
	switch kind := classify(err); {
	case kind == kindTransient, kind == kindCanceled:
		return fmt.Errorf("vaultstore: login (%s): %w: %w", method, secret.ErrUnavailable, vaultError("login", method, err))
	case errors.As(err, &re) && (re.StatusCode == 400 || re.StatusCode == 401 || re.StatusCode == 403):
		// Vault refused the credentials (AppRole answers 400).
		return fmt.Errorf("vaultstore: login (%s): %w: %w", method, secret.ErrPermission, vaultError("login", method, err))
	default:
		return fmt.Errorf("vaultstore: login (%s): %w", method, err)
	}
}

// loginOnce logs in once and records the new token.
func (s *Client) loginOnce(ctx context.Context) error {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	return s.loginLocked(ctx)
}

func (s *Client) loginLocked(ctx context.Context) error {
	auth, err := s.auth.login(ctx, s.client)
	if err != nil {
		return err
	}
	s.token = auth
	s.lastLogin = time.Now()
	select {
	case s.tokenChanged <- struct{}{}:
	default:
	}
	s.log.Debug("logged in to vault", zap.String("method", s.auth.name()),
		zap.Int("ttl_seconds", auth.LeaseDuration), zap.Bool("renewable", auth.Renewable))
	return nil
}

// reauth is called when Vault refused a call that began at began with 403:
// it logs in again, unless another call already did since, and reports
// whether the call is worth one more try.
func (s *Client) reauth(ctx context.Context, began time.Time) bool {
	if !s.auth.canRelogin() {
		return false
	}
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	if s.lastLogin.After(began) {
		return true
	}
	if time.Since(s.lastLogin) < minRelogin {
		return false
	}
	if err := s.loginLocked(ctx); err != nil {
		s.log.Warn("vault refused the token and a new login failed", zap.String("method", s.auth.name()), zap.Error(err))
		return false
	}
	s.log.Info("vault refused the token; logged in again", zap.String("method", s.auth.name()))
	return true
}

// currentToken returns the auth information of the token in use.
func (s *Client) currentToken() *api.SecretAuth {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	return s.token
}

// Run keeps the client's token valid until ctx ends, then returns nil: a
// lifetime watcher renews the token before it expires; when renewal fails
// or the token reaches its maximum TTL, Run logs in again, with backoff
// while that fails. Tokens without a TTL (such as a root token) need no
// renewal.
func (s *Client) Run(ctx context.Context) error {
	same := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(time.Second),
		backoff.WithMaxInterval(reloginMax),
		backoff.WithMaxElapsedTime(0),
	)
	for {
		tok := s.currentToken()
		if tok == nil || tok.LeaseDuration <= 0 {
			// Nothing to renew; wait for a new token or the end.
			select {
			case <-ctx.Done():
				return nil
			case <-s.tokenChanged:
				continue
			}
		}
		w, err := s.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{
			Secret:        &api.Secret{Auth: tok},
			RenewBehavior: api.RenewBehaviorIgnoreErrors,
		})
		if err != nil {
			return fmt.Errorf("vaultstore: token watcher: %w", err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.Start()
		}()
		relogin := s.watch(ctx, w)
		w.Stop()
		<-done
		if ctx.Err() != nil {
			return nil
		}
		if !relogin {
			continue
		}
		if !s.auth.canRelogin() {
			s.log.Error("vault token reached the end of its lifetime and cannot be replaced (static token); configure a token file, AppRole or Kubernetes auth")
			<-ctx.Done()
			return nil
		}
		s.reloginLoop(ctx)
		if next := s.currentToken(); next != nil && next.ClientToken == tok.ClientToken {
			// A token file that still holds the same token: wait before
			// looking at it again rather than spin on a token near its end.
			if !sleepCtx(ctx, same.NextBackOff()) {
				return nil
			}
		} else {
			same.Reset()
		}
	}
}

// sleepCtx waits d or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watch follows one watcher until it ends (true: log in again), the token
// is replaced by another login, or ctx ends (false).
func (s *Client) watch(ctx context.Context, w *api.LifetimeWatcher) (relogin bool) {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.tokenChanged:
			return false
		case r := <-w.RenewCh():
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				s.log.Debug("vault token renewed", zap.Int("ttl_seconds", r.Secret.Auth.LeaseDuration))
			}
		case err := <-w.DoneCh():
			if err != nil {
				s.log.Warn("vault token renewal failed; logging in again", zap.String("method", s.auth.name()), zap.Error(err))
			} else {
				s.log.Info("vault token near its end; logging in again", zap.String("method", s.auth.name()))
			}
			return true
		}
	}
}

// reloginLoop logs in until it succeeds or ctx ends.
func (s *Client) reloginLoop(ctx context.Context) {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(250*time.Millisecond),
		backoff.WithMaxInterval(reloginMax),
		backoff.WithMaxElapsedTime(0),
	)
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := s.loginOnce(attemptCtx)
		cancel()
		if err == nil {
			// Our own login signalled tokenChanged: drain it so the next
			// watcher is not stopped at once.
			select {
			case <-s.tokenChanged:
			default:
			}
			return
		}
		wait := b.NextBackOff()
		s.log.Warn("vault login failed; retrying", zap.String("method", s.auth.name()),
			zap.Duration("retry_in", wait), zap.Error(loginError(s.auth.name(), err)))
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}
