package transform

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// sqsAnswers answers SendMessageBatch as awsfake.SQSTakesAll does, computing each answer once
// per distinct request and replaying it after, so that a benchmark measures the client and the
// transformer, not the fake.
type sqsAnswers struct {
	mu    sync.Mutex
	cache map[string]string
}

func (a *sqsAnswers) respond(target string, body []byte) (int, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if resp, ok := a.cache[string(body)]; ok {
		return 200, resp
	}
	status, resp := awsfake.SQSTakesAll(target, body)
	if status != 200 {
		return status, resp
	}
	if a.cache == nil {
		a.cache = map[string]string{}
	}
	a.cache[string(body)] = resp
	return 200, resp
}

// batchOf is a Firehose batch of n records, the four sample kinds and raw records in turn, each
// record distinct.
func batchOf(n int) []Input {
	kinds := []string{order, device, inventory, security, raw}
	in := make([]Input, n)
	for i := range in {
		d := kinds[i%len(kinds)]
		d = strings.Replace(d, `"o-1"`, fmt.Sprintf(`"o-%d"`, i), 1)
		in[i] = Input{RecordID: fmt.Sprint(i), Data: []byte(d), ArrivalMillis: 1795428000456 + int64(i), Source: "ingest"}
	}
	return in
}

// BenchmarkTransform runs the hop as Lambda does, minus the network: parse and validate, encode,
// and SendMessageBatch through the real SQS client (serialisation, signing, checksum checks).
// The sender=none runs leave the SDK out, to tell its share from the transformer's.
func BenchmarkTransform(b *testing.B) {
	answers := &sqsAnswers{}
	tr := &awsfake.Transport{Respond: answers.respond}
	client := sqs.NewFromConfig(tr.Config(b.Context()))
	withSDK := newTransformer(b, queue.NewSender(client, "https://sqs.us-east-1.amazonaws.com/123456789012/IngestQueue.fifo"))
	withoutSDK := newTransformer(b, &fakeSender{})
	for _, bc := range []struct {
		name string
		t    *Transformer
		n    int
	}{
		{"sender=sqs/records=100", withSDK, 100},
		{"sender=sqs/records=500", withSDK, 500},
		{"sender=none/records=500", withoutSDK, 500},
	} {
		b.Run(bc.name, func(b *testing.B) {
			t, n := bc.t, bc.n
			in := batchOf(n)
			if _, err := t.Transform(b.Context(), in); err != nil { // fills the answer cache
				b.Fatal(err)
			}
			if f, ok := t.Sender.(*fakeSender); ok {
				f.sent = nil
			}
			awsfake.PerRecord(b, n, func() {
				res, err := t.Transform(b.Context(), in)
				out := res.Outputs
				if err != nil {
					b.Fatal(err)
				}
				if out[0].Result != Ok {
					b.Fatal(out[0].Err)
				}
				if f, ok := t.Sender.(*fakeSender); ok {
					f.sent = f.sent[:0]
				}
			})
		})
	}
}
