package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestAPIOverMoto runs the API over the real projection reader and a table on moto_server,
// created as template.yaml declares it: the walk a client makes with next tokens visits every
// entity once, and tokens that are forged or belong to another type are refused.
func TestAPIOverMoto(t *testing.T) {
	client := dynamodb.NewFromConfig(mototest.StartConfig(t))
	mototest.CreateKeyTable(t, client, "Projection", false)
	w := projection.NewWriter(client, "Projection")
	var want []string
	for i := range 5 {
		key := fmt.Sprintf("SKU-%d/%d", i, i) // a slash in the key, as the API must carry it
		want = append(want, key)
		for _, typ := range []string{"order", "device"} {
			r := record.Record{ID: "id", Type: typ, Key: key, Time: "2026-11-23T10:00:00.000Z", Source: "s", Data: json.RawMessage(`{"i":` + fmt.Sprint(i) + `}`)}
			if _, err := w.Apply(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := New(projection.NewReader(client, "Projection"), slog.New(slog.DiscardHandler))

	var keys []string
	target, pages := "/records/order?limit=2", 0
	for target != "" {
		if pages++; pages > 5 {
			t.Fatal("listing does not end")
		}
		r := serve(t, h, "GET", target)
		if r.status != 200 {
			t.Fatalf("%s: status %d: %s", target, r.status, r.body)
		}
		var page Page
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, rec := range page.Items {
			keys = append(keys, rec.Key)
			if rec.Type != "order" {
				t.Fatalf("listing order returned %+v", rec)
			}
		}
		target = ""
		if page.Next != "" {
			target = "/records/order?limit=2&next=" + url.QueryEscape(page.Next)
		}
	}
	if !slices.Equal(keys, want) || pages != 3 {
		t.Fatalf("walk: keys %v in %d pages, want %v in 3", keys, pages, want)
	}

	if r := serve(t, h, "GET", "/records/order/"+url.PathEscape(want[3])); r.status != 200 {
		t.Fatalf("get %s: %d %s", want[3], r.status, r.body)
	}
	if r := serve(t, h, "GET", "/records/order/SKU-none"); r.status != 404 {
		t.Fatalf("get of a missing key: %d %s", r.status, r.body)
	}
	for _, token := range []string{EncodeNext("device", want[1]), "eyJ0Ijoib3JkZXIifQ", "not-a-token"} {
		r := serve(t, h, "GET", "/records/order?next="+url.QueryEscape(token))
		if r.status != 400 || r.message(t) != "invalid next token" {
			t.Fatalf("token %q: %d %s", token, r.status, r.body)
		}
	}
}
