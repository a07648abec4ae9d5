// Package lambdatest drives a function's handler in a unit test as Lambda does: a JSON event in,
// a JSON answer out, within the invocation's deadline.
package lambdatest

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// Event reads a sample event (a file of the repository's events/) as a JSON object, for a test
// to break in one place and marshal again.
func Event(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- a sample event of the repository, named by the test
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// InvokeBeforeDeadline invokes handler (what lambda.NewHandler takes) with payload under a
// deadline 300 ms beyond reserve, the time the handler keeps back to answer before Lambda's
// deadline, as when a service it calls does not answer. An answer that comes after the deadline
// fails the test; the answer and the handler's error are returned.
func InvokeBeforeDeadline(t testing.TB, handler any, payload []byte, reserve time.Duration) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), reserve+300*time.Millisecond)
	defer cancel()
	out, err := lambda.NewHandler(handler).Invoke(ctx, payload)
	if ctx.Err() != nil {
		t.Fatal("answered after the deadline")
	}
	return out, err
}

// Answered checks the outcome of an invocation that must fail (wantErr: a clear error rather
// than an answer) or must answer; the wrong one fails the test. It reports whether there is an
// answer, out, for the test to check further.
func Answered(t testing.TB, out string, err error, wantErr bool) bool {
	t.Helper()
	if wantErr {
		if err == nil {
			t.Errorf("no error, response %s", out)
		}
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}
