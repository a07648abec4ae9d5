package generate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	firehosetypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// fakeFirehose is a delivery stream: it checks each call against the API's limits, keeps what
// it accepted, and refuses records or whole calls as refuse says.
type fakeFirehose struct {
	t      *testing.T
	stream string
	// refuse decides the answer to call number n (from 1): the indexes of the records to
	// refuse, or an error for the whole call.
	refuse func(n int, in *firehose.PutRecordBatchInput) ([]int, error)

	mu       sync.Mutex
	calls    int
	sizes    []int
	accepted [][]byte
}

func (f *fakeFirehose) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if got := aws.ToString(in.DeliveryStreamName); got != f.stream {
		f.t.Errorf("call %d to stream %q, want %q", f.calls, got, f.stream)
	}
	total := 0
	for _, r := range in.Records {
		total += len(r.Data)
	}
	if len(in.Records) == 0 || len(in.Records) > 500 || total > 4<<20 {
		f.t.Errorf("call %d carries %d records, %d bytes: outside 1..500 records, 4 MiB", f.calls, len(in.Records), total)
	}
	f.sizes = append(f.sizes, len(in.Records))
	var refused []int
	if f.refuse != nil {
		var err error
		if refused, err = f.refuse(f.calls, in); err != nil {
			return nil, err
		}
	}
	out := &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(int32(len(refused)))}
	for i, r := range in.Records {
		if slices.Contains(refused, i) {
			out.RequestResponses = append(out.RequestResponses, firehosetypes.PutRecordBatchResponseEntry{
				ErrorCode: aws.String("ServiceUnavailableException"), ErrorMessage: aws.String("Slow down."),
			})
			continue
		}
		f.accepted = append(f.accepted, r.Data)
		out.RequestResponses = append(out.RequestResponses, firehosetypes.PutRecordBatchResponseEntry{RecordId: aws.String(fmt.Sprint(len(f.accepted)))})
	}
	return out, nil
}

// noBackoff makes the retry backoff instant and counts the waits.
func noBackoff(t *testing.T) *int {
	t.Helper()
	waits := 0
	old := batch.Sleep
	batch.Sleep = func(ctx context.Context, _ time.Duration) error { waits++; return ctx.Err() }
	t.Cleanup(func() { batch.Sleep = old })
	return &waits
}

// sized returns n records of size bytes each.
func sized(n, size int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		rs[i] = Record{Seq: i, Type: TypeDevice, DuplicateOf: -1, Data: bytes.Repeat([]byte{'a' + byte(i%26)}, size)}
		copy(rs[i].Data, fmt.Sprintf("%08d", i))
	}
	return rs
}

// sameMultiset reports whether got holds each record's bytes exactly once.
func sameMultiset(t *testing.T, got [][]byte, want []Record) {
	t.Helper()
	seen := map[string]int{}
	for _, d := range got {
		seen[string(d)]++
	}
	for _, r := range want {
		seen[string(r.Data)]--
	}
	for d, n := range seen {
		if n != 0 {
			t.Fatalf("record %.20q landed %+d times off what was sent", d, n)
		}
	}
}

func TestSendBatchesAtTheLimits(t *testing.T) {
	noBackoff(t)
	tests := []struct {
		name      string
		records   []Record
		wantSizes []int
	}{
		{"count limit", sized(1234, 100), []int{500, 500, 234}},
		// 100 KiB records: 40 fit in 4 MiB, the 41st would not.
		{"byte limit", sized(100, 100<<10), []int{40, 40, 20}},
		{"one record", sized(1, 10), []int{1}},
		{"nothing", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeFirehose{t: t, stream: "ingest"}
			stats, err := Send(t.Context(), NewFirehose(fake, "ingest"), slices.Values(tc.records), SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fake.sizes, tc.wantSizes) {
				t.Errorf("calls carried %v records, want %v", fake.sizes, tc.wantSizes)
			}
			sameMultiset(t, fake.accepted, tc.records)
			if stats.Sent != len(tc.records) || stats.Calls != len(tc.wantSizes) || stats.Resent != 0 || stats.Unsent != 0 {
				t.Errorf("stats = %+v", stats)
			}
		})
	}
}

func TestSendResendsWhatACallRefused(t *testing.T) {
	throttled := &firehosetypes.ServiceUnavailableException{Message: aws.String("Slow down.")}
	tests := []struct {
		name       string
		refuse     func(n int, in *firehose.PutRecordBatchInput) ([]int, error)
		wantResent int
	}{
		{"every third record of the first calls", func(n int, in *firehose.PutRecordBatchInput) ([]int, error) {
			if n > 3 {
				return nil, nil
			}
			var idx []int
			for i := 0; i < len(in.Records); i += 3 {
				idx = append(idx, i)
			}
			return idx, nil
		}, 0},
		{"a whole call throttled", func(n int, _ *firehose.PutRecordBatchInput) ([]int, error) {
			if n == 2 {
				return nil, throttled
			}
			return nil, nil
		}, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			waits := noBackoff(t)
			records := mustGenerate(t, Options{Seed: 9, Raw: 0.1, Invalid: 0.1, Duplicates: 0.1}, 1200)
			var refused int
			fake := &fakeFirehose{t: t, stream: "ingest", refuse: func(n int, in *firehose.PutRecordBatchInput) ([]int, error) {
				idx, err := tc.refuse(n, in)
				refused += len(idx)
				return idx, err
			}}
			stats, err := Send(t.Context(), NewFirehose(fake, "ingest"), slices.Values(records), SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sameMultiset(t, fake.accepted, records)
			want := tc.wantResent + refused
			if stats.Resent != want || stats.Sent != len(records) || stats.Unsent != 0 {
				t.Errorf("Resent %d (want %d), Sent %d, Unsent %d", stats.Resent, want, stats.Sent, stats.Unsent)
			}
			if *waits == 0 {
				t.Error("resent without backing off")
			}
		})
	}
}

func TestSendCountsWhatItSent(t *testing.T) {
	noBackoff(t)
	records := mustGenerate(t, Options{Seed: 2, Raw: 0.1, Invalid: 0.05, Duplicates: 0.1}, 700)
	x := Expect(records)
	var progress []Stats
	fake := &fakeFirehose{t: t, stream: "s", refuse: func(n int, _ *firehose.PutRecordBatchInput) ([]int, error) {
		if n == 1 {
			return []int{0, 1}, nil
		}
		return nil, nil
	}}
	stats, err := Send(t.Context(), NewFirehose(fake, "s"), slices.Values(records), SendOptions{Progress: func(s Stats) { progress = append(progress, s) }})
	if err != nil {
		t.Fatal(err)
	}
	var wantByType = map[string]int{}
	dups := 0
	for _, r := range records {
		if r.Valid() {
			wantByType[r.Type]++
		}
		if r.Duplicate() {
			dups++
		}
	}
	if fmt.Sprint(stats.ByType) != fmt.Sprint(wantByType) || stats.Invalid != x.Invalid || stats.Duplicates != dups || stats.Generated != 700 {
		t.Errorf("stats = %+v; want ByType %v, Invalid %d, Duplicates %d", stats, wantByType, x.Invalid, dups)
	}
	if len(progress) != stats.Calls || progress[len(progress)-1].Sent != 700 || progress[0].Sent != 498 {
		t.Errorf("progress after each call: %d reports for %d calls, first %d sent, last %+v", len(progress), stats.Calls, progress[0].Sent, progress[len(progress)-1])
	}
}

func TestSendGivesUpOnlyLoudly(t *testing.T) {
	tests := []struct {
		name      string
		refuse    func(n int, in *firehose.PutRecordBatchInput) ([]int, error)
		wantCalls int
		wantErr   error
	}{
		{"a record refused every time", func(int, *firehose.PutRecordBatchInput) ([]int, error) { return []int{0}, nil }, 5, batch.ErrExhausted},
		{"no such stream", func(int, *firehose.PutRecordBatchInput) ([]int, error) {
			return nil, &firehosetypes.ResourceNotFoundException{Message: aws.String("Firehose ingest not found")}
		}, 1, &PermanentError{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noBackoff(t)
			fake := &fakeFirehose{t: t, stream: "ingest", refuse: tc.refuse}
			stats, err := Send(t.Context(), NewFirehose(fake, "ingest"), slices.Values(sized(3, 10)),
				SendOptions{Policy: batch.Policy{Attempts: 5, Base: time.Millisecond, Max: time.Millisecond}})
			if err == nil {
				t.Fatal("Send reported success")
			}
			if perm := (*PermanentError)(nil); errors.As(tc.wantErr, &perm) {
				if !errors.As(err, &perm) {
					t.Fatalf("err = %v, want a PermanentError", err)
				}
			} else if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			} else if !strings.Contains(err.Error(), "ServiceUnavailableException: Slow down.") {
				t.Errorf("err = %v, want it to name Firehose's reason for the refusal", err)
			}
			if fake.calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", fake.calls, tc.wantCalls)
			}
			if stats.Sent+stats.Unsent != 3 || stats.Unsent == 0 {
				t.Errorf("Sent %d, Unsent %d: every record must be counted as one or the other", stats.Sent, stats.Unsent)
			}
		})
	}
}

func TestSendKeepsTheRate(t *testing.T) {
	fake := &fakeFirehose{t: t, stream: "s"}
	start := time.Now()
	// 40 records at 200/s take 195 ms; with a 50 ms linger they go in several calls.
	stats, err := Send(t.Context(), NewFirehose(fake, "s"), slices.Values(sized(40, 10)), SendOptions{Rate: 200, Linger: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 190*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("40 records at 200/s took %v", elapsed)
	}
	if stats.Calls < 2 || stats.Calls > 10 {
		t.Errorf("%d calls (%v), want the records spread over a few calls", stats.Calls, fake.sizes)
	}
}

func TestSendStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	fake := &fakeFirehose{t: t, stream: "s"}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	// 1000 records at 100/s would take 10 s.
	stats, err := Send(ctx, NewFirehose(fake, "s"), slices.Values(sized(1000, 10)), SendOptions{Rate: 100})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second || stats.Generated >= 1000 {
		t.Errorf("stopped after %v with %d of 1000 records taken", elapsed, stats.Generated)
	}
	if stats.Sent+stats.Unsent != stats.Generated {
		t.Errorf("Sent %d + Unsent %d != Generated %d: records unaccounted for", stats.Sent, stats.Unsent, stats.Generated)
	}
}

// TestFirehoseOverTheWire runs the real SDK client, so the request the service sees and the
// answer it gives are the real serialisations.
func TestFirehoseOverTheWire(t *testing.T) {
	noBackoff(t)
	tr := &awsfake.Transport{Record: true, Respond: func(target string, body []byte) (int, string) {
		if target != "Firehose_20150804.PutRecordBatch" {
			return 400, `{"__type":"InvalidArgumentException","message":"unexpected ` + target + `"}`
		}
		var in struct{ Records []struct{ Data []byte } }
		if err := json.Unmarshal(body, &in); err != nil {
			return 400, `{"__type":"InvalidArgumentException"}`
		}
		if len(in.Records) == 3 { // the first call: refuse the middle record
			return 200, `{"FailedPutCount":1,"Encrypted":false,"RequestResponses":[{"RecordId":"r1"},{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."},{"RecordId":"r3"}]}`
		}
		return 200, `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[{"RecordId":"r4"}]}`
	}}
	client := firehose.NewFromConfig(tr.Config(t.Context()))
	records := sized(3, 20)
	stats, err := Send(t.Context(), NewFirehose(client, "stream-to-events-ingest"), slices.Values(records), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reqs := tr.Requests()
	if len(reqs) != 2 || stats.Resent != 1 {
		t.Fatalf("%d requests, Resent %d; want the refused record sent once more", len(reqs), stats.Resent)
	}
	want := `"Data":"` + base64.StdEncoding.EncodeToString(records[1].Data) + `"`
	if body := string(reqs[1].Body); !strings.Contains(body, want) || !strings.Contains(body, `"DeliveryStreamName":"stream-to-events-ingest"`) {
		t.Fatalf("second request %s, want the refused record %s", body, want)
	}

	tr.Respond = func(string, []byte) (int, string) {
		return 400, `{"__type":"ResourceNotFoundException","message":"Firehose nope under account 123456789012 not found."}`
	}
	_, err = Send(t.Context(), NewFirehose(client, "nope"), slices.Values(records), SendOptions{})
	if perm := (*PermanentError)(nil); !errors.As(err, &perm) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v, want a PermanentError naming the missing stream", err)
	}
}

// TestFirehoseDoesNotResendWhatFirehoseTookIn: PutRecordBatch has no idempotency key, so a call
// Firehose answered with success is not sent again when its answer cannot be read (each record
// would land twice in the lake), and its records count as sent. The transformer's put-back, which
// makes the same call, also shows that a call failing before an answer still goes again.
func TestFirehoseDoesNotResendWhatFirehoseTookIn(t *testing.T) {
	noBackoff(t)
	tr := &awsfake.Transport{Record: true, CutAnswers: true, Respond: func(string, []byte) (int, string) {
		return 200, `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[]}`
	}}
	cfg := tr.Config(t.Context())
	cfg.Retryer = awsfake.SDKRetries
	stats, err := Send(t.Context(), NewFirehose(firehose.NewFromConfig(cfg), "ingest"), slices.Values(sized(700, 20)), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tr.Requests()); n != 2 || stats.Sent != 700 {
		t.Errorf("%d PutRecordBatch calls for 700 records, %d sent; want 2 calls, 700 sent", n, stats.Sent)
	}
}
