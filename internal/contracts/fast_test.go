package contracts

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func samples() map[string]string {
	return map[string]string{"order": goodOrder, "device": goodDevice, "inventory": goodInventory, "security": goodSecurity, "data-inserted": goodInserted}
}

// TestFastPathCoversTheContracts: every contract is simple enough for the fast path, and it
// accepts the valid samples, or the transformer would pay the library's price on every record.
func TestFastPathCoversTheContracts(t *testing.T) {
	s, err := Load(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	for typ, doc := range samples() {
		f := s.fast[typ]
		if f == nil {
			t.Errorf("%s: schema not compiled for the fast path", typ)
			continue
		}
		if _, ok := f.accepts([]byte(doc), 0); !ok {
			t.Errorf("%s: fast path does not accept the valid sample", typ)
		}
	}
}

// TestFastPathNeverAcceptsWhatTheLibraryRefuses mutates the samples in ways that break and keep
// their schemas, and checks that the fast path's yes always agrees with the library.
func TestFastPathNeverAcceptsWhatTheLibraryRefuses(t *testing.T) {
	s, err := Load(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	replacements := []string{`null`, `true`, `false`, `0`, `-1`, `1.5`, `1.0`, `1e300`, `"x"`, `""`, `"2026-02-30T10:00:00Z"`,
		`"2024-02-29T23:59:59.5+05:30"`, `"2026-11-23T10:00:00z"`, `"arn:aws:securityhub:us-east-1:123456789012:insight/1"`,
		`"Custom:X"`, `"HDB"`, `"H\u0044B"`, `"00"`, `"` + strings.Repeat("é", 300) + `"`, `"a\u0000b"`, `{}`, `[]`, `[{"a":1}]`,
		`1000000`, `1000000.0000001`, `-273.15`, `-273.1500000000000001`, `-273.16`, `"order"`, `"DataInserted"`}
	fastYes, libYes := 0, 0
	for typ, doc := range samples() {
		for range 3000 {
			var v any
			d := json.NewDecoder(strings.NewReader(doc))
			d.UseNumber()
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			for range 1 + rng.IntN(2) {
				v = mutate(rng, v, replacements)
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			_, fast := s.fast[typ].accepts(b, 0)
			var back any
			d = json.NewDecoder(strings.NewReader(string(b)))
			d.UseNumber()
			_ = d.Decode(&back)
			lib := s.Validate(typ, back) == nil
			if fast && !lib {
				t.Fatalf("%s: fast path accepts what the library refuses: %s\n%v", typ, b, s.Validate(typ, back))
			}
			if fast {
				fastYes++
			}
			if lib {
				libYes++
			}
		}
	}
	t.Logf("fast path accepted %d of the %d mutants the library accepted", fastYes, libYes)
}

// mutate changes one randomly chosen place in v: replaces a value, drops or adds a member.
func mutate(rng *rand.Rand, v any, repl []string) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		if len(keys) == 0 || rng.IntN(6) == 0 {
			x[fmt.Sprintf("k%d", rng.IntN(3))] = fresh(repl[rng.IntN(len(repl))])
			return x
		}
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(5) {
		case 0:
			delete(x, k)
		case 1:
			x[k] = fresh(repl[rng.IntN(len(repl))])
		default:
			x[k] = mutate(rng, x[k], repl)
		}
		return x
	case []any:
		if len(x) == 0 || rng.IntN(5) == 0 {
			return append(x, fresh(repl[rng.IntN(len(repl))]))
		}
		i := rng.IntN(len(x))
		x[i] = mutate(rng, x[i], repl)
		return x
	}
	return fresh(repl[rng.IntN(len(repl))])
}

func fresh(doc string) any {
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	_ = d.Decode(&v)
	return v
}

// FuzzFastPath: for any JSON document, the fast path's yes is the library's yes.
func FuzzFastPath(f *testing.F) {
	for _, doc := range samples() {
		f.Add(doc)
	}
	s, err := Load(repoDir)
	if err != nil {
		f.Fatal(err)
	}
	types := []string{"order", "device", "inventory", "security", "data-inserted"}
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return
		}
		var v any
		d := json.NewDecoder(strings.NewReader(doc))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return
		}
		for _, typ := range types {
			end, fast := s.fast[typ].accepts([]byte(doc), 0)
			if fast && skipSpace([]byte(doc), end) == len(doc) && s.Validate(typ, v) != nil {
				t.Fatalf("%s: fast path accepts what the library refuses: %s", typ, doc)
			}
		}
	})
}
