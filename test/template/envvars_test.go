package template

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/stack"
)

// envVarsPath is the file `sam local invoke --env-vars` reads: per function, its environment
// variables with the values of the local runner's resources, since SAM CLI resolves a Ref to a
// resource as its logical ID (QUEUE_URL=IngestQueue), which no handler can use.
const envVarsPath = "events/env-vars.json"

var updateEnvVars = flag.Bool("update-env-vars", false, "rewrite "+envVarsPath+" from template.yaml and the local runner's names")

// localEndpoint is the local runner's edge endpoint by default (s2e-local start).
const localEndpoint = "http://127.0.0.1:4566"

// TestEnvVarsFile: events/env-vars.json names every environment variable of every function in
// template.yaml, and nothing else, with the value the local runner gives it.
func TestEnvVarsFile(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	want := localEnvironment(t, tpl)
	if *updateEnvVars {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(envVarsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readEnvVars(t)
	for _, p := range checkEnvVarNames(tpl, got) {
		t.Error(p)
	}
	for fn, vars := range want {
		for name, v := range vars {
			if g, ok := got[fn][name]; ok && g != v {
				t.Errorf("%s %s %s = %q, the local runner has %q (go test ./test/template -run TestEnvVarsFile -update-env-vars rewrites the file)", envVarsPath, fn, name, g, v)
			}
		}
	}
}

// TestEnvVarNamesCatchBreakage: a variable added to a function, or a function added, without
// the file following is noticed.
func TestEnvVarNamesCatchBreakage(t *testing.T) {
	t.Parallel()
	file := readEnvVars(t)
	for name, mutate := range map[string]func(*samtemplate.Template){
		"a new variable": func(tp *samtemplate.Template) {
			dig(tp.Resources["EventStorerFunction"].Properties, "Environment", "Variables").(map[string]any)["BATCH_LIMIT"] = "25"
		},
		"a new function": func(tp *samtemplate.Template) {
			tp.Resources["AuditFunction"] = samtemplate.Resource{Type: "AWS::Serverless::Function", Properties: map[string]any{
				"Environment": map[string]any{"Variables": map[string]any{"AUDIT_TABLE": ref("EventStoreTable")}},
			}}
		},
		"a variable dropped": func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["EventEmitterFunction"].Properties, "Environment", "Variables").(map[string]any), "TABLE_ARN")
		},
	} {
		t.Run(name, func(t *testing.T) {
			tpl := loadTemplate(t)
			mutate(tpl)
			if p := checkEnvVarNames(tpl, file); len(p) == 0 {
				t.Error("the check did not notice")
			}
		})
	}
}

// checkEnvVarNames: the file has an entry for each function with environment variables, with
// exactly the names of its Environment.Variables (Globals merged).
func checkEnvVarNames(tpl *samtemplate.Template, file map[string]map[string]string) []string {
	var p problems
	var withVars []string
	for _, fn := range tpl.OfType("AWS::Serverless::Function") {
		vars, _ := dig(function(tpl, fn), "Environment", "Variables").(map[string]any)
		if len(vars) == 0 {
			continue
		}
		withVars = append(withVars, fn)
		p.want(envVarsPath+" "+fn+" names", slices.Sorted(maps.Keys(file[fn])), slices.Sorted(maps.Keys(vars)))
	}
	p.want(envVarsPath+" functions", slices.Sorted(maps.Keys(file)), withVars)
	return p
}

// localEnvironment is each function's environment as the local runner resolves it from the
// template, with its default parameters and endpoint.
func localEnvironment(t *testing.T, tpl *samtemplate.Template) map[string]map[string]string {
	t.Helper()
	s, err := stack.New(tpl, stack.Options{Endpoint: localEndpoint})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for id, fn := range s.Functions() {
		if len(fn.Env) > 0 {
			out[id] = fn.Env
		}
	}
	return out
}

func readEnvVars(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(envVarsPath)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]map[string]string
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("%s: %v", envVarsPath, err)
	}
	return file
}
