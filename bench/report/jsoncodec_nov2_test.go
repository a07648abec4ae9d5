//go:build !goexperiment.jsonv2

package report

import (
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

// benchmarkJSONv2 runs nothing without GOEXPERIMENT=jsonv2: encoding/json/v2 is not in the
// standard library then.
func benchmarkJSONv2(*testing.B, []byte, record.Record) {}
