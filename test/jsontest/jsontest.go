// Package jsontest compares JSON texts in tests by what they say, not by how they are spelled.
package jsontest

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Equal reports whether a and b hold the same JSON value, whatever their spacing and key order,
// numbers compared as encoding/json decodes them (float64). Text that is not JSON fails the test.
func Equal(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}
