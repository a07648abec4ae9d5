package queue

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// ingestQueue starts moto with a queue made as template.yaml makes IngestQueue, and returns a
// client of moto's SQS and the queue's URL.
func ingestQueue(t testing.TB) (*sqs.Client, string) {
	t.Helper()
	client := sqs.NewFromConfig(mototest.StartConfig(t))
	return client, mototest.CreateIngestQueue(t, client, "IngestQueue.fifo")
}

// TestSendToFIFOQueue sends through the real SDK client to moto's SQS, with the IngestQueue's
// attributes, and checks what a consumer receives: every record once, in its entity's group, and
// a record sent twice (a Firehose retry) only once.
func TestSendToFIFOQueue(t *testing.T) {
	ctx := t.Context()
	client, url := ingestQueue(t)
	recs := records(12, 20)
	const header = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"
	s := NewSender(client, url)
	if err := s.Send(ctx, recs, header); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, recs[3:4], header); err != nil { // the same record again
		t.Fatal(err)
	}

	var got []record.Record
	for _, m := range mototest.Drain(t, client, url) {
		var r record.Record
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &r); err != nil {
			t.Fatalf("body %q: %v", aws.ToString(m.Body), err)
		}
		if g := m.Attributes["MessageGroupId"]; g != r.GroupID() {
			t.Errorf("record %s in group %q, want %q", r.ID, g, r.GroupID())
		}
		if d := m.Attributes["MessageDeduplicationId"]; d != r.ContentHash() {
			t.Errorf("record %s has deduplication id %q", r.ID, d)
		}
		// moto 5.2 drops MessageSystemAttributes of SendMessageBatch entries (it keeps them for
		// SendMessage only), so AWSTraceHeader is not checked here; the unit tests check that
		// the call carries it.
		got = append(got, r)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	if len(ids) != len(recs) {
		t.Fatalf("received %d messages %v, want each of the %d records once", len(ids), ids, len(recs))
	}
	for i, r := range recs {
		if ids[i] != r.ID {
			t.Errorf("received %v, want the ids of the records sent", ids)
			break
		}
	}
}
