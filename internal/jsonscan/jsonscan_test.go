package jsonscan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// FuzzAgreesWithEncodingJSON holds the decoder to encoding/json: what it reads as one value is
// what json.Valid accepts, and a string it decodes is the one json.Unmarshal gives.
func FuzzAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, ` [1, 2.5e3, -0, true, false, null, {}] `, `"x\"y\\z\/\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`,
		`"\ud800"`, "\"\xff\"", `{"a":1,}`, `01`, `1.`, `-`, `1e`, `1e+`, `"a` + "\x01" + `"`, ``, `{"a" 1}`,
		`{"a":"b"}x`, `{"\u0061":"b"}`, `nul`, `"\x"`, `"\u12"`, strings.Repeat("[", 600) + strings.Repeat("]", 600),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := NewDecoder(s)
		ok := d.Skip() && d.End()
		valid := json.Valid([]byte(s))
		if ok && !valid {
			t.Fatalf("%q: read as one value, but json.Valid refuses it", s)
		}
		if !ok && valid && !deep(s) {
			t.Fatalf("%q: json.Valid accepts it, the decoder does not", s)
		}
		d = NewDecoder(s)
		if got, ok := d.String(); ok && d.End() {
			var want string
			if err := json.Unmarshal([]byte(s), &want); err != nil || got != want {
				t.Fatalf("%q: String = %q, json.Unmarshal = %q, %v", s, got, want, err)
			}
		}
	})
}

// deep reports whether s nests deeper than the decoder follows; brackets within strings do
// not count.
func deep(s string) bool {
	n, top, inString := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++ // the escaped byte
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			n++
			top = max(top, n)
		case c == ']' || c == '}':
			n--
		}
	}
	return top > maxDepth
}

func TestDeepCountsNestingOutsideStrings(t *testing.T) {
	nested := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if !deep(nested) || deep(`["`+nested+`"]`) || deep(`["\"`+nested+`"]`) {
		t.Errorf("deep counts brackets within strings, or misses nesting outside them")
	}
}

func TestObjectReadsMembersInOrder(t *testing.T) {
	d := NewDecoder(` {"a": "x", "b": {"c": [1, "y"]}, "d": null} `)
	var names, values []string
	ok := d.Object(func(name string) bool {
		names = append(names, name)
		v, ok := d.Raw()
		values = append(values, v)
		return ok
	}) && d.End()
	if !ok {
		t.Fatal("Object refused a well-formed object")
	}
	if got := strings.Join(names, ","); got != "a,b,d" {
		t.Errorf("names %s", got)
	}
	if got := strings.Join(values, "|"); got != `"x"|{"c": [1, "y"]}|null` {
		t.Errorf("values %s", got)
	}
}

func TestObjectLeavesUnusualTextsToEncodingJSON(t *testing.T) {
	for _, s := range []string{`{"\u0061":1}`, "{\"\xf6\":1}", `{"a":1`, `[1]`, `{"a":1}}`, `{"a":1,}`} {
		d := NewDecoder(s)
		if d.Object(func(string) bool { return d.Skip() }) && d.End() {
			t.Errorf("%s: read", s)
		}
	}
}

func TestAnyObjectDecodesEveryName(t *testing.T) {
	d := NewDecoder(`{"n": -1.5e3, "a\"b": 2, "\u00e9": [3], "` + "\xff" + `": 4, "n": 5}`)
	var got []string
	number := func(name string) bool {
		n, ok := d.Number()
		got = append(got, fmt.Sprintf("%s=%s@%d", name, n, d.Depth()))
		return ok
	}
	ok := d.AnyObject(func(name string) bool {
		if d.Peek() == '[' {
			return d.Array(func() bool { return number(name) })
		}
		return number(name)
	}) && d.End()
	if want := "n=-1.5e3@1 a\"b=2@1 é=3@2 \ufffd=4@1 n=5@1"; !ok || strings.Join(got, " ") != want {
		t.Errorf("read %v: %s, want %s", ok, strings.Join(got, " "), want)
	}
}

func TestStringDecodesWithoutCopyingPlainStrings(t *testing.T) {
	s := `"plain ascii and ünïcode"`
	d := NewDecoder(s)
	got, ok := d.String()
	if !ok || got != s[1:len(s)-1] {
		t.Fatalf("String = %q, %v", got, ok)
	}
	if n := testing.AllocsPerRun(100, func() { d := NewDecoder(s); d.String() }); n != 0 {
		t.Errorf("%v allocations for a plain string", n)
	}
}

func TestFoldsTo(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{{"id", false}, {"ID", true}, {"Id", true}, {"ids", false}, {"\u212a" + "ey", true}, {"other", false}} {
		if got := FoldsTo(tt.name, "id", "key"); got != tt.want {
			t.Errorf("FoldsTo(%q) = %v", tt.name, got)
		}
	}
}

// TestLongStringsAtEveryOffset puts each kind of byte a string's scan stops at (an escape, a
// control character, the end) at every offset of a long string, so that the eight-bytes-a-step
// scan meets each at each place in a word.
func TestLongStringsAtEveryOffset(t *testing.T) {
	for _, insert := range []string{`\"`, `\\`, `\/`, `\n`, `\t`, `\u00e9`, "\x01", "\x1f", `"`, "é", "\xff", " ", "~", "\x7f"} {
		for at := 0; at <= 40; at++ {
			body := strings.Repeat("a", at) + insert + strings.Repeat("b", 40-at) + `\"` + strings.Repeat("c", at%9)
			s := `"` + body + `"`
			d := NewDecoder(s)
			got, ok := d.String()
			ok = ok && d.End()
			var want string
			err := json.Unmarshal([]byte(s), &want)
			if ok != (err == nil) || ok && got != want {
				t.Fatalf("%q: String = %q, %v; json.Unmarshal = %q, %v", s, got, ok, want, err)
			}
			d = NewDecoder(s)
			if valid := d.Skip() && d.End(); valid != json.Valid([]byte(s)) {
				t.Fatalf("%q: Skip = %v, json.Valid disagrees", s, valid)
			}
		}
	}
}

func TestMembersFirst(t *testing.T) {
	var m Members
	for _, step := range []struct {
		n    int
		want bool
	}{{0, true}, {15, true}, {0, false}, {3, true}, {15, false}, {3, false}} {
		if got := m.First(step.n); got != step.want {
			t.Errorf("First(%d) = %v, want %v", step.n, got, step.want)
		}
	}
}

// BenchmarkSkip reads over a canonical record as record.Read reads its data, and an SQS body.
func BenchmarkSkip(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"record", `{"id":"order-20261123-0001","type":"order","key":"SKU-12345","time":"2026-11-23T10:00:00.123Z",` +
			`"data":{"customer":{"name":"Jane Doe"},"sku":"SKU-4711-0001","price":1299.99,"tags":[1,true,null,-2.5e3],` +
			`"shipTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"}}}`},
		{"long-string", `{"body":"` + strings.Repeat(`lorem ipsum \"dolor\" sit amet `, 40) + `"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				if d := NewDecoder(bc.in); !d.Skip() {
					b.Fatal("refused")
				}
			}
		})
	}
}
