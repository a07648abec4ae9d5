package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/esm"
	"github.com/stream-to-events/stream-to-events/local/firehose"
	"github.com/stream-to-events/stream-to-events/local/lake"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Summary is what the pipeline holds at one moment, hop by hop: what the demo prints and what an
// end-to-end check compares with what was sent.
type Summary struct {
	// LakeObjects and LakeLines count the objects and lines under each top-level prefix of
	// every bucket of the stack ("records/", "errors/", …), gzip undone.
	LakeObjects map[string]int
	LakeLines   map[string]int
	// Items counts the items of each table of the stack, by logical ID.
	Items map[string]int
	// QueueDepths are the messages (visible and in flight) of each queue, by logical ID.
	QueueDepths map[string]int
	Firehose    map[string]firehose.Counts
	Mappings    map[string]esm.Counts
	Calls       []edge.CallCount
}

// Handled is how many records function's triggers handed it that it did not give back: each
// delivery is counted when its invocation starts, so a batch may still be writing.
func (s Summary) Handled(function string) int {
	n := 0
	for name, c := range s.Mappings {
		if strings.HasPrefix(name, function+".") {
			n += int(c.Records - c.Failed)
		}
	}
	return n
}

// Summary reads the stack's buckets, tables and queues straight from moto (so that reading does
// not show up in the call counts) and the parts' own counters. A lake object is fetched only the
// first time a summary sees it, so polling stays cheap as the lake grows.
func (r *Runner) Summary(ctx context.Context) (Summary, error) {
	s := Summary{
		LakeObjects: map[string]int{}, LakeLines: map[string]int{},
		Items: map[string]int{}, QueueDepths: map[string]int{},
	}
	if r.Edge != nil {
		s.Calls = r.Edge.Calls()
	}
	if r.Firehose != nil {
		s.Firehose = r.Firehose.Counts()
	}
	if r.ESM != nil {
		s.Mappings = r.ESM.Counts()
	}
	cfg := spec.RunnerConfig(r.upstream)
	tmpl := r.Stack.Template()

	for _, id := range tmpl.OfType("AWS::S3::Bucket") {
		bucket, ok := r.Stack.PhysicalID(id)
		if !ok {
			continue
		}
		lines, err := r.lakeReader(cfg, bucket).Objects(ctx, "")
		if err != nil {
			return s, err
		}
		for key, n := range lines {
			prefix, _, _ := strings.Cut(key, "/")
			prefix += "/"
			s.LakeObjects[prefix]++
			s.LakeLines[prefix] += n
		}
	}

	db := dynamodb.NewFromConfig(cfg)
	for _, id := range tmpl.OfType("AWS::DynamoDB::Table") {
		table, ok := r.Stack.PhysicalID(id)
		if !ok {
			continue
		}
		pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), Select: ddbtypes.SelectCount})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return s, fmt.Errorf("count table %s: %w", table, err)
			}
			s.Items[id] += int(page.Count)
		}
	}

	sq := sqs.NewFromConfig(cfg)
	for _, id := range tmpl.OfType("AWS::SQS::Queue") {
		n, err := r.queueDepth(ctx, sq, id)
		if errors.Is(err, errUnknown) {
			continue
		}
		if err != nil {
			return s, err
		}
		s.QueueDepths[id] = n
	}
	return s, nil
}

// lakeReader is the reader of bucket that Summary polls, made at its first use; it counts each
// object's lines once.
func (r *Runner) lakeReader(cfg aws.Config, bucket string) *lake.Reader[int] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lakes[bucket] == nil {
		if r.lakes == nil {
			r.lakes = map[string]*lake.Reader[int]{}
		}
		c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		r.lakes[bucket] = &lake.Reader[int]{Client: c, Bucket: bucket, Read: countLines}
	}
	return r.lakes[bucket]
}

// countLines counts the lines of a lake object that hold something.
func countLines(_ string, body []byte) (int, error) {
	n := 0
	for _, l := range lake.Lines(body) {
		if len(bytes.TrimSpace(l)) > 0 {
			n++
		}
	}
	return n, nil
}

// Print writes the summary as aligned text.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintln(w, "Lake (objects, lines):")
	for _, p := range slices.Sorted(maps.Keys(s.LakeObjects)) {
		fmt.Fprintf(w, "  %-24s %6d objects %8d lines\n", p, s.LakeObjects[p], s.LakeLines[p])
	}
	if len(s.Firehose) > 0 {
		fmt.Fprintln(w, "Firehose:")
		for _, name := range slices.Sorted(maps.Keys(s.Firehose)) {
			c := s.Firehose[name]
			fmt.Fprintf(w, "  %-48s in %d  delivered %d  dropped %d  failed %d\n", name, c.In, c.Delivered, c.Dropped, c.Failed)
		}
	}
	fmt.Fprintln(w, "Tables (items):")
	for _, id := range slices.Sorted(maps.Keys(s.Items)) {
		fmt.Fprintf(w, "  %-24s %8d\n", id, s.Items[id])
	}
	if len(s.Mappings) > 0 {
		fmt.Fprintln(w, "Triggers:")
		for _, name := range slices.Sorted(maps.Keys(s.Mappings)) {
			c := s.Mappings[name]
			fmt.Fprintf(w, "  %-40s batches %d  records %d  failed %d  filtered %d  dead-lettered %d\n",
				name, c.Batches, c.Records, c.Failed, c.Filtered, c.DeadLettered)
		}
	}
	fmt.Fprintln(w, "Queues (messages waiting or in flight):")
	for _, id := range slices.Sorted(maps.Keys(s.QueueDepths)) {
		fmt.Fprintf(w, "  %-24s %8d\n", id, s.QueueDepths[id])
	}
	if len(s.Calls) > 0 {
		fmt.Fprintln(w, "AWS calls (service operation: calls by caller):")
		total := 0
		byOp := map[string][]edge.CallCount{}
		for _, c := range s.Calls {
			byOp[c.Service+" "+c.Operation] = append(byOp[c.Service+" "+c.Operation], c)
			total += c.Calls
		}
		for _, op := range slices.Sorted(maps.Keys(byOp)) {
			n := 0
			var who []string
			for _, c := range byOp[op] {
				n += c.Calls
				if c.Injected > 0 {
					who = append(who, fmt.Sprintf("%s %d, %d with injected faults", c.Caller, c.Calls, c.Injected))
					continue
				}
				who = append(who, fmt.Sprintf("%s %d", c.Caller, c.Calls))
			}
			fmt.Fprintf(w, "  %-40s %6d  (%s)\n", op, n, strings.Join(who, ", "))
		}
		fmt.Fprintf(w, "  %-40s %6d\n", "total", total)
	}
}

var errUnknown = errors.New("not in the stack")

// QueueDepth is the messages the stack's queue id holds, waiting or in flight, read straight
// from moto (so that reading does not show up in the call counts).
func (r *Runner) QueueDepth(ctx context.Context, id string) (int, error) {
	return r.queueDepth(ctx, sqs.NewFromConfig(spec.RunnerConfig(r.upstream)), id)
}

func (r *Runner) queueDepth(ctx context.Context, sq *sqs.Client, id string) (int, error) {
	ref, ok := r.Stack.PhysicalID(id)
	if !ok {
		return 0, fmt.Errorf("queue %s: %w", id, errUnknown)
	}
	// Queue URLs name the edge; moto finds a queue by the URL's path.
	u, err := url.Parse(ref)
	if err != nil {
		return 0, fmt.Errorf("queue %s URL %q: %w", id, ref, err)
	}
	names := []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}
	out, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(r.upstream + u.Path), AttributeNames: names})
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", id, err)
	}
	n := 0
	for _, a := range names {
		v, err := strconv.Atoi(out.Attributes[string(a)])
		if err != nil {
			return 0, fmt.Errorf("queue %s attribute %s: %w", id, a, err)
		}
		n += v
	}
	return n, nil
}
