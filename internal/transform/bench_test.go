package transform

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/awsfake"
	"github.com/stream-to-events/stream-to-events/internal/queue"
)

// sqsAnswers answers SendMessageBatch as SQS does, with the MD5 of every body (the SDK checks
// them). Answers are computed once per distinct request and replayed after, so a benchmark
// measures the client and the transformer, not the fake.
type sqsAnswers struct {
	mu    sync.Mutex
	cache map[string]string
}

func (a *sqsAnswers) respond(target string, body []byte) (int, string) {
	if target != "AmazonSQS.SendMessageBatch" {
		return 400, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"unexpected ` + target + `"}`
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if resp, ok := a.cache[string(body)]; ok {
		return 200, resp
	}
	var in struct {
		Entries []struct{ Id, MessageBody string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return 400, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"bad JSON"}`
	}
	var ok []string
	for i, e := range in.Entries {
		sum := md5.Sum([]byte(e.MessageBody))
		ok = append(ok, fmt.Sprintf(`{"Id":%q,"MessageId":"m-%d","MD5OfMessageBody":%q,"SequenceNumber":"1"}`, e.Id, i, hex.EncodeToString(sum[:])))
	}
	resp := `{"Successful":[` + strings.Join(ok, ",") + `],"Failed":[]}`
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
func BenchmarkTransform(b *testing.B) {
	answers := &sqsAnswers{}
	tr := &awsfake.Transport{Respond: answers.respond}
	client := sqs.NewFromConfig(tr.Config(b.Context()))
	t := newTransformer(b, queue.NewSender(client, "https://sqs.us-east-1.amazonaws.com/123456789012/IngestQueue.fifo"))
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			in := batchOf(n)
			if _, err := t.Transform(b.Context(), in); err != nil { // fills the answer cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				out, err := t.Transform(b.Context(), in)
				if err != nil {
					b.Fatal(err)
				}
				if out[0].Result != Ok {
					b.Fatal(out[0].Err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/record")
		})
	}
}
