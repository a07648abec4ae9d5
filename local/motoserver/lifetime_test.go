package motoserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needMoto skips the test without moto_server, except under CI, which installs it.
func needMoto(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(InstallHint)
		}
		t.Skip(InstallHint)
	}
}

func answers(url string) bool {
	resp, err := http.Get(url + "/moto-api/")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return true
}

// TestPinnedVersion: the pin is read from requirements.txt, the one place it is written.
func TestPinnedVersion(t *testing.T) {
	if got := pinned("# why\nboto3\nmoto[server]==5.2.1\n"); got != "5.2.1" {
		t.Errorf("pinned = %q, want 5.2.1", got)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(Pinned) || !strings.Contains(requirements, "moto[server]=="+Pinned) {
		t.Errorf("Pinned = %q, not the version requirements.txt names:\n%s", Pinned, requirements)
	}
}

func TestVersionWarning(t *testing.T) {
	if w := versionWarning("5.2.1", "5.2.1"); w != "" {
		t.Errorf("the pinned version warns: %q", w)
	}
	w := versionWarning("5.3.0", "5.2.1")
	for _, want := range []string{"moto 5.3.0 is installed", "5.2.1", "pip install -r local/motoserver/requirements.txt"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q does not say %q", w, want)
		}
	}
	if w := versionWarning("", "5.2.1"); !strings.Contains(w, "could not tell") {
		t.Errorf("an unread version warns %q", w)
	}
}

// Start reads the version from the Python that runs moto_server, not from whatever python is
// first on PATH.
func TestStartReadsTheRunningVersion(t *testing.T) {
	needMoto(t)
	s, err := Start(t.Context(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !regexp.MustCompile(`^\d+\.\d+`).MatchString(s.Version) {
		t.Fatalf("Version = %q, want the running moto's version", s.Version)
	}
	if w := s.VersionWarning(); w != "" {
		t.Logf("this machine's moto is not the pinned one: %s", w)
	}
}

// Linux signals a child's parent death when the thread that forked it ends. A caller's
// goroutine locked to its thread that returns ends the thread: moto_server must outlive it.
func TestMotoOutlivesTheCallersThread(t *testing.T) {
	needMoto(t)
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	type result struct {
		s   *Server
		tid int
		err error
	}
	// The runtime parks the main thread rather than end it, so Start is called on another one:
	// a goroutine locked to its thread holds that thread while it waits for the next.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var startOffMain func() result
	startOffMain = func() result {
		got := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				defer runtime.UnlockOSThread()
				got <- startOffMain()
				return
			}
			// Never unlocked: the runtime ends this thread when the goroutine returns.
			s, err := Start(context.Background(), 0, nil)
			got <- result{s, syscall.Gettid(), err}
		}()
		return <-got
	}
	r := startOffMain()
	if r.err != nil {
		t.Fatal(r.err)
	}
	task := fmt.Sprintf("/proc/self/task/%d", r.tid)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			r.s.Stop()
			t.Fatalf("thread %d did not end", r.tid)
		}
	}
	if !answers(r.s.URL) {
		t.Error("moto_server stopped answering when the thread that called Start ended")
	}
	// A parent-death SIGKILL, had it been sent, would already be pending and win over this one.
	_ = syscall.Kill(-r.s.cmd.Process.Pid, syscall.SIGTERM)
	err := <-r.s.done
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			t.Error("moto_server was killed when the thread that called Start ended")
		}
	}
}

// moto_server ends with the process that started it, even when that process is killed and
// cannot stop it: the test starts a copy of itself that starts moto, then kills the copy.
func TestMotoEndsWithAKilledStarter(t *testing.T) {
	if os.Getenv("S2E_MOTO_STARTER") == "1" {
		s, err := Start(context.Background(), 0, nil)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(s.URL, s.cmd.Process.Pid)
		select {} // until killed
	}
	needMoto(t)
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	starter := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMotoEndsWithAKilledStarter$")
	starter.Env = append(os.Environ(), "S2E_MOTO_STARTER=1")
	starter.Stderr = os.Stderr
	out, err := starter.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := starter.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	var url string
	var pid int
	if _, scanErr := fmt.Sscan(line, &url, &pid); err != nil || scanErr != nil {
		_ = starter.Process.Kill()
		_ = starter.Wait()
		t.Fatalf("the starter said %q (%v, %v)", line, err, scanErr)
	}
	if !answers(url) {
		t.Fatalf("moto_server at %s does not answer while its starter runs", url)
	}
	_ = starter.Process.Kill()
	_ = starter.Wait()
	for deadline := time.Now().Add(30 * time.Second); answers(url) || running(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			up, alive := answers(url), running(pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("moto_server (pid %d) outlived its killed starter: still answers %v, still running %v", pid, up, alive)
		}
	}
}

// running reports whether pid is a process that has not exited; an exited one that its new
// parent has not reaped yet (a zombie) does not count.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may hold spaces.
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
