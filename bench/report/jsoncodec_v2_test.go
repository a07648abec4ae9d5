//go:build goexperiment.jsonv2

package report

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

type codecEnvelopeV2 struct {
	Type string         `json:"type"`
	Key  string         `json:"key"`
	ID   string         `json:"id"`
	Time string         `json:"time"`
	Data jsontext.Value `json:"data"`
}

func benchmarkJSONv2(b *testing.B, raw []byte, rec record.Record) {
	b.Run("codec=json-v2/op=decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var e codecEnvelopeV2
			if err := jsonv2.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec=json-v2/op=valid", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if !jsontext.Value(raw).IsValid() {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("codec=json-v2/op=encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonv2.Marshal(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
