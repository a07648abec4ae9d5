package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/local/motoserver"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// isolate keeps the developer's AWS configuration out of a test.
func isolate(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestFlagsAreChecked(t *testing.T) {
	isolate(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--count", "5", "--stack", ""}, "no destination: give --stream NAME or --stack NAME"},
		{[]string{"--target", "queue", "--stack", ""}, "give --queue-url URL or --stack NAME"},
		{[]string{"--stream", "s", "--target", "kinesis"}, `--target "kinesis"`},
		{[]string{"--stream", "s", "--raw", "0.6", "--invalid", "0.6"}, "add up to 1.2"},
		{[]string{"--stream", "s", "--duplicates", "2"}, "duplicates share 2 is outside 0..1"},
		{[]string{"--stack", "s", "--target", "queue", "--invalid", "0.1"}, "no queue message"},
		{[]string{"--stream", "s", "extra"}, `unexpected argument "extra"`},
		{[]string{"--stream", "s", "--rate", "-1"}, "--rate -1 is negative"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	// A flag the command does not know is explained once, by the flag package.
	code, _, stderr := runCLI(t, "--stream", "s", "--nope")
	if code != 2 || strings.Count(stderr, "flag provided but not defined: -nope") != 1 {
		t.Fatalf("exit %d, stderr %q; want 2 and the unknown flag named once", code, stderr)
	}
}

// fakeFirehose is a Firehose endpoint over HTTP, answering the two calls the generator makes.
type fakeFirehose struct {
	stream string
	mu     sync.Mutex
	calls  int
	data   [][]byte
	signed []string // access keys the calls were signed with
}

func (f *fakeFirehose) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signed = append(f.signed, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	var in struct {
		DeliveryStreamName string
		Records            []struct{ Data []byte }
	}
	_ = json.Unmarshal(body, &in)
	if in.DeliveryStreamName != f.stream {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"ResourceNotFoundException","message":"Firehose %s under account 123456789012 not found."}`, in.DeliveryStreamName)
		return
	}
	switch r.Header.Get("X-Amz-Target") {
	case "Firehose_20150804.DescribeDeliveryStream":
		fmt.Fprintf(w, `{"DeliveryStreamDescription":{"DeliveryStreamName":%q,"DeliveryStreamARN":"arn:aws:firehose:us-east-1:123456789012:deliverystream/%s","DeliveryStreamStatus":"ACTIVE","DeliveryStreamType":"DirectPut","VersionId":"1","Destinations":[],"HasMoreDestinations":false}}`, f.stream, f.stream)
	case "Firehose_20150804.PutRecordBatch":
		f.calls++
		var resps []string
		failed := 0
		for i, rec := range in.Records {
			if f.calls == 1 && i < 2 { // the first call refuses two records
				failed++
				resps = append(resps, `{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."}`)
				continue
			}
			f.data = append(f.data, rec.Data)
			resps = append(resps, fmt.Sprintf(`{"RecordId":"%d"}`, len(f.data)))
		}
		fmt.Fprintf(w, `{"FailedPutCount":%d,"Encrypted":false,"RequestResponses":[%s]}`, failed, strings.Join(resps, ","))
	default:
		w.WriteHeader(400)
		fmt.Fprint(w, `{"__type":"InvalidAction"}`)
	}
}

func TestSendsToADeliveryStream(t *testing.T) {
	isolate(t)
	fake := &fakeFirehose{stream: "stream-to-events-ingest"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	code, stdout, stderr := runCLI(t, "--endpoint", srv.URL, "--stream", "stream-to-events-ingest", "--count", "1200",
		"--seed", "5", "--start", "2026-11-23T10:00:00Z", "--raw", "0.1", "--invalid", "0.05", "--duplicates", "0.1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	records, err := generate.Generate(generate.Options{Seed: 5, Raw: 0.1, Invalid: 0.05, Duplicates: 0.1,
		Start: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}, 1200)
	if err != nil {
		t.Fatal(err)
	}
	x := generate.Expect(records)
	dups := 0
	for _, r := range records {
		if r.Duplicate() {
			dups++
		}
	}
	if len(fake.data) != 1200 || sum.Sent != 1200 || sum.Resent != 2 || sum.Calls != 4 || fake.calls != 4 {
		t.Errorf("fake got %d records in %d calls; summary %+v", len(fake.data), fake.calls, sum)
	}
	if sum.Invalid != x.Invalid || sum.Duplicates != dups || sum.ByType["raw"] != len(x.Raw) || sum.Seed != 5 || sum.Destination != "stream-to-events-ingest" {
		t.Errorf("summary %+v, want %d invalid, %d duplicates, %d raw, seed 5", sum, x.Invalid, dups, len(x.Raw))
	}
	if !strings.Contains(stderr, "sent 1200 of 1200 records to firehose stream-to-events-ingest") || !strings.Contains(stderr, "refused then resent: 2") {
		t.Errorf("text summary on stderr with --json: %q", stderr)
	}
	if !strings.Contains(fake.signed[0], "Credential="+localAccessKey+"/") {
		t.Errorf("signed with %q, want the generator's own access key on a local endpoint", fake.signed[0])
	}
	// The same seed sends the same bytes: a run can be replayed.
	for i, d := range fake.data[:10] {
		if !bytes.Equal(d, records[i+2].Data) {
			t.Fatalf("record %d sent %q, want the seeded sequence", i, d)
		}
	}
}

func TestProgressBarOnlyWhereAsked(t *testing.T) {
	isolate(t)
	fake := &fakeFirehose{stream: "s"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, tc := range []struct {
		progress string
		wantBar  bool
	}{{"auto", false}, {"on", true}, {"off", false}} {
		code, stdout, stderr := runCLI(t, "--endpoint", srv.URL, "--stream", "s", "--count", "50", "--progress", tc.progress)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if hasBar := strings.Contains(stdout, "100% 50/50 records"); hasBar != tc.wantBar {
			t.Errorf("--progress %s: bar drawn %v on a buffer: %q", tc.progress, hasBar, stdout)
		}
		if !strings.Contains(stdout, "sent 50 of 50 records") {
			t.Errorf("--progress %s: no summary on stdout: %q", tc.progress, stdout)
		}
	}
}

func TestClearErrors(t *testing.T) {
	isolate(t)
	fake := &fakeFirehose{stream: "s"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	port, err := motoserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nothing := fmt.Sprintf("http://127.0.0.1:%d", port)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no endpoint answering", []string{"--endpoint", nothing, "--stream", "s"}, "no endpoint answering at " + nothing},
		{"no such stream", []string{"--endpoint", srv.URL, "--stream", "typo"}, `delivery stream "typo" not found at ` + srv.URL},
		{"no region for AWS", []string{"--stream", "s"}, "no AWS region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestStackNamesTheQueue resolves the queue from a stack's Outputs in moto's CloudFormation and
// sends the transformer's messages there, duplicates removed by the FIFO queue.
func TestStackNamesTheQueue(t *testing.T) {
	moto := mototest.Start(t)
	t.Setenv("CONTRACTS_DIR", "../../layers/contracts")
	cfg, err := awsclient.Config(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const template = `{"Resources":{"IngestQueue":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":"ingest.fifo","FifoQueue":true}}},
"Outputs":{"IngestQueueUrl":{"Value":{"Ref":"IngestQueue"}},"IngestDeliveryStreamName":{"Value":"stream-to-events-ingest"}}}`
	if _, err := cloudformation.NewFromConfig(cfg).CreateStack(t.Context(), &cloudformation.CreateStackInput{
		StackName: aws.String("s2e-test"), TemplateBody: aws.String(template),
	}); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCLI(t, "--endpoint", moto.URL, "--stack", "s2e-test", "--target", "queue",
		"--count", "30", "--duplicates", "0.2", "--seed", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Sent != 30 || !strings.HasSuffix(sum.Destination, "/ingest.fifo") {
		t.Fatalf("summary %+v (%v), want 30 sent to the stack's queue", sum, err)
	}
	attrs, err := sqs.NewFromConfig(cfg).GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(sum.Destination), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs.Attributes["ApproximateNumberOfMessages"]; got != "24" {
		t.Errorf("%s messages on the queue, want 24 (30 sent, 6 duplicates)", got)
	}

	code, _, stderr = runCLI(t, "--endpoint", moto.URL, "--stack", "nope")
	if code != 1 || !strings.Contains(stderr, `stack "nope" not found at `+moto.URL) {
		t.Fatalf("unknown stack: exit %d, %q", code, stderr)
	}
	// Without names, the default stack is asked: moto has none of that name here.
	code, _, stderr = runCLI(t, "--endpoint", moto.URL, "--count", "1")
	if code != 1 || !strings.Contains(stderr, `stack "stream-to-events" not found`) {
		t.Fatalf("default stack: exit %d, %q", code, stderr)
	}
}
