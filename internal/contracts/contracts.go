// Package contracts holds the JSON Schemas of the record types, loaded once from the contracts
// layer (/opt/contracts in Lambda, layers/contracts in the repo), so the transformer validates
// each record against the one copy of the schemas that the generator and the docs use too.
package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// DefaultDir is where the contracts layer puts the schemas in Lambda.
const DefaultDir = "/opt/contracts"

// Suffix ends every schema file's name; what precedes it is the record type it describes.
const Suffix = ".schema.json"

// ErrInvalid is wrapped by every error about a document that breaks its type's schema.
var ErrInvalid = errors.New("does not match its schema")

var printer = message.NewPrinter(language.English)

// Dir is the schema directory of this environment: CONTRACTS_DIR, else DefaultDir.
func Dir() string {
	if d := os.Getenv("CONTRACTS_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// Set is the compiled schemas by record type. It is safe for concurrent use.
type Set struct {
	dir     string
	schemas map[string]*jsonschema.Schema
	fast    map[string]*node // nil entry: the schema uses keywords only the library knows
}

// Load compiles every <type>.schema.json in dir. A directory that is missing or holds no schema
// is an error: a transformer without its contracts would let every record through unchecked.
func Load(dir string) (*Set, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+Suffix))
	if err != nil {
		return nil, fmt.Errorf("contracts %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("contracts: schema directory: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("contracts: no *%s file in %s", Suffix, dir)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // a "date-time" that is not one is a producer's error worth reporting
	c.UseRegexpEngine(patterns{}.compile)
	s := &Set{dir: dir, schemas: make(map[string]*jsonschema.Schema, len(paths)), fast: make(map[string]*node, len(paths))}
	for _, p := range paths {
		f, err := os.Open(p) // #nosec G304 -- a *.schema.json file of the contracts directory this process was configured with
		if err != nil {
			return nil, fmt.Errorf("contracts: %w", err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		_ = f.Close() // read-only: a close error cannot lose data
		if err != nil {
			return nil, fmt.Errorf("contracts: %s is not JSON: %w", p, err)
		}
		// Schemas are registered under their file URL, so a $id pointing elsewhere is never
		// fetched: the layer is the only source.
		url := "file://" + filepath.ToSlash(p)
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("contracts: %s: %w", p, err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("contracts: compile %s: %w", p, err)
		}
		typ := strings.TrimSuffix(filepath.Base(p), Suffix)
		s.schemas[typ] = sch
		s.fast[typ] = compileFast(sch)
	}
	return s, nil
}

// patterns compiles each distinct pattern once per Load. The library compiles a schema's
// "pattern" twice (to check it against the meta-schema's "format": "regex", then for the schema
// itself) and the contracts repeat the id and type patterns in every schema; compiling them was
// about half of Load, paid at every cold start of the transformer.
type patterns map[string]*regexp.Regexp

func (p patterns) compile(expr string) (jsonschema.Regexp, error) {
	if re, ok := p[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	p[expr] = re
	return re, nil
}

// Dir is the directory the schemas were loaded from.
func (s *Set) Dir() string { return s.dir }

// Types lists the record types that have a schema, sorted.
func (s *Set) Types() []string {
	out := make([]string, 0, len(s.schemas))
	for t := range s.schemas {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Has reports whether typ has a schema.
func (s *Set) Has(typ string) bool {
	_, ok := s.schemas[typ]
	return ok
}

// Validate checks doc (as decoded by encoding/json with UseNumber, or built of maps, slices,
// strings, json.Number, bool and nil) against the schema of typ. Types without a schema are
// accepted, as the design says. The error names the first failing location, as a JSON pointer.
func (s *Set) Validate(typ string, doc any) error {
	sch, ok := s.schemas[typ]
	if !ok {
		return nil
	}
	err := sch.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%s record: %w: %w", typ, ErrInvalid, err)
	}
	leaf := firstLeaf(ve)
	return fmt.Errorf("%s record %w: at %s: %s", typ, ErrInvalid, pointer(leaf.InstanceLocation), leaf.ErrorKind.LocalizedString(printer))
}

// Check validates the JSON document doc against the schema of typ, like Validate, without
// decoding it when it is valid and its schema allows the fast path (see fast.go).
func (s *Set) Check(typ string, doc []byte) error {
	if _, ok := s.schemas[typ]; !ok {
		return nil
	}
	if !json.Valid(doc) {
		return fmt.Errorf("%s record %w: not JSON", typ, ErrInvalid)
	}
	return s.CheckValidJSON(typ, doc)
}

// CheckValidJSON is Check for a document the caller has already found to be valid JSON (the
// record parser scans every record once): it skips Check's second syntax pass, about a tenth of
// the transformer's time per record.
func (s *Set) CheckValidJSON(typ string, doc []byte) error {
	if _, ok := s.schemas[typ]; !ok {
		return nil
	}
	if f := s.fast[typ]; f != nil {
		if end, ok := f.accepts(doc, 0); ok && skipSpace(doc, end) == len(doc) {
			return nil
		}
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("%s record %w: %w", typ, ErrInvalid, err)
	}
	return s.Validate(typ, v)
}

// firstLeaf walks down to the most specific cause: "at /data/price: got string, want number"
// helps a producer more than "doesn't validate with order.schema.json#".
func firstLeaf(ve *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(ve.Causes) > 0 {
		// Of several causes (every branch of an anyOf, say) the first is as good a guess as any.
		ve = ve.Causes[0]
	}
	return ve
}

func pointer(loc []string) string {
	if len(loc) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		tok = strings.ReplaceAll(tok, "~", "~0")
		b.WriteString(strings.ReplaceAll(tok, "/", "~1"))
	}
	return b.String()
}
