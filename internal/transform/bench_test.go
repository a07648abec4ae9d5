package transform

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
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

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpuBefore := cpuTime()
			for b.Loop() {
				out, err := t.Transform(b.Context(), in)
				if err != nil {
					b.Fatal(err)
				}
				if out[0].Result != Ok {
					b.Fatal(out[0].Err)
				}
				if f, ok := t.Sender.(*fakeSender); ok {
					f.sent = f.sent[:0]
				}
			}
			cpu := cpuTime() - cpuBefore
			runtime.ReadMemStats(&after)
			// CPU time next to wall time: on a shared machine the wall clock measures the
			// neighbours too; the process's CPU time (GC included) is what a Lambda core pays.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/record")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/record")
		})
	}
}
