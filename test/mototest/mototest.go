// Package mototest starts a moto_server for a test and points the AWS SDK at it. It is the
// tests' side of local/motoserver, kept here so that the stand-in for AWS does not link the
// testing package.
package mototest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stream-to-events/stream-to-events/local/motoserver"
)

// Start starts a moto_server for the test and stops it when the test ends. It points the AWS
// SDK at it through the environment (AWS_ENDPOINT_URL, test credentials, us-east-1), so code
// that builds its clients with awsclient talks to moto. Without moto_server the test is skipped,
// except under CI (CI=true), where it fails: CI installs moto and must not pass without it.
func Start(t testing.TB) *motoserver.Server {
	t.Helper()
	Require(t)
	s, err := motoserver.Start(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	t.Setenv("AWS_ENDPOINT_URL", s.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	// Unset rather than empty: the AWS CLI reads an empty AWS_PROFILE as a profile named "".
	t.Setenv("AWS_PROFILE", "")
	_ = os.Unsetenv("AWS_PROFILE")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	return s
}

// Require skips the test when moto_server is not installed, except under CI (CI=true), where it
// fails: CI installs moto and must not pass without it. It is for tests that start moto their
// own way (through the local runner, say) rather than with Start.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(motoserver.InstallHint)
		}
		t.Skip(motoserver.InstallHint)
	}
}
