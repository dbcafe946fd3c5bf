package testbin

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sidekey/sidekey/internal/vaulttest"
)

// Proc is a long-running process started by Daemon.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Logs *Output
	done chan struct{}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// logTail is how much of a process's output a failed test shows.
const logTail = 16 << 10

// Daemon starts bin with args, stopped with SIGTERM (then SIGKILL after
// 20 s) when the test ends; the tail of its output is logged if the test
// failed.
func Daemon(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Logs: &Output{}, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...) // #nosec G204 -- a binary the test built
	p.Cmd.Stdout, p.Cmd.Stderr = p.Logs, p.Logs
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			logs := p.Logs.String()
			if len(logs) > logTail {
				logs = "…" + logs[len(logs)-logTail:]
			}
			t.Logf("%s logs (tail):\n%s", name, logs)
		}
	})
	return p
}

// FreeHostPort returns a loopback host:port that was free a moment ago.
func FreeHostPort(t testing.TB) string {
	t.Helper()
	return strings.TrimPrefix(vaulttest.FreeAddr(t), "http://")
}

// readyWait bounds WaitOK.
const readyWait = 60 * time.Second

// WaitOK polls u until it answers 200, failing the test after a minute.
func WaitOK(t testing.TB, u string) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for {
		status, err := GetStatus(u)
		if err == nil && status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not ready after %s (last: %d, %v)", u, readyWait, status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// GetStatus GETs u with a 5 s timeout and returns the status code,
// discarding the body.
func GetStatus(u string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
