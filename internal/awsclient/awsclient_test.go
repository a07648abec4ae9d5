package awsclient

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartReadsTheNamedVariablesAndTheSDKConfig(t *testing.T) {
	// The developer's own AWS configuration stays out: only what the test sets is read.
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{"AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_CA_BUNDLE": "",
		"AWS_REGION": "eu-west-1", "AWSCLIENT_TEST_QUEUE": "https://sqs.example/q"} {
		t.Setenv(k, v)
	}
	fn := Start("AWSCLIENT_TEST_QUEUE")
	if got := fn.Env["AWSCLIENT_TEST_QUEUE"]; got != "https://sqs.example/q" {
		t.Errorf("Env[AWSCLIENT_TEST_QUEUE] = %q", got)
	}
	if fn.Config.Region != "eu-west-1" {
		t.Errorf("Config.Region = %q, want AWS_REGION's", fn.Config.Region)
	}
}

// A function missing its configuration must not serve: Start runs here in a child process, as
// in a function's main, and the process must end with status 1 and one JSON log line that names
// every missing variable.
func TestStartEndsAFunctionMissingItsConfiguration(t *testing.T) {
	if os.Getenv("AWSCLIENT_TEST_CHILD") == "1" {
		Start("AWSCLIENT_TEST_GIVEN", "AWSCLIENT_TEST_UNSET", "AWSCLIENT_TEST_EMPTY")
		return // Start must not return: the parent sees status 0 and fails
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartEndsAFunctionMissingItsConfiguration$") // #nosec G204 -- this test's own binary
	cmd.Env = append(os.Environ(), "AWSCLIENT_TEST_CHILD=1", "AWSCLIENT_TEST_GIVEN=x", "AWSCLIENT_TEST_EMPTY=")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the function went on (%v); output:\n%s", err, out)
	}
	var line struct{ Level, Message, Error string }
	first, _, _ := strings.Cut(string(out), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("first output line %q is not a JSON log line: %v", first, err)
	}
	if line.Level != "ERROR" || line.Message != "start-up" {
		t.Errorf("log line %+v, want level ERROR, message start-up", line)
	}
	for _, v := range []string{"AWSCLIENT_TEST_UNSET", "AWSCLIENT_TEST_EMPTY"} {
		if !strings.Contains(line.Error, v) {
			t.Errorf("error %q does not name %s", line.Error, v)
		}
	}
	if strings.Contains(line.Error, "AWSCLIENT_TEST_GIVEN") {
		t.Errorf("error %q names a variable that is set", line.Error)
	}
}
