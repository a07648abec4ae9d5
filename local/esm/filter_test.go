package esm

import (
	"encoding/json"
	"testing"
)

func TestFilter(t *testing.T) {
	insert := `{"eventName":"INSERT","dynamodb":{"NewImage":{"type":{"S":"order"},"qty":{"N":"5"}}}}`
	modify := `{"eventName":"MODIFY","dynamodb":{"NewImage":{"type":{"S":"device"}}}}`
	tests := []struct {
		name     string
		patterns []string
		record   string
		want     bool
	}{
		{"no filter passes everything", nil, modify, true},
		{"equality list", []string{`{"eventName":["INSERT"]}`}, insert, true},
		{"equality list refuses others", []string{`{"eventName":["INSERT"]}`}, modify, false},
		{"one of several values", []string{`{"eventName":["INSERT","MODIFY"]}`}, modify, true},
		{"any pattern of several", []string{`{"eventName":["REMOVE"]}`, `{"eventName":["MODIFY"]}`}, modify, true},
		{"nested", []string{`{"dynamodb":{"NewImage":{"type":{"S":["order"]}}}}`}, insert, true},
		{"nested refuses", []string{`{"dynamodb":{"NewImage":{"type":{"S":["order"]}}}}`}, modify, false},
		{"all fields of a pattern", []string{`{"eventName":["INSERT"],"dynamodb":{"NewImage":{"type":{"S":["device"]}}}}`}, insert, false},
		{"prefix", []string{`{"dynamodb":{"NewImage":{"type":{"S":[{"prefix":"ord"}]}}}}`}, insert, true},
		{"anything-but", []string{`{"eventName":[{"anything-but":["REMOVE"]}]}`}, insert, true},
		{"anything-but refuses", []string{`{"eventName":[{"anything-but":"INSERT"}]}`}, insert, false},
		{"exists false", []string{`{"dynamodb":{"OldImage":[{"exists":false}]}}`}, insert, true},
		{"exists true", []string{`{"dynamodb":{"OldImage":[{"exists":true}]}}`}, insert, false},
		{"missing field", []string{`{"userIdentity":["x"]}`}, insert, false},
		{"numeric", []string{`{"n":[{"numeric":[">",1,"<=",5]}]}`}, `{"n":5}`, true},
		{"numeric refuses", []string{`{"n":[{"numeric":[">",5]}]}`}, `{"n":5}`, false},
		{"equals-ignore-case", []string{`{"eventName":[{"equals-ignore-case":"insert"}]}`}, insert, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var filters []any
			for _, p := range tc.patterns {
				filters = append(filters, map[string]any{"Pattern": p})
			}
			f, err := newFilter(map[string]any{"Filters": filters})
			if err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(tc.record), &rec); err != nil {
				t.Fatal(err)
			}
			if got := f.match(rec); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}
