// Package template holds template.yaml, the flow file (statemachine-free/flow.yaml) and the
// Makefile's build targets to the contracts in docs/: cfn-lint, the invariants every function
// and resource keeps, least privilege, the flow file's agreement with the template, and that
// each build-<LogicalId> target yields what Lambda runs.
package template

import (
	"os"
	"testing"
)

// TestMain runs the checks from the repository's root, where template.yaml, the Makefile and
// the flow file are, as a user runs sam and make.
func TestMain(m *testing.M) {
	if err := os.Chdir("../.."); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
