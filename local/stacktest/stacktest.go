// Package stacktest gives tests of the local emulator the repository's real template.yaml,
// provisioned in a moto_server by the real local stack, so that a service's test runs against
// the resources the template declares rather than a stand-in for them. It is kept apart from
// local/stack because that package's own tests start moto through test/mototest.
package stacktest

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/stack"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// apiURL is where the stack tells its functions the API is; these tests serve no API.
const apiURL = "http://127.0.0.1:3000"

// Provisioned starts a moto_server for the test (see mototest.Start) and provisions the
// repository's template.yaml in it. It returns the stack and an SDK config that talks to moto.
// A template.yaml that is missing or does not load fails the test: it is part of the
// repository, and a test of it must not pass without it.
func Provisioned(t testing.TB) (*stack.Stack, aws.Config) {
	t.Helper()
	tmpl, err := samtemplate.Load(templatePath(t))
	if err != nil {
		t.Fatal(err)
	}
	moto := mototest.Start(t)
	st, err := stack.New(tmpl, stack.Options{BuildDir: t.TempDir(), Endpoint: moto.URL, APIURL: apiURL})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Provision(t.Context(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	return st, cfg
}

// templatePath is the repository's template.yaml: the one beside go.mod, found from the test's
// working directory upwards, so that a test finds it from any package's folder.
func templatePath(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "template.yaml")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// LogBuffer takes the log lines of the functions a test runs (lambdaproc's or the runner's
// Options.Logs), written from their processes while the test reads them.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitUntil polls cond every 50 ms until it holds or within has passed, and reports whether it
// held: the local services work in the background, and a test waits for what they should do.
func WaitUntil(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
