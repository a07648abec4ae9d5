package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

func order(id, key, time string, price string) record.Record {
	return record.Record{
		ID: id, Type: "order", Key: key, Time: time,
		ReceivedAt: "2026-11-23T10:00:01.000Z", Source: "ingest",
		Data: json.RawMessage(`{"price":` + price + `,"sku":"` + key + `","tags":["a",true,null]}`),
	}
}

type putFunc func(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)

func (f putFunc) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return f(ctx, in, o...)
}

func TestApplySendsTheConditionalPut(t *testing.T) {
	var got *dynamodb.PutItemInput
	w := NewWriter(putFunc(func(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
		got = in
		return &dynamodb.PutItemOutput{}, nil
	}), "Projection")
	applied, err := w.Apply(t.Context(), order("id-1", "sku-1", "2026-11-23T10:00:00.123Z", "12.50"))
	if err != nil || !applied {
		t.Fatalf("Apply = %v, %v; want true, nil", applied, err)
	}
	want := &dynamodb.PutItemInput{
		TableName: aws.String("Projection"),
		Item: map[string]types.AttributeValue{
			"pk":         &types.AttributeValueMemberS{Value: "order"},
			"sk":         &types.AttributeValueMemberS{Value: "sku-1"},
			"id":         &types.AttributeValueMemberS{Value: "id-1"},
			"time":       &types.AttributeValueMemberS{Value: "2026-11-23T10:00:00.123Z"},
			"receivedAt": &types.AttributeValueMemberS{Value: "2026-11-23T10:00:01.000Z"},
			"source":     &types.AttributeValueMemberS{Value: "ingest"},
			"data": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"price": &types.AttributeValueMemberN{Value: "12.50"},
				"sku":   &types.AttributeValueMemberS{Value: "sku-1"},
				"tags": &types.AttributeValueMemberL{Value: []types.AttributeValue{
					&types.AttributeValueMemberS{Value: "a"},
					&types.AttributeValueMemberBOOL{Value: true},
					&types.AttributeValueMemberNULL{Value: true},
				}},
			}},
		},
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR #time < :time OR (#time = :time AND #id < :id)"),
		ExpressionAttributeNames: map[string]string{"#time": "time", "#id": "id"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":time": &types.AttributeValueMemberS{Value: "2026-11-23T10:00:00.123Z"},
			":id":   &types.AttributeValueMemberS{Value: "id-1"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PutItem input\n got %#v\nwant %#v", got, want)
	}
}

func TestApplyOutcomes(t *testing.T) {
	throttled := errors.New("ProvisionedThroughputExceededException")
	tests := []struct {
		name        string
		err         error
		wantApplied bool
		wantErr     error
	}{
		{"written", nil, true, nil},
		{"stored one is newer or the same", &types.ConditionalCheckFailedException{Message: aws.String("failed")}, false, nil},
		{"store fails", throttled, false, throttled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWriter(putFunc(func(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
				if tt.err != nil {
					return nil, fmt.Errorf("operation error DynamoDB: PutItem: %w", tt.err)
				}
				return &dynamodb.PutItemOutput{}, nil
			}), "Projection")
			applied, err := w.Apply(t.Context(), order("id-1", "sku-1", "2026-11-23T10:00:00.123Z", "1"))
			if applied != tt.wantApplied || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Apply = %v, %v; want %v, %v", applied, err, tt.wantApplied, tt.wantErr)
			}
		})
	}
}

func TestApplyRefusesRecordsItCannotStore(t *testing.T) {
	good := order("id-1", "sku-1", "2026-11-23T10:00:00.123Z", "1")
	tests := []struct {
		name   string
		change func(*record.Record)
	}{
		{"no id", func(r *record.Record) { r.ID = "" }},
		{"no type", func(r *record.Record) { r.Type = "" }},
		{"no key", func(r *record.Record) { r.Key = "" }},
		{"no time", func(r *record.Record) { r.Time = "" }},
		{"no data", func(r *record.Record) { r.Data = nil }},
		{"RFC 3339 with offset", func(r *record.Record) { r.Time = "2026-11-23T11:00:00.123+01:00" }},
		{"seconds only", func(r *record.Record) { r.Time = "2026-11-23T10:00:00Z" }},
		{"not a time", func(r *record.Record) { r.Time = "yesterday" }},
		{"key over 1024 bytes", func(r *record.Record) { r.Key = string(make([]byte, 1025)) }},
		{"key not UTF-8", func(r *record.Record) { r.Key = "\xff" }},
		{"data DynamoDB cannot hold", func(r *record.Record) { r.Data = json.RawMessage(`{"n":1e400}`) }},
		{"data not JSON", func(r *record.Record) { r.Data = json.RawMessage(`{"n":`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.change(&r)
			w := NewWriter(putFunc(func(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
				t.Fatal("PutItem called for a record that cannot be stored")
				return nil, nil
			}), "Projection")
			applied, err := w.Apply(t.Context(), r)
			if applied || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Apply = %v, %v; want false, ErrInvalidRecord", applied, err)
			}
		})
	}
}

func TestGetReturnsTheStoredRecord(t *testing.T) {
	table := newMemTable()
	want := order("id-1", "sku-1", "2026-11-23T10:00:00.123Z", "12.50")
	if _, err := NewWriter(table, "P").Apply(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(table, "P")
	got, err := rd.Get(t.Context(), "order", "sku-1")
	if err != nil {
		t.Fatal(err)
	}
	// Data comes back with sorted keys and the numbers as written.
	want.Data = json.RawMessage(`{"price":12.50,"sku":"sku-1","tags":["a",true,null]}`)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Get = %+v, want %+v", got, want)
	}
	if _, err := rd.Get(t.Context(), "order", "sku-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing entity: err = %v, want ErrNotFound", err)
	}
	if _, err := rd.Get(t.Context(), "device", "sku-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of another type: err = %v, want ErrNotFound", err)
	}
}

func TestReadsRefuseItemsThisPackageDidNotWrite(t *testing.T) {
	table := newMemTable()
	table.items["order"] = map[string]map[string]types.AttributeValue{
		"sku-1": {"pk": &types.AttributeValueMemberS{Value: "order"}, "sk": &types.AttributeValueMemberS{Value: "sku-1"}},
	}
	rd := NewReader(table, "P")
	if _, err := rd.Get(t.Context(), "order", "sku-1"); !errors.Is(err, ErrCorruptItem) {
		t.Fatalf("Get: err = %v, want ErrCorruptItem", err)
	}
	if _, err := rd.List(t.Context(), "order", 10, nil); !errors.Is(err, ErrCorruptItem) {
		t.Fatalf("List: err = %v, want ErrCorruptItem", err)
	}
}

// walk lists every entity of typ a page at a time and returns the keys in the order seen.
func walk(t *testing.T, rd *Reader, typ string, limit int) (keys []string, pages int) {
	t.Helper()
	var after *Cursor
	for {
		page, err := rd.List(t.Context(), typ, limit, after)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Records) > limit {
			t.Fatalf("page of %d records, limit %d", len(page.Records), limit)
		}
		for _, r := range page.Records {
			keys = append(keys, r.Key)
		}
		if page.Next == nil {
			return keys, pages
		}
		if len(page.Records) == 0 {
			t.Fatal("an empty page with a next cursor")
		}
		if pages > 100 {
			t.Fatal("listing does not end")
		}
		after = page.Next
	}
}

func TestListWalksEveryEntityOnce(t *testing.T) {
	table := newMemTable()
	w := NewWriter(table, "P")
	for i := range 5 {
		for _, typ := range []string{"order", "device"} {
			if _, err := w.Apply(t.Context(), record.Record{ID: "i", Type: typ, Key: fmt.Sprintf("k%d", i), Time: "2026-11-23T10:00:00.000Z", Data: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rd := NewReader(table, "P")
	for _, tt := range []struct {
		limit, pages int
	}{{1, 5}, {2, 3}, {4, 2}, {5, 1}, {100, 1}} {
		keys, pages := walk(t, rd, "order", tt.limit)
		if want := []string{"k0", "k1", "k2", "k3", "k4"}; !reflect.DeepEqual(keys, want) || pages != tt.pages {
			t.Errorf("limit %d: keys %v in %d pages, want %v in %d", tt.limit, keys, pages, want, tt.pages)
		}
	}
	if keys, _ := walk(t, rd, "inventory", 2); len(keys) != 0 {
		t.Errorf("a type with no entities lists %v", keys)
	}
}

func TestListRefusesALimitBelowOne(t *testing.T) {
	if _, err := NewReader(newMemTable(), "P").List(t.Context(), "order", 0, nil); err == nil {
		t.Fatal("List with limit 0 did not fail")
	}
}

// TestRespondNamesEveryRecordOfTheBatch: a batch writes each entity's newest record once, and
// reports every other record of it as overtaken, so that none that reached the responder goes
// unnamed (the handler traces each one by its id).
func TestRespondNamesEveryRecordOfTheBatch(t *testing.T) {
	recs := []record.Record{
		order("o-1", "A", "2026-11-23T10:00:00.100Z", "1"),
		order("o-3", "A", "2026-11-23T10:00:00.300Z", "3"),
		order("x-1", "B", "2026-11-23T10:00:00.100Z", "1"),
		order("o-2", "A", "2026-11-23T10:00:00.200Z", "2"),
	}
	var ds []Delivery
	for i, r := range recs {
		detail, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"id":"ev-%d","detail-type":%q,"detail":%s}`, i, record.DetailType, detail)
		ds = append(ds, Delivery{MessageID: fmt.Sprint("m", i), Body: body})
	}
	table := newMemTable()
	res := (&Responder{Projection: NewWriter(table, "Projection"), Logger: slog.New(slog.DiscardHandler)}).Respond(t.Context(), ds)
	var overtaken []string
	for _, r := range res.Overtaken {
		overtaken = append(overtaken, r.ID)
	}
	slices.Sort(overtaken)
	if res.Applied != 2 || table.puts != 2 || len(res.Failed) != 0 || !slices.Equal(overtaken, []string{"o-1", "o-2"}) {
		t.Errorf("applied %d in %d puts, failed %v, overtaken %v; want 2 in 2, none, [o-1 o-2]", res.Applied, table.puts, res.Failed, overtaken)
	}
}

// TestRespondRefusesABadRecordAloneNotItsEntity: a record the projection refuses (a time not in
// the canonical form, which sorts after every canonical one; data DynamoDB cannot store) is given
// back on its own; it does not stand in for its entity's good record, which is written.
func TestRespondRefusesABadRecordAloneNotItsEntity(t *testing.T) {
	unstorable := order("o-2", "A", "2026-11-23T10:00:00.200Z", "2")
	unstorable.Data = json.RawMessage(`{"n":1e300}`)
	for name, bad := range map[string]record.Record{
		"time not canonical": order("o-2", "A", "2026-11-23T10:00:00Z", "2"),
		"data unstorable":    unstorable,
	} {
		t.Run(name, func(t *testing.T) {
			var ds []Delivery
			for i, r := range []record.Record{order("o-1", "A", "2026-11-23T10:00:00.100Z", "1"), bad} {
				detail, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, Delivery{MessageID: fmt.Sprint("m", i), Body: fmt.Sprintf(`{"id":"ev-%d","detail-type":%q,"detail":%s}`, i, record.DetailType, detail)})
			}
			table := newMemTable()
			res := (&Responder{Projection: NewWriter(table, "Projection"), Logger: slog.New(slog.DiscardHandler)}).Respond(t.Context(), ds)
			if res.Applied != 1 || table.puts != 1 || !slices.Equal(res.Failed, []string{"m1"}) {
				t.Errorf("applied %d in %d puts, failed %v; want o-1 written and only m1 given back", res.Applied, table.puts, res.Failed)
			}
		})
	}
}

// A zero Item has not been checked: Put refuses it rather than write an item without data.
func TestPutRefusesAnItemNotPrepared(t *testing.T) {
	table := newMemTable()
	if _, err := NewWriter(table, "Projection").Put(t.Context(), Item{Record: order("o-1", "A", "2026-11-23T10:00:00.100Z", "1")}); !errors.Is(err, ErrInvalidRecord) || table.puts != 0 {
		t.Errorf("Put of an unprepared item: %v after %d puts, want ErrInvalidRecord and none", err, table.puts)
	}
}

// FuzzReadEventMatchesEncodingJSON holds the one-pass reading of an event to what
// encoding/json decodes from it: whatever readEvent accepts, decodeEvent accepts as the same
// record.
func FuzzReadEventMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"detail-type":"DataInserted","detail-type":"DataInserted","detail":{"id":"a","type":"t","key":"k","time":"x","data":{}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := readEvent(s)
		if !ok {
			return
		}
		want, err := decodeEvent(s)
		if err != nil {
			t.Fatalf("%q: read as %+v, but encoding/json refuses it: %v", s, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n read    %#v\n decoded %#v", s, got, want)
		}
	})
}

func TestReadEventReadsTheBusFixture(t *testing.T) {
	b, err := os.ReadFile("../../events/eventbridge-data-inserted.json")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := readEvent(string(b))
	if !ok {
		t.Fatal("the one-pass reading leaves the event as EventBridge writes it to encoding/json")
	}
	if want, err := decodeEvent(string(b)); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read %+v, decoded %+v (%v)", got, want, err)
	}
}
