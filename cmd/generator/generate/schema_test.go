package generate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// contractsDir is the contracts layer, where the one copy of the schemas lives.
const contractsDir = "../../../layers/contracts"

func loadSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, typ := range Types {
		path, err := filepath.Abs(filepath.Join(contractsDir, typ+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("schema of %s: %v", typ, err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("schema of %s: %v", typ, err)
		}
		url := "file://" + filepath.ToSlash(path)
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
		if out[typ], err = c.Compile(url); err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
	}
	return out
}

// TestRecordsMatchTheContracts keeps the generator and the contracts layer in step: every valid
// envelope record must pass its type's schema, every schema-flawed one must fail it.
func TestRecordsMatchTheContracts(t *testing.T) {
	schemas := loadSchemas(t)
	rs := mustGenerate(t, Options{Seed: 42, Invalid: 0.3}, 2000)
	checked := map[string]int{}
	for _, r := range rs {
		if r.Raw() || r.Duplicate() || (!r.Valid() && r.Flaw != FlawSchema) {
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatalf("record %d: %v", r.Seq, err)
		}
		err = schemas[r.Type].Validate(doc)
		switch {
		case r.Valid() && err != nil:
			t.Fatalf("valid %s record %d fails its schema: %v\n%s", r.Type, r.Seq, err, r.Data)
		case !r.Valid() && err == nil:
			t.Fatalf("schema-flawed %s record %d passes its schema:\n%s", r.Type, r.Seq, r.Data)
		}
		checked[r.Type+" "+string(r.Flaw)]++
	}
	for _, typ := range Types {
		if checked[typ+" "] == 0 || checked[typ+" "+string(FlawSchema)] == 0 {
			t.Errorf("%s: %d valid and %d schema-flawed records checked, want some of each", typ, checked[typ+" "], checked[typ+" "+string(FlawSchema)])
		}
	}
}
