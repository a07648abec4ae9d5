package kinesisdest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/local/kinesisdest"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestStoredRecordsReachChanges runs the change archive end to end on the local runner: N
// records stored in EventStoreTable give N change lines under changes/ in the lake (through the
// Kinesis destination, ChangeStream, ChangeDeliveryStream and the real ChangeTransformerFunction
// bootstrap), each an INSERT whose new image is the stored record.
func TestStoredRecordsReachChanges(t *testing.T) {
	mototest.Require(t)
	r, err := runner.Start(t.Context(), runner.Options{
		Template:       filepath.Join("..", "..", "template.yaml"),
		BuildDir:       t.TempDir(),
		Functions:      []string{"ChangeTransformerFunction"},
		Parts:          runner.Parts{Firehose: true},
		BufferInterval: time.Second,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.WithoutCancel(t.Context())) })
	dest, err := kinesisdest.New(r.Stack, kinesisdest.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dest.Start()
	t.Cleanup(func() { _ = dest.Stop(context.WithoutCancel(t.Context())) })

	cfg := spec.RunnerConfig(r.Endpoint())
	table, _ := r.Stack.PhysicalID("EventStoreTable")
	bucket, _ := r.Stack.PhysicalID("LakeBucket")
	deliveryStream, _ := r.Stack.PhysicalID("ChangeDeliveryStream")
	const n = 60
	stored := map[string]record.Record{}
	db := dynamodb.NewFromConfig(cfg)
	var writes []ddbtypes.WriteRequest
	for i := range n {
		rec := record.Record{
			ID: fmt.Sprintf("r-%03d", i), Type: "device", Key: fmt.Sprintf("motor-%02d", i%7),
			Time: record.FormatTime(time.Date(2026, 11, 23, 10, 0, i, 0, time.UTC)), ReceivedAt: "2026-11-23T10:01:00.000Z",
			// Keys in order: a DynamoDB map keeps none, the change line sorts them.
			Source: "test", Data: json.RawMessage(fmt.Sprintf(`{"ok":true,"reading":%d.50,"tags":["a"]}`, i)),
		}
		item, err := store.Item(store.Entry{Record: rec})
		if err != nil {
			t.Fatal(err)
		}
		stored[rec.ID] = rec
		writes = append(writes, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}})
	}
	for len(writes) > 0 {
		k := min(25, len(writes))
		out, err := db.BatchWriteItem(t.Context(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: writes[:k]}})
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes[k:], out.UnprocessedItems[table]...)
	}

	stacktest.WaitUntil(60*time.Second, func() bool {
		c := r.Firehose.Counts()[deliveryStream]
		return c.Delivered+c.Failed >= n
	})
	c := r.Firehose.Counts()[deliveryStream]
	if c.Delivered != n || c.Failed != 0 {
		t.Fatalf("change delivery stream counts %+v (destination wrote %v), want %d delivered", c, dest.Written(), n)
	}

	lines := changeLines(t, s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), bucket)
	if len(lines) != n {
		t.Fatalf("%d change lines under changes/, want %d", len(lines), n)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var line struct {
			Operation string            `json:"operation"`
			Table     string            `json:"table"`
			Keys      map[string]string `json:"keys"`
			NewImage  record.Record     `json:"newImage"`
			OldImage  json.RawMessage   `json:"oldImage"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("change line %q: %v", l, err)
		}
		want, ok := stored[line.NewImage.ID]
		if !ok || seen[want.ID] {
			t.Errorf("line for %q: unknown or twice", line.NewImage.ID)
			continue
		}
		seen[want.ID] = true
		got := line.NewImage
		if line.Operation != "INSERT" || line.Table != table || string(line.OldImage) != "null" ||
			line.Keys["pk"] != want.EntityKey() || line.Keys["sk"] != want.SortKey() ||
			got.Type != want.Type || got.Key != want.Key || got.Time != want.Time || string(got.Data) != string(want.Data) {
			t.Errorf("change line %s\ndoes not show the stored record %+v (data %s)", l, want, want.Data)
		}
	}
}

// changeLines reads every object under changes/ (GZIP, under today's partition) and returns
// its lines.
func changeLines(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	today := time.Now().UTC().Format("changes/year=2006/month=01/day=02/")
	var lines []string
	mototest.EachLine(t, c, bucket, "changes/", func(key string, line []byte) {
		if !strings.HasPrefix(key, today) {
			t.Errorf("object %s is not under today's partition", key)
		}
		lines = append(lines, string(line))
	})
	return lines
}
