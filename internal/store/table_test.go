package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

const table = "EventStore"

// errValidation stands for DynamoDB's ValidationException in the test table.
var errValidation = errors.New("ValidationException")

// fakeDB records every BatchWriteItem input and answers with the items refuse leaves
// unprocessed (by sort key), or with err, or with a ValidationException for a call that holds
// the item invalid names.
type fakeDB struct {
	calls   []*dynamodb.BatchWriteItemInput
	refuse  func(call int, sk string) bool
	err     error
	invalid string // sort key of an item DynamoDB refuses the whole call for

	items  map[string]map[string]types.AttributeValue // what the table holds, by pk/sk
	gets   []*dynamodb.BatchGetItemInput
	getErr error
	// defer leaves unprocessed the first keys of the first BatchGetItem calls: one fewer each call.
	deferGets int
}

func (f *fakeDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	f.gets = append(f.gets, in)
	if f.getErr != nil {
		return nil, f.getErr
	}
	ka := in.RequestItems[table]
	if len(ka.Keys) > MaxGetBatch {
		return nil, fmt.Errorf("ValidationException: too many keys")
	}
	if ka.ConsistentRead == nil || !*ka.ConsistentRead {
		return nil, fmt.Errorf("the store must read strongly consistent: a read that misses the last write would rewrite it")
	}
	out := &dynamodb.BatchGetItemOutput{}
	keys := ka.Keys
	if n := min(f.deferGets, len(keys)); n > 0 {
		out.UnprocessedKeys = map[string]types.KeysAndAttributes{table: {Keys: keys[:n]}}
		keys = keys[n:]
		f.deferGets--
	}
	for _, k := range keys {
		if it, ok := f.items[stringAttr(k, AttrPK)+"/"+stringAttr(k, AttrSK)]; ok {
			out.Responses = map[string][]map[string]types.AttributeValue{table: append(out.Responses[table], it)}
		}
	}
	return out, nil
}

func (f *fakeDB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.calls = append(f.calls, in)
	if f.err != nil {
		return nil, f.err
	}
	for _, r := range in.RequestItems[table] {
		if f.invalid != "" && stringAttr(r.PutRequest.Item, AttrSK) == f.invalid {
			return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "One or more parameter values were invalid"}
		}
	}
	if len(in.RequestItems[table]) > MaxBatch {
		return nil, fmt.Errorf("ValidationException: too many items")
	}
	seen := map[string]bool{}
	var left []types.WriteRequest
	for _, r := range in.RequestItems[table] {
		k := stringAttr(r.PutRequest.Item, AttrPK) + "/" + stringAttr(r.PutRequest.Item, AttrSK)
		if seen[k] {
			return nil, fmt.Errorf("ValidationException: Provided list of item keys contains duplicates")
		}
		seen[k] = true
		if f.refuse != nil && f.refuse(len(f.calls), stringAttr(r.PutRequest.Item, AttrSK)) {
			left = append(left, r)
			continue
		}
		if f.items == nil {
			f.items = map[string]map[string]types.AttributeValue{}
		}
		f.items[k] = r.PutRequest.Item
	}
	out := &dynamodb.BatchWriteItemOutput{}
	if len(left) > 0 {
		out.UnprocessedItems = map[string][]types.WriteRequest{table: left}
	}
	return out, nil
}

// sortKeys lists the sort keys of each call, to show what was sent when.
func (f *fakeDB) sortKeys() [][]string {
	var out [][]string
	for _, c := range f.calls {
		var sks []string
		for _, r := range c.RequestItems[table] {
			sks = append(sks, stringAttr(r.PutRequest.Item, AttrSK))
		}
		out = append(out, sks)
	}
	return out
}

func rec(id string) record.Record {
	return record.Record{
		ID: id, Type: "order", Key: "sku-" + id, Time: "2026-11-23T10:00:00.123Z",
		ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
		Data: []byte(`{"sku":"sku-` + id + `","price":19.990000000000000000001,"tags":["a",1,true,null]}`),
	}
}

func sk(id string) string { return "2026-11-23T10:00:00.123Z#" + id }

func TestItem(t *testing.T) {
	got, err := Item(Entry{Record: rec("a"), TraceHeader: "Root=1-abc;Parent=def;Sampled=1"})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	want := map[string]types.AttributeValue{
		"pk": s("order#sku-a"), "sk": s("2026-11-23T10:00:00.123Z#a"), "id": s("a"), "type": s("order"),
		"key": s("sku-a"), "time": s("2026-11-23T10:00:00.123Z"), "receivedAt": s("2026-11-23T10:00:00.456Z"),
		"source": s("ingest"), "traceHeader": s("Root=1-abc;Parent=def;Sampled=1"),
		"contentHash": s(rec("a").ContentHash()),
		"data": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"sku":   s("sku-a"),
			"price": &types.AttributeValueMemberN{Value: "19.990000000000000000001"},
			"tags": &types.AttributeValueMemberL{Value: []types.AttributeValue{
				s("a"), &types.AttributeValueMemberN{Value: "1"}, &types.AttributeValueMemberBOOL{Value: true},
				&types.AttributeValueMemberNULL{Value: true},
			}},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("item:\n got %#v\nwant %#v", got, want)
	}
	again, _ := Item(Entry{Record: rec("a"), TraceHeader: "Root=1-abc;Parent=def;Sampled=1"})
	if !reflect.DeepEqual(got, again) {
		t.Error("the same record gave two different items: a rewrite would not be idempotent")
	}
	noTrace, _ := Item(Entry{Record: rec("a")})
	if _, ok := noTrace[AttrTraceHeader]; ok {
		t.Error("traceHeader stored although empty")
	}
}

func TestItemRefusesWhatDynamoDBCannotHold(t *testing.T) {
	tests := []struct {
		name string
		data string
		want error
	}{
		{"number out of range", `{"n":1e200}`, nil},
		{"not an object", `[1,2]`, nil},
		{"too large", `{"s":"` + strings.Repeat("x", MaxItemBytes) + `"}`, ErrTooLarge},
		{"empty map key", `{"a":[{"":1}]}`, jsonattr.ErrUnsupported},
		{"map key over 64 KB", `{"` + strings.Repeat("k", 64*1024+1) + `":1}`, jsonattr.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec("a")
			r.Data = []byte(tt.data)
			_, err := Item(Entry{Record: r})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestItemRefusesKeysOverDynamoDBLimits(t *testing.T) {
	tests := []struct {
		name   string
		change func(*record.Record)
		ok     bool
	}{
		{"key at the limit", func(r *record.Record) { r.Key = strings.Repeat("k", 2048-len("order#")) }, true},
		{"key over the limit", func(r *record.Record) { r.Key = strings.Repeat("k", 2048-len("order#")+1) }, false},
		{"multi-byte key over the limit in bytes", func(r *record.Record) { r.Key = strings.Repeat("é", 1024) }, false},
		{"id over the sort key limit", func(r *record.Record) { r.ID = strings.Repeat("i", 1024) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec("a")
			tt.change(&r)
			_, err := Item(Entry{Record: r})
			if tt.ok != (err == nil) {
				t.Errorf("Item: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestTablePut(t *testing.T) {
	many := func(n int) []Entry {
		var es []Entry
		for i := range n {
			es = append(es, Entry{Record: rec(fmt.Sprintf("r%02d", i))})
		}
		return es
	}
	bad := rec("bad")
	bad.Data = []byte(`{"n":1e200}`)
	tests := []struct {
		name       string
		entries    []Entry
		refuse     func(call int, sk string) bool
		callErr    error
		invalid    string
		wantCalls  [][]string
		wantFailed []int
		wantErr    error
	}{
		{
			name:      "all written in one call",
			entries:   []Entry{{Record: rec("a")}, {Record: rec("b")}},
			wantCalls: [][]string{{sk("a"), sk("b")}},
		},
		{
			name:    "unprocessed items sent again until written",
			entries: []Entry{{Record: rec("a")}, {Record: rec("b")}, {Record: rec("c")}},
			refuse: func(call int, s string) bool {
				return (call == 1 && s != sk("a")) || (call == 2 && s == sk("c"))
			},
			wantCalls: [][]string{{sk("a"), sk("b"), sk("c")}, {sk("b"), sk("c")}, {sk("c")}},
		},
		{
			name:      "duplicates within a batch sent once",
			entries:   []Entry{{Record: rec("a")}, {Record: rec("b")}, {Record: rec("a")}},
			wantCalls: [][]string{{sk("a"), sk("b")}},
		},
		{
			name:    "at most 25 items a call",
			entries: many(30),
			wantCalls: func() [][]string {
				var first, second []string
				for i := range 30 {
					if i < 25 {
						first = append(first, sk(fmt.Sprintf("r%02d", i)))
					} else {
						second = append(second, sk(fmt.Sprintf("r%02d", i)))
					}
				}
				return [][]string{first, second}
			}(),
		},
		{
			name:       "never processed: reported with its duplicates",
			entries:    []Entry{{Record: rec("a")}, {Record: rec("b")}, {Record: rec("b")}},
			refuse:     func(_ int, s string) bool { return s == sk("b") },
			wantCalls:  [][]string{{sk("a"), sk("b")}, {sk("b")}, {sk("b")}, {sk("b")}, {sk("b")}, {sk("b")}},
			wantFailed: []int{1, 2},
			wantErr:    batch.ErrExhausted,
		},
		{
			name:       "call fails every time: all reported",
			entries:    []Entry{{Record: rec("a")}, {Record: rec("b")}},
			callErr:    errors.New("ProvisionedThroughputExceededException"),
			wantCalls:  slices.Repeat([][]string{{sk("a"), sk("b")}}, batch.DefaultPolicy.Attempts),
			wantFailed: []int{0, 1},
			wantErr:    batch.ErrExhausted,
		},
		{
			name:       "item DynamoDB cannot hold: that entry only",
			entries:    []Entry{{Record: rec("a")}, {Record: bad}, {Record: rec("c")}},
			wantCalls:  [][]string{{sk("a"), sk("c")}},
			wantFailed: []int{1},
			wantErr:    jsonattr.ErrUnsupported,
		},
		{
			name:       "item DynamoDB refuses the call for: isolated by halving, the rest written",
			entries:    []Entry{{Record: rec("a")}, {Record: rec("b")}, {Record: rec("c")}, {Record: rec("d")}, {Record: rec("e")}},
			invalid:    sk("b"),
			wantCalls:  [][]string{{sk("a"), sk("b"), sk("c"), sk("d"), sk("e")}, {sk("a"), sk("b")}, {sk("a")}, {sk("b")}, {sk("c"), sk("d"), sk("e")}},
			wantFailed: []int{1},
			wantErr:    errValidation,
		},
		{
			name:    "nothing to write: no call",
			entries: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awsfake.NoRetryWait(t)
			db := &fakeDB{refuse: tt.refuse, err: tt.callErr, invalid: tt.invalid}
			outs, err := NewTable(db, table).Put(t.Context(), tt.entries)
			failed := NotStoredOf(outs)
			if got := db.sortKeys(); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("calls:\n got %v\nwant %v", got, tt.wantCalls)
			}
			if !slices.Equal(failed, tt.wantFailed) {
				t.Errorf("failed %v, want %v", failed, tt.wantFailed)
			}
			if tt.wantErr == errValidation {
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
					t.Errorf("error %v, want the ValidationException", err)
				}
			} else if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}
