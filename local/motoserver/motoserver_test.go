package motoserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/test/mototest"
)

func TestStartStopsWithTheTest(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) {
		s := mototest.Start(t)
		url = s.URL
		resp, err := http.Get(s.URL + "/moto-api/")
		if err != nil {
			t.Fatalf("moto_server does not answer: %v", err)
		}
		resp.Body.Close()
	})
	if url == "" {
		t.Skip("moto_server not installed")
	}
	if resp, err := http.Get(url + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Fatalf("moto_server still answers on %s after the test ended", url)
	}
}

// startForClients starts moto for the test and returns the SDK configuration that reaches it.
func startForClients(tb testing.TB) aws.Config {
	tb.Helper()
	mototest.Start(tb)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// putEventsToQueue makes a bus whose rule delivers to an SQS queue, as the local runner does for
// the responder's rule, and returns a function that puts n events and waits for them on the queue.
func putEventsToQueue(tb testing.TB) func(n int) {
	tb.Helper()
	ctx, cfg := context.Background(), startForClients(tb)
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	queueURL := mototest.BusToQueue(tb, cfg, "bus", `{"detail-type":["DataInserted"]}`)
	return func(n int) {
		tb.Helper()
		for sent := 0; sent < n; sent += 10 {
			var entries []ebtypes.PutEventsRequestEntry
			for i := sent; i < min(n, sent+10); i++ {
				entries = append(entries, ebtypes.PutEventsRequestEntry{EventBusName: aws.String("bus"), Source: aws.String("test"),
					DetailType: aws.String("DataInserted"), Detail: aws.String(fmt.Sprintf(`{"n":%d}`, i))})
			}
			out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
			if err != nil || out.FailedEntryCount > 0 {
				tb.Fatalf("PutEvents: %v, %d failed", err, aws.ToInt32(&out.FailedEntryCount))
			}
		}
		for got := 0; got < n; {
			msgs, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				tb.Fatal(err)
			}
			if len(msgs.Messages) == 0 {
				tb.Fatalf("%d of %d events reached the rule's queue", got, n)
			}
			for _, m := range msgs.Messages {
				var ev struct {
					DetailType string          `json:"detail-type"`
					Detail     json.RawMessage `json:"detail"`
				}
				if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil || ev.DetailType != "DataInserted" || len(ev.Detail) == 0 {
					tb.Fatalf("the queue got %q, not the event (%v)", aws.ToString(m.Body), err)
				}
				if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
					tb.Fatal(err)
				}
			}
			got += len(msgs.Messages)
		}
	}
}

// The speed-up moto is started with must leave EventBridge's delivery as it was: the whole event,
// on the rule's target.
func TestRuleDeliversToQueue(t *testing.T) {
	putEventsToQueue(t)(25)
}

// BenchmarkPutEventsToQueue is what the sitecustomize.py moto_server starts with is for: without
// it, about 120 ms an event on an idle machine; with it, about 1 ms.
func BenchmarkPutEventsToQueue(b *testing.B) {
	put := putEventsToQueue(b)
	for b.Loop() {
		put(10)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*10), "ms/event")
}

// fifoQueue makes a FIFO queue holding n messages, ten to a SendMessageBatch call.
func fifoQueue(tb testing.TB, n int) (*sqs.Client, *string, func(n int)) {
	tb.Helper()
	ctx, q := context.Background(), sqs.NewFromConfig(startForClients(tb))
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ingest.fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "180"}})
	if err != nil {
		tb.Fatal(err)
	}
	sent := 0
	send := func(n int) {
		tb.Helper()
		for end := sent + n; sent < end; {
			var entries []sqstypes.SendMessageBatchRequestEntry
			for i := range min(10, end-sent) {
				id := fmt.Sprint(sent + i)
				entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(`{"n":` + id + `}`),
					MessageGroupId: aws.String("g" + fmt.Sprint((sent+i)%100)), MessageDeduplicationId: aws.String(id)})
			}
			res, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: out.QueueUrl, Entries: entries})
			if err != nil || len(res.Failed) > 0 {
				tb.Fatalf("SendMessageBatch: %v %+v", err, res)
			}
			sent += len(entries)
		}
	}
	send(n)
	return q, out.QueueUrl, send
}

// GetQueueAttributes counts the queue afresh, though moto is started to reuse the counts for
// 100 ms in its own reads: the tests and `redrive` read them to know when a queue is drained.
func TestQueueCountsFollowTheQueue(t *testing.T) {
	q, url, _ := fifoQueue(t, 25)
	counts := func() string {
		out, err := q.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes["ApproximateNumberOfMessages"] + " visible, " + out.Attributes["ApproximateNumberOfMessagesNotVisible"] + " in flight"
	}
	expect := func(want string) {
		t.Helper()
		if got := counts(); got != want {
			t.Fatalf("queue counts %q, want %q", got, want)
		}
	}
	expect("25 visible, 0 in flight")
	msgs, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	expect(fmt.Sprintf("%d visible, %d in flight", 25-len(msgs.Messages), len(msgs.Messages)))
}

// BenchmarkSendToDeepFIFOQueue is a SendMessageBatch call to a FIFO queue holding 5,000
// messages: without the sitecustomize.py moto is started with, seconds a call, as each message
// sent scans the whole queue six times; with it, milliseconds.
func BenchmarkSendToDeepFIFOQueue(b *testing.B) {
	_, _, send := fifoQueue(b, 5000)
	for b.Loop() {
		send(10)
	}
}

// Messages sent while others are deleted all stay on the queue until they are received: moto
// dropped a message sent during a delete of the same queue (a race the sitecustomize.py moto is
// started with closes). The queue is kept deep, so that each delete takes long enough to meet a
// send; without the lock this lost a few messages in a thousand.
func TestQueueKeepsMessagesSentDuringDeletes(t *testing.T) {
	const deep, more = 4000, 2000
	q, url, send := fifoQueue(t, deep)
	ctx := t.Context()
	var mu sync.Mutex
	got := map[string]bool{}
	stop := make(chan struct{})
	var consumers sync.WaitGroup
	for range 3 {
		consumers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil || len(out.Messages) == 0 {
					continue
				}
				in := &sqs.DeleteMessageBatchInput{QueueUrl: url}
				mu.Lock()
				for i, m := range out.Messages {
					got[aws.ToString(m.Body)] = true
					in.Entries = append(in.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
				}
				mu.Unlock()
				if _, err := q.DeleteMessageBatch(ctx, in); err != nil {
					t.Error(err)
				}
			}
		})
	}
	send(more)
	for waited := 0; ; waited++ {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == deep+more || waited == 120 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	close(stop)
	consumers.Wait()
	if len(got) != deep+more {
		t.Errorf("%d of %d messages received: the rest were lost", len(got), deep+more)
	}
}

// A Kinesis shard read page by page gives every record once, in order, whatever the page size:
// moto is started to find where a GetRecords begins by sequence number instead of reading the
// shard from its start (see sitecustomize.py).
func TestKinesisShardReadsInOrder(t *testing.T) {
	ctx, k := t.Context(), kinesis.NewFromConfig(startForClients(t))
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("changes"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	const n = 230
	for sent := 0; sent < n; sent += 100 {
		var entries []kinesistypes.PutRecordsRequestEntry
		for i := sent; i < min(n, sent+100); i++ {
			entries = append(entries, kinesistypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprint(i)), PartitionKey: aws.String("p")})
		}
		out, err := k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("changes"), Records: entries})
		if err != nil || aws.ToInt32(out.FailedRecordCount) > 0 {
			t.Fatalf("PutRecords: %v", err)
		}
	}
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("changes")})
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []int32{1, 7, 100, 1000} {
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("changes"), ShardId: shards.Shards[0].ShardId,
			ShardIteratorType: kinesistypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for next := it.ShardIterator; next != nil && len(got) < n; {
			out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next, Limit: aws.Int32(page)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Records) > int(page) {
				t.Fatalf("a page of %d records for a limit of %d", len(out.Records), page)
			}
			for _, r := range out.Records {
				got = append(got, string(r.Data))
			}
			next = out.NextShardIterator
			if len(out.Records) == 0 {
				break
			}
		}
		for i := range n {
			if i >= len(got) || got[i] != fmt.Sprint(i) {
				t.Fatalf("pages of %d: record %d is %v (of %d read)", page, i, got[min(i, len(got)-1)], len(got))
			}
		}
		if len(got) != n {
			t.Errorf("pages of %d: %d records read, want %d", page, len(got), n)
		}
	}
}
