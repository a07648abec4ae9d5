package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
)

// flow is a synthetic hot entity: records arrive evenly at rate for step, wait for the Firehose
// buffer (handed on every whole second), and one FIFO group stores them in batches of up to 10,
// the next batch taken cycle after the previous one (or when its first record is released);
// the store is read every poll. stallAt, when > 0, makes the batch that starts first after it
// take stall longer: one slow answer.
type flow struct {
	rate            float64
	step, cycle     time.Duration
	stallAt, stall  time.Duration
	poll, bufferInt time.Duration
}

func (f flow) run() (samples []hotSample, sent int, sendEnd time.Time) {
	t0 := time.Unix(1_800_000_000, 0)
	n := int(f.rate * f.step.Seconds())
	ceilTo := func(d, unit time.Duration) time.Duration { return (d + unit - 1) / unit * unit }
	arrival := func(i int) time.Duration { return time.Duration(float64(i) / f.rate * float64(time.Second)) }
	released := func(i int) time.Duration { return ceilTo(arrival(i)+1, f.bufferInt) }
	stalled := false
	var free time.Duration
	for i := 0; i < n; {
		start := max(free, released(i))
		j := i
		for j < n && j < i+10 && released(j) <= start {
			j++
		}
		done := start + f.cycle
		if f.stall > 0 && !stalled && start >= f.stallAt {
			done += f.stall
			stalled = true
		}
		for k := i; k < j; k++ {
			samples = append(samples, hotSample{arrival: t0.Add(arrival(k)), seen: t0.Add(ceilTo(done, f.poll))})
		}
		free, i = done, j
	}
	return samples, n, t0.Add(arrival(n - 1))
}

// The detection on synthetic series: a group that stores 10 records every 1.04 s keeps up with
// any rate under 9.6 records/s, whose latency jitters with the buffer but does not trend, and
// falls behind every rate over it, whose latency grows by 1 - 9.6/rate a second.
func TestHotStepGrowsOnlyPastTheCeiling(t *testing.T) {
	base := flow{step: 15 * time.Second, cycle: 1040 * time.Millisecond, poll: hotPoll, bufferInt: time.Second}
	for _, tc := range []struct {
		name    string
		rate    float64
		stallAt time.Duration
		stall   time.Duration
		grows   bool
	}{
		{"2/s", 2, 0, 0, false},
		{"5/s", 5, 0, 0, false},
		{"9/s, just under the ceiling", 9, 0, 0, false},
		{"5/s with one answer 1.5 s late near the end", 5, 11 * time.Second, 1500 * time.Millisecond, false},
		{"5/s with one answer 3 s late mid-step", 5, 7 * time.Second, 3 * time.Second, false},
		{"8/s with one answer 2 s late early on", 8, 2 * time.Second, 2 * time.Second, false},
		{"12/s, just over the ceiling", 12, 0, 0, true},
		{"20/s", 20, 0, 0, true},
		{"40/s", 40, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			f.rate, f.stallAt, f.stall = tc.rate, tc.stallAt, tc.stall
			samples, sent, end := f.run()
			s := stepFigures(tc.rate, samples, sent, end)
			if s.Growing() != tc.grows {
				t.Errorf("growing = %v, want %v (growth %.3f, halves %.3f and %.3f, rise %v, p50 %v, max %v)",
					s.Growing(), tc.grows, s.Growth, s.GrowthEarly, s.GrowthLate, s.Rise, s.Latency.P50, s.Latency.Max)
			}
			if math.Abs(s.Offered-tc.rate) > 0.01*tc.rate {
				t.Errorf("offered %.2f records/s, want %v", s.Offered, tc.rate)
			}
			// Under a backlog the store's rate is the ceiling, 10 records per 1.04 s.
			if want := min(tc.rate, 10/1.04); tc.stall == 0 && math.Abs(s.Served-want) > 0.06*want {
				t.Errorf("served %.2f records/s, want about %.2f", s.Served, want)
			}
		})
	}
}

func TestHotStepOfRecordsNeverStored(t *testing.T) {
	f := flow{rate: 5, step: 10 * time.Second, cycle: time.Second, poll: hotPoll, bufferInt: time.Second}
	samples, sent, end := f.run()
	s := stepFigures(5, samples[:len(samples)-3], sent, end)
	if !s.Growing() || s.Drain != 0 || s.Stored != sent-3 {
		t.Errorf("3 of %d records never stored: growing %v, drain %v, stored %d", sent, s.Growing(), s.Drain, s.Stored)
	}
}

// fakeQuery answers from the items it holds with the partition's sort-key condition applied, as
// DynamoDB would, and keeps the conditions it was asked.
type fakeQuery struct {
	items []map[string]types.AttributeValue
	asked []string
}

func (f *fakeQuery) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	after := ""
	if v, ok := in.ExpressionAttributeValues[":after"].(*types.AttributeValueMemberS); ok {
		after = v.Value
	}
	f.asked = append(f.asked, aws.ToString(in.KeyConditionExpression)+" "+after)
	var out []map[string]types.AttributeValue
	for _, it := range f.items {
		if str(it["pk"]) == in.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS).Value && str(it["sk"]) > after {
			out = append(out, it)
		}
	}
	return &dynamodb.QueryOutput{Items: out}, nil
}

func TestStoreWatcherReadsPastWhatItHasSeenInOrder(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	received := time.Now().Add(-2 * time.Second).UTC()
	item := func(i int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": s("order#k"), "sk": s(fmt.Sprintf("t%d#id%d", i, i)), "id": s(fmt.Sprintf("id%d", i)),
			"receivedAt": s(record.FormatTime(received))}
	}
	db := &fakeQuery{items: []map[string]types.AttributeValue{
		{"pk": s("order#k"), "sk": s("t0#other"), "id": s("other"), "receivedAt": s(record.FormatTime(received))}, // an earlier run's record
		item(0), item(2), // record 1 not written yet
		{"pk": s("order#j"), "sk": s("t1#id1"), "id": s("id1"), "receivedAt": s(record.FormatTime(received))}, // another entity
	}}
	w := newStoreWatcher(db, "EventStore", "order#k")
	w.expect(0, []generate.Record{{ID: "id0"}, {ID: "id1"}})
	w.expect(1, []generate.Record{{ID: "id2"}})
	w.poll(t.Context())
	if w.stored(0) != 1 || w.stored(1) != 1 {
		t.Fatalf("stored %d and %d, want 1 of step 0 (id1 is missing) and 1 of step 1", w.stored(0), w.stored(1))
	}
	db.items = append(db.items, item(1))
	w.poll(t.Context())
	w.poll(t.Context())
	want := []string{"pk = :pk ", "pk = :pk AND sk > :after t0#id0", "pk = :pk AND sk > :after t2#id2"}
	if !slices.Equal(db.asked, want) {
		t.Errorf("queries %q, want %q: each reads past the records all seen in send order", db.asked, want)
	}
	got := w.samples(0)
	if len(got) != 2 || w.stored(0) != 2 {
		t.Fatalf("step 0 samples %d, want both", len(got))
	}
	for _, x := range got {
		if d := x.seen.Sub(x.arrival); d < 2*time.Second || d > 10*time.Second {
			t.Errorf("latency %v, want about 2 s (receivedAt 2 s ago)", d)
		}
	}
}

func TestParseRates(t *testing.T) {
	got, err := parseRates("2, 10,5,,40.5,5")
	if err != nil || !slices.Equal(got, []float64{2, 5, 10, 40.5}) {
		t.Errorf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"2,x", "0", "-3"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}

// The hot-entity case sets its model beside the storer's batch size as deployed: a literal, a
// parameter's value, or Lambda's default for SQS.
func TestStorerBatchSizeAsDeployed(t *testing.T) {
	const storer = `
Resources:
  EventStorerFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        IngestQueue:
          Type: SQS
          Properties:
            Queue: !GetAtt IngestQueue.Arn
%s
`
	for _, tc := range []struct {
		name, props string
		want        int
	}{
		{"literal", "            BatchSize: 5", 5},
		{"parameter", "            BatchSize: !Ref StorerBatchSize", 7},
		{"unset", "", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := stacktest.NewFake(t, fmt.Sprintf(storer, tc.props), "")
			st.Ref = func(id string) (any, error) { return map[string]any{"StorerBatchSize": "7"}[id], nil }
			st.GetAtt = func(id, attribute string) (any, error) { return "arn:aws:sqs:us-east-1:000000000000:" + id, nil }
			got, err := storerBatchSize(st)
			if err != nil || got != tc.want {
				t.Errorf("storerBatchSize = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	st := stacktest.NewFake(t, "Resources:\n  EventStorerFunction:\n    Type: AWS::Serverless::Function\n    Properties: {}\n", "")
	if _, err := storerBatchSize(st); err == nil {
		t.Error("a storer without its IngestQueue event: no error")
	}
}
