package reliability

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	fhsdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/lake"
	"github.com/stream-to-events/stream-to-events/local/motoserver"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// shortened are the template's timeouts cut for the tests, so that a function hung until its
// timeout, or a failed queue batch waiting out its visibility timeout, costs seconds rather than
// minutes. They stay well above what a call takes: moto on a loaded two-core machine has been
// seen to take 17 s for one PutEvents. The queue keeps its visibility timeout (six times the
// storer's): one close to the storer's timeout lets a slow batch's messages be received again
// while it runs, and each receive counts towards the DLQ; a failed batch is retried soon by the
// runner's FailedVisibility instead. The flow is otherwise the template's. Each must occur at least once.
var shortened = []struct{ old, new string }{
	{"    Timeout: 30\n", "    Timeout: 15\n"},     // Globals: storer, emitter, responder
	{"      Timeout: 60\n", "      Timeout: 10\n"}, // the Firehose processors
	// What the transformer takes on in one invocation, cut with its timeout.
	{`          MAX_RECORDS: "2500"` + "\n", `          MAX_RECORDS: "400"` + "\n"},
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// flow is one running local stack, with clients that read it straight from moto (so that the
// checks neither count as calls nor meet injected faults).
type flow struct {
	t     *testing.T
	r     *runner.Runner
	chaos *chaos
	moto  string

	db  *dynamodb.Client
	s3  *s3.Client
	sqs *sqs.Client
	fh  *fhsdk.Client // through the edge, signed "generator", as a producer

	bucket, store, projection, stream string
	queues                            map[string]string // logical ID -> moto URL

	lake *lake.Reader[[]lakeLine] // the lines of each lake object

	warnings *tailWriter // the runner's warnings and errors, for a failure's diagnosis
	motoLog  string      // moto_server's output
}

// startFlow starts moto, the chaos proxy and the runner with the shortened template.
func startFlow(t *testing.T) *flow {
	t.Helper()
	return startFlowWith(t, nil)
}

// startFlowWith starts a flow with more template changes (old, new pairs) than shortened.
func startFlowWith(t *testing.T, more [][2]string) *flow {
	t.Helper()
	return startFlowBuffering(t, more, time.Second)
}

// startFlowBuffering starts a flow whose Firehose buffers wait at most interval (besides what
// await's flushes force). Every test that starts one runs for a minute or more, so -short skips
// it here.
func startFlowBuffering(t *testing.T, more [][2]string, interval time.Duration) *flow {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole local flow")
	}
	mototest.Require(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(tmpl)
	for _, s := range shortened {
		if !strings.Contains(text, s.old) {
			t.Fatalf("template.yaml no longer holds %q: update the test's shortened settings", s.old)
		}
		text = strings.ReplaceAll(text, s.old, s.new)
	}
	for _, m := range more {
		if !strings.Contains(text, m[0]) {
			t.Fatalf("the test template does not hold %q", m[0])
		}
		text = strings.ReplaceAll(text, m[0], m[1])
	}
	tmplPath := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(tmplPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	// moto and the runner outlive t.Context(), which ends before the cleanups run.
	ctx := context.Background()
	motoLog, err := os.Create(filepath.Join(t.TempDir(), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = motoLog.Close() })
	moto, err := motoserver.Start(ctx, 0, motoLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	c, err := newChaos(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(c)
	t.Cleanup(proxy.Close)

	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "s2e-reliability-build-")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	warnings := &tailWriter{max: 30}
	var logw io.Writer = warnings
	if os.Getenv("S2E_TEST_LOG") != "" {
		logw = io.MultiWriter(os.Stderr, warnings)
	}
	logger := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := runner.Start(ctx, runner.Options{
		Template:         tmplPath,
		Root:             root,
		BuildDir:         buildDir,
		Endpoint:         proxy.URL,
		Parts:            runner.Parts{Firehose: true, Triggers: true},
		BufferInterval:   interval,
		FailedVisibility: 2 * time.Second,
		Logs:             io.Discard,
		Logger:           logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = r.Stop(stopCtx)
	})
	c.mu.Lock()
	c.signal = r.Lambda.Signal
	c.mu.Unlock()

	cfg := spec.RunnerConfig(moto.URL)
	f := &flow{
		t: t, r: r, chaos: c, moto: moto.URL,
		db:       dynamodb.NewFromConfig(cfg),
		s3:       s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		sqs:      sqs.NewFromConfig(cfg),
		fh:       fhsdk.NewFromConfig(spec.ClientConfig(r.Endpoint(), "generator")),
		queues:   map[string]string{},
		warnings: warnings,
		motoLog:  motoLog.Name(),
	}
	f.bucket = f.physical("LakeBucket")
	f.lake = &lake.Reader[[]lakeLine]{Client: f.s3, Bucket: f.bucket, Read: readLakeLines}
	f.store = f.physical("EventStoreTable")
	f.projection = f.physical("ProjectionTable")
	f.stream = r.Firehose.Streams()[0]
	for _, id := range []string{"IngestQueue", "IngestDLQ", "EmitterDLQ", "ResponderDLQ", "ConflictQueue"} {
		u, err := url.Parse(f.physical(id))
		if err != nil {
			t.Fatal(err)
		}
		f.queues[id] = moto.URL + u.Path
	}
	return f
}

func (f *flow) physical(id string) string {
	f.t.Helper()
	v, ok := f.r.Stack.PhysicalID(id)
	if !ok {
		f.t.Fatalf("the stack has no %s", id)
	}
	return v
}

// send puts records on the delivery stream as a producer does, resending what is refused.
func (f *flow) send(ctx context.Context, records []generate.Record) {
	f.t.Helper()
	if _, err := generate.Send(ctx, generate.NewFirehose(f.fh, f.stream), slices.Values(records), generate.SendOptions{}); err != nil {
		f.t.Fatalf("send: %v", err)
	}
}

// state is what the flow holds, by record id and entity.
type state struct {
	lake       map[string]int    // record id -> lines under records/
	store      map[string]int    // record id -> event store items
	projection map[string]string // "type#key" -> record id held
	emitted    map[string]int    // record id -> DataInserted events put on the bus
	depths     map[string]int    // queue logical ID -> messages waiting or in flight
}

func (f *flow) observe(ctx context.Context) (state, error) {
	s := state{lake: map[string]int{}, store: map[string]int{}, projection: map[string]string{}, depths: map[string]int{}}
	s.emitted = f.chaos.emittedCounts()
	if err := f.readLake(ctx, s.lake); err != nil {
		return s, err
	}
	err := f.scan(ctx, f.store, func(item map[string]ddbtypes.AttributeValue) {
		s.store[str(item["id"])]++
	})
	if err != nil {
		return s, err
	}
	err = f.scan(ctx, f.projection, func(item map[string]ddbtypes.AttributeValue) {
		s.projection[str(item["pk"])+"#"+str(item["sk"])] = str(item["id"])
	})
	if err != nil {
		return s, err
	}
	s.depths, err = f.depths(ctx)
	return s, err
}

// depths are the messages waiting or in flight in each queue, by logical ID.
func (f *flow) depths(ctx context.Context) (map[string]int, error) {
	depths := map[string]int{}
	for id, u := range f.queues {
		out, err := f.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		}})
		if err != nil {
			return depths, fmt.Errorf("queue %s: %w", id, err)
		}
		a, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		b, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
		depths[id] = a + b
	}
	return depths, nil
}

func str(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// scan calls each with the keys and the record id of every item of table.
func (f *flow) scan(ctx context.Context, table string, each func(map[string]ddbtypes.AttributeValue)) error {
	return mototest.Scan(ctx, f.db, table, "pk, sk, id", each)
}

// readLake counts the records/ lines by record id.
func (f *flow) readLake(ctx context.Context, into map[string]int) error {
	lines, err := f.lakeLines(ctx, "records/")
	if err != nil {
		return err
	}
	for _, l := range lines {
		into[l.id]++
	}
	return nil
}

// expectation is what a set of sent records must become, by record id and entity.
type expectation struct {
	sentByID map[string]int    // valid envelope records: lake lines of each id
	newest   map[string]string // entity -> the id the projection must hold
	valid    int
	sent     int
	noLake   bool // the records skipped Firehose: the lake holds none of them
}

func expect(records []generate.Record) expectation {
	x := generate.Expect(records)
	e := expectation{sentByID: x.SentByID, newest: map[string]string{}, valid: x.Valid, sent: x.Sent}
	for k, r := range x.Newest {
		e.newest[k] = r.ID
	}
	return e
}

// outcome compares a state with an expectation.
type outcome struct {
	lost       []string // ids missing from the store, the lake (fewer lines than sent) or the bus
	lakeExtra  int      // lake lines beyond what was sent
	dupStore   int      // store items beyond one per id
	dupEmitted int      // events beyond one per id
	stale      []string // entities whose projection is not the newest record
}

func (x expectation) compare(s state) outcome {
	var o outcome
	for id, n := range x.sentByID {
		if x.noLake {
			n = 0
		}
		if s.store[id] == 0 || s.lake[id] < n || s.emitted[id] == 0 {
			o.lost = append(o.lost, fmt.Sprintf("%s (lake %d of %d, store %d, emitted %d)", id, s.lake[id], n, s.store[id], s.emitted[id]))
		}
		o.lakeExtra += max(0, s.lake[id]-n)
		o.dupStore += max(0, s.store[id]-1)
		o.dupEmitted += max(0, s.emitted[id]-1)
	}
	for k, id := range x.newest {
		if s.projection[k] != id {
			o.stale = append(o.stale, fmt.Sprintf("%s holds %q, want %q", k, s.projection[k], id))
		}
	}
	slices.Sort(o.lost)
	slices.Sort(o.stale)
	return o
}

func (o outcome) complete() bool { return len(o.lost) == 0 && len(o.stale) == 0 }

// await polls until every record of x has crossed every hop and the ingest queue is empty, then
// lets the flow settle (a retried batch may still be emitting) and returns the final state.
func (f *flow) await(ctx context.Context, x expectation, timeout time.Duration) (state, outcome) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var s state
	var o outcome
	for {
		if err := f.r.Firehose.Flush(ctx); err != nil && ctx.Err() == nil {
			f.t.Fatalf("flush firehose: %v", err)
		}
		var err error
		s, err = f.observe(context.WithoutCancel(ctx))
		if err != nil {
			f.t.Fatal(err)
		}
		o = x.compare(s)
		if o.complete() && s.depths["IngestQueue"] == 0 {
			break
		}
		select {
		case <-ctx.Done():
			f.t.Logf("await gave up after %s; where the records are: %s", timeout, f.diagnose(context.WithoutCancel(ctx)))
			return s, o
		case <-time.After(time.Second):
		}
	}
	time.Sleep(settle)
	s, err := f.observe(context.WithoutCancel(ctx))
	if err != nil {
		f.t.Fatal(err)
	}
	return s, x.compare(s)
}

// diagnose says where records that did not cross the flow may be: the ingest queue's visible and
// in-flight messages (a FIFO group held by a message in flight holds every later record of its
// entity), what the triggers and the functions did and have in flight, the runner's last
// warnings, and moto's server errors.
func (f *flow) diagnose(ctx context.Context) string {
	var b strings.Builder
	out, err := f.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(f.queues["IngestQueue"]), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}})
	if err != nil {
		fmt.Fprintf(&b, "\nIngestQueue: %v", err)
	} else {
		fmt.Fprintf(&b, "\nIngestQueue: %s visible, %s in flight", out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)],
			out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	}
	counts := f.r.ESM.Counts()
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		c := counts[name]
		fmt.Fprintf(&b, "\ntrigger %s: %d batches, %d records, %d failed, %d dead-lettered", name, c.Batches, c.Records, c.Failed, c.DeadLettered)
	}
	stats := f.r.Lambda.Stats()
	for _, id := range slices.Sorted(maps.Keys(stats)) {
		st := stats[id]
		fmt.Fprintf(&b, "\nfunction %s: %d invocations, %d errors, %d timeouts, %d crashes, %d in flight", id, st.Invocations, st.Errors, st.Timeouts, st.Crashes, st.InFlight)
	}
	fmt.Fprintf(&b, "\nrunner's last warnings:\n%s", f.warnings)
	if log, err := os.ReadFile(f.motoLog); err == nil {
		var failed []string
		for line := range strings.Lines(string(log)) {
			if strings.Contains(line, "Traceback") || strings.Contains(line, "Error") || strings.Contains(line, `" 500 `) {
				failed = append(failed, line)
			}
		}
		fmt.Fprintf(&b, "moto: %d lines of errors or 500s\n%s", len(failed), strings.Join(failed[max(0, len(failed)-10):], ""))
	}
	return b.String()
}

// tailWriter keeps the last max lines written to it.
type tailWriter struct {
	max   int
	mu    sync.Mutex
	lines []string
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for line := range strings.Lines(string(p)) {
		w.lines = append(w.lines, line)
	}
	if n := len(w.lines) - w.max; n > 0 {
		w.lines = slices.Delete(w.lines, 0, n)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "")
}

// settle is how long a drained flow is watched for late duplicates.
const settle = 2 * time.Second

// injected sums the edge's injected faults since before, by "service operation".
func injected(before, after []edge.CallCount) (int, map[string]int) {
	was := map[string]int{}
	for _, c := range before {
		was[c.Caller+" "+c.Service+" "+c.Operation] += c.Injected
	}
	total := 0
	byOp := map[string]int{}
	for _, c := range after {
		n := c.Injected - was[c.Caller+" "+c.Service+" "+c.Operation]
		if n > 0 {
			byOp[c.Service+" "+c.Operation] += n
			total += n
		}
	}
	return total, byOp
}

// records generates n records of one case: no raw records (they carry no producer id to follow
// them by), a few invalid ones and duplicates, few entities so that each has several versions,
// and times after every earlier case's, so that cases sharing a stack do not meet in the
// projection.
func records(t *testing.T, seed uint64, n int) []generate.Record {
	t.Helper()
	rs, err := generate.Generate(generate.Options{
		Seed: seed, Invalid: 0.05, Duplicates: 0.1, Entities: 5,
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed) * 24 * time.Hour),
	}, n)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
