package testbin

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a long-running process started by Daemon.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Logs *Output
	done chan struct{}
	err  error // of Cmd.Wait, set before done is closed
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

// Err is how the process ended (Cmd.Wait's error); call it after Done.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// logTail is how much of a process's output a failed test shows.
const logTail = 16 << 10

// Daemon starts bin with args, stopped with SIGTERM (then SIGKILL after
// 20 s) when the test ends; the tail of its output is logged if the test
// failed.
func Daemon(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	return DaemonCmd(t, name, exec.Command(bin, args...)) // #nosec G204 -- a binary the test built
}

// DaemonCmd is Daemon for a prepared command (environment, directory); its
// output goes to the Proc's Logs.
func DaemonCmd(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Name: name, Cmd: cmd, Logs: &Output{}, done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Logs, p.Logs
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(syscall.SIGTERM, 20*time.Second)
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

// Stop sends sig to the process and waits for it to end, killing it after
// timeout. It does nothing when the process has ended.
func (p *Proc) Stop(sig syscall.Signal, timeout time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(sig)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// StartReady starts cmd and waits until it prints a line starting with
// readyPrefix on stdout; it returns the rest of that line. The process's
// stderr goes to the Proc's Logs. It is for development servers
// (bin/vaultdev, bin/oidcdev) that a test stops (Proc.Stop) and starts
// again: the process is killed when the test process dies, however it
// dies, and it is killed when it is not ready within timeout.
func StartReady(name string, cmd *exec.Cmd, readyPrefix string, timeout time.Duration) (*Proc, string, error) {
	p := &Proc{Name: name, Cmd: cmd, Logs: &Output{}, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: stdout pipe: %w", name, err)
	}
	cmd.Stderr = p.Logs
	// The death signal follows the thread that started the child, so that
	// thread stays locked to the goroutine that waits for the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), readyPrefix); ok {
				select {
				case ready <- rest:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case rest := <-ready:
		return p, rest, nil
	case <-p.done:
		return nil, "", fmt.Errorf("%s exited before it was ready: %s", name, strings.TrimSpace(p.Logs.String()))
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-p.done
		return nil, "", fmt.Errorf("%s not ready after %s: %s", name, timeout, strings.TrimSpace(p.Logs.String()))
	}
}

// FreeHostPort returns a loopback host:port that was free a moment ago.
func FreeHostPort(t testing.TB) string {
	t.Helper()
	ln := Listen(t)
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// readyWait bounds WaitOK.
const readyWait = 60 * time.Second

// WaitOK polls u until it answers 200, failing the test after a minute.
func WaitOK(t testing.TB, u string) {
	t.Helper()
	if err := PollOK(u, nil); err != nil {
		t.Fatalf("%s is not ready: %v", u, err)
	}
}

// PollOK polls u until it answers 200 and returns nil. It gives up after a
// minute, at once on a 4xx answer (not a start-up state: the path is wrong),
// and when p (if not nil) has exited. It bounds a wait for start-up; it is
// not a timing assertion.
func PollOK(u string, p *Proc) error {
	var exited <-chan struct{}
	if p != nil {
		exited = p.done
	}
	deadline := time.After(readyWait)
	var last error
	for {
		status, err := GetStatus(u)
		switch {
		case err != nil:
			last = err
		case status == http.StatusOK:
			return nil
		case status >= 400 && status < 500:
			return fmt.Errorf("status %d", status)
		default:
			last = fmt.Errorf("status %d", status)
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited (%w); last answer: %w", p.err, last)
		case <-deadline:
			return fmt.Errorf("not ready after %s; last answer: %w", readyWait, last)
		case <-time.After(100 * time.Millisecond):
		}
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
