package stacktest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Fake is a spec.Stack for unit tests of the local services: a small test template whose
// intrinsics the test answers itself, so that a service runs without the real stack naming and
// provisioning anything. Resolve hands each {"Ref": id} to Ref and each
// {"Fn::GetAtt": [id, attribute]} to GetAtt, wherever they stand in a value; every function of
// the template is named FakeName(its logical ID).
type Fake struct {
	Tmpl        *samtemplate.Template
	EndpointURL string
	Ref         func(id string) (any, error)
	GetAtt      func(id, attribute string) (any, error)
}

// NewFake parses yaml as the template of a Fake whose SDK clients talk to endpoint. The caller
// sets Ref and GetAtt.
func NewFake(t testing.TB, yaml, endpoint string) *Fake {
	t.Helper()
	tmpl, err := samtemplate.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &Fake{Tmpl: tmpl, EndpointURL: endpoint}
}

// ReadTemplate reads a Fake's template from a file of the test's package (testdata/…), with
// args in place of its fmt verbs: the settings a test varies.
func ReadTemplate(t testing.TB, path string, args ...any) string {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- a template of the test's own testdata, named by the test
	if err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		return string(b)
	}
	return fmt.Sprintf(string(b), args...)
}

// FakeName is the physical name a Fake gives a function, and that tests may give any resource:
// the logical ID, lower-cased, after the repository's s2e- prefix.
func FakeName(logicalID string) string { return "s2e-" + strings.ToLower(logicalID) }

func (f *Fake) Template() *samtemplate.Template { return f.Tmpl }
func (f *Fake) Endpoint() string                { return f.EndpointURL }

func (f *Fake) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			return f.Ref(ref)
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 {
			if len(ga) != 2 {
				return nil, fmt.Errorf("fake stack: Fn::GetAtt takes a logical ID and an attribute, not %v", ga)
			}
			return f.GetAtt(fmt.Sprint(ga[0]), fmt.Sprint(ga[1]))
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := f.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := f.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func (f *Fake) Functions() map[string]spec.Function {
	out := map[string]spec.Function{}
	for _, id := range f.Tmpl.OfType("AWS::Serverless::Function") {
		name := FakeName(id)
		out[id] = spec.Function{LogicalID: id, Name: name, ARN: "arn:aws:lambda:us-east-1:123456789012:function:" + name}
	}
	return out
}

func (f *Fake) FunctionByARN(arn string) (spec.Function, bool) {
	for _, fn := range f.Functions() {
		if fn.ARN == arn || fn.Name == arn {
			return fn, true
		}
	}
	return spec.Function{}, false
}

var _ spec.Stack = (*Fake)(nil)
