package jsonattr

import (
	"strings"
	"testing"
)

// BenchmarkFromJSON converts an order's data as the storer does, and values of every kind.
func BenchmarkFromJSON(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"order", `{"customer":{"name":"Jane Doe"},"sku":"SKU-4711-0001","price":1299.99,` +
			`"shipTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"},` +
			`"billTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"}}`},
		{"mixed", `{"n":[1,-2.5,3e10,0.000001,120000000000000000000000000000000000000000],"b":[true,false,null],` +
			`"s":"caf\u00e9 \"quoted\"\n","u":"ünïcödé","deep":{"a":{"b":{"c":[[],{},[{"d":1}]]}}}}`},
		{"long-strings", `{"text":"` + strings.Repeat("lorem ipsum dolor sit amet ", 40) + `","more":"` + strings.Repeat("x", 500) + `"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := []byte(bc.in)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := FromJSON(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
