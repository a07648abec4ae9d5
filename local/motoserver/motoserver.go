// Package motoserver starts moto_server, the local AWS emulator, on a free loopback port and
// stops it again. The local runner uses it, and so do the adapter tests.
package motoserver

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// InstallHint tells a user how to get moto_server.
const InstallHint = `moto_server was not found on PATH. Install it with: pip install -r local/motoserver/requirements.txt`

// ErrNotInstalled is returned by Start when moto_server is not on PATH.
var ErrNotInstalled = errors.New(InstallHint)

// sitecustomize makes moto answer faster without changing what it answers (see the file):
// EventBridge's deliveries to a target a hundred times faster, and SQS calls on a deep queue in
// milliseconds instead of seconds. moto_server's Python loads it from PYTHONPATH at start.
//
//go:embed sitecustomize.py
var sitecustomize []byte

//go:embed requirements.txt
var requirements string

// Pinned is the moto version that requirements.txt names: the one whose internals
// sitecustomize.py is written against.
var Pinned = pinned(requirements)

// pinned reads the version of the moto requirement ("moto[server]==5.2.1").
func pinned(reqs string) string {
	for line := range strings.Lines(reqs) {
		line = strings.TrimSpace(line)
		if name, version, ok := strings.Cut(line, "=="); ok && strings.HasPrefix(name, "moto") {
			return strings.TrimSpace(version)
		}
	}
	panic("local/motoserver/requirements.txt names no moto==VERSION")
}

// Server is a running moto_server.
type Server struct {
	URL     string // http://127.0.0.1:PORT
	Version string // the moto it runs, as its Python reports it; empty when that could not be read
	cmd     *exec.Cmd
	done    chan error
}

// VersionWarning says, in a sentence for the user, when the moto that runs is not the pinned
// one; it is empty when they match. Another version still runs: sitecustomize.py leaves out a
// patch whose part of moto has changed, so the run may be slower, or meet the bugs it fixes.
func (s *Server) VersionWarning() string {
	return versionWarning(s.Version, Pinned)
}

func versionWarning(installed, pinned string) string {
	const fix = "; the local run may be slower or lose SQS messages. Install the pinned one: pip install -r local/motoserver/requirements.txt"
	switch installed {
	case pinned:
		return ""
	case "":
		return "could not tell which moto version moto_server runs; sitecustomize.py is written against moto " + pinned + fix
	}
	return "moto " + installed + " is installed, but sitecustomize.py is written against moto " + pinned + fix
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs moto_server on 127.0.0.1 at port (a free one when 0) and waits until it answers.
// Its output goes to logw when not nil.
func Start(ctx context.Context, port int, logw *os.File) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, fmt.Errorf("moto_server: pick a port: %w", err)
		}
	}
	site, err := os.MkdirTemp("", "s2e-moto-site-")
	if err != nil {
		return nil, fmt.Errorf("moto_server: %w", err)
	}
	if err := os.WriteFile(filepath.Join(site, "sitecustomize.py"), sitecustomize, 0o600); err != nil {
		_ = os.RemoveAll(site)
		return nil, fmt.Errorf("moto_server: %w", err)
	}
	pythonPath := site
	if p := os.Getenv("PYTHONPATH"); p != "" {
		pythonPath += string(os.PathListSeparator) + p
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)) // #nosec G204 -- bin is moto_server as found on PATH, its arguments a fixed host and a number
	versionFile := filepath.Join(site, "moto-version")
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true", "PYTHONPATH="+pythonPath, "S2E_MOTO_VERSION_FILE="+versionFile)
	if logw != nil {
		cmd.Stdout, cmd.Stderr = logw, logw
	}
	// Its own process group, so that Stop ends what it spawns; and, on Linux, killed with the
	// process that started it, even when that process is killed and Stop never runs.
	cmd.SysProcAttr = procAttr()
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan error, 1)}
	started := make(chan error, 1)
	go func() {
		// Linux sends the parent-death signal when the thread that forked the child ends, not
		// the process. The Go runtime ends a thread when a goroutine locked to it returns, so
		// this goroutine holds its thread from the fork until moto_server has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			_ = os.RemoveAll(site)
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		_ = os.RemoveAll(site)
		s.done <- err
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("moto_server: start: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			// sitecustomize.py wrote it as moto_server's Python started, before it answered.
			if v, err := os.ReadFile(versionFile); err == nil { // #nosec G304 -- a file this process created in its own temporary directory
				s.Version = strings.TrimSpace(string(v))
			}
			return s, nil
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("moto_server exited before it answered: %v", err)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("moto_server did not answer on %s within 60s", s.URL)
		}
	}
}

// Reset drops every resource moto holds, so a test starts from nothing.
func (s *Server) Reset() error {
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Stop ends moto_server and its children.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}
