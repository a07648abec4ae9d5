package report

import (
	"encoding/json"
	"testing"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// The JSON codec benchmarks: the transformer's hot path is decoding an envelope and encoding the
// canonical record. The pipeline uses its own scanner (record.Parser) and appender
// (Record.AppendJSON); these measure them against encoding/json on the same generated order, and
// jsoncodec_v2_test.go measures encoding/json/v2 (GOEXPERIMENT=jsonv2 in Go 1.26).

// codecEnvelope is the envelope as a codec would decode it.
type codecEnvelope struct {
	Type string          `json:"type"`
	Key  string          `json:"key"`
	ID   string          `json:"id"`
	Time string          `json:"time"`
	Data json.RawMessage `json:"data"`
}

func sampleEnvelope(b *testing.B) ([]byte, record.Record) {
	recs, err := generate.Generate(generate.Options{Seed: 1}, 1)
	if err != nil {
		b.Fatal(err)
	}
	raw := recs[0].Data
	r, err := record.NewParser(nil).Parse(raw, record.Meta{Source: "stream-to-events-IngestDeliveryStream", ArrivalMillis: 1795428000456})
	if err != nil {
		b.Fatal(err)
	}
	return raw, r
}

func BenchmarkJSON(b *testing.B) {
	raw, rec := sampleEnvelope(b)
	parser := record.NewParser(nil)
	meta := record.Meta{Source: rec.Source, ArrivalMillis: 1795428000456}
	b.Run("codec=scanner/op=decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := parser.Parse(raw, meta); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec=scanner/op=encode", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = rec.AppendJSON(buf[:0])
		}
	})
	b.Run("codec=encoding-json/op=decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var e codecEnvelope
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec=encoding-json/op=encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	// contracts.Check runs json.Valid on a document record.Parser has already scanned.
	b.Run("codec=encoding-json/op=valid", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if !json.Valid(raw) {
				b.Fatal("invalid")
			}
		}
	})
	benchmarkJSONv2(b, raw, rec)
}
