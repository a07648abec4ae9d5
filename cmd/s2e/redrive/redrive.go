// Package redrive replays what the pipeline's dead-letter queues and the lake's error prefixes
// hold, once the fault that put it there is mended:
//
//   - errors/processing-failed/: the records of transformer invocations that failed whole go
//     back into the ingest delivery stream (see Lake); errors/changes/processing-failed/: the
//     change lines of the change archive's failed batches are written under changes/ (see
//     Changes); what a processor refused as bad input stays;
//   - IngestDLQ: the queue messages the storer gave up on go back to IngestQueue, with their
//     MessageGroupId and a fresh MessageDeduplicationId (see IngestDedupID); ConflictQueue's
//     records go back the same way, on demand only (see Conflicts);
//   - ResponderDLQ: the events the responder gave up on (moved there by ResponderQueue after
//     its receives) and those the rule could not deliver go back on the bus;
//   - EmitterDLQ: the OnFailure records of the stream mapping name a range of the event store's
//     stream (DDBStreamBatchInfo); the range is read again, each inserted item is read from the
//     store by its key, and its DataInserted event is put on the bus as the emitter would put it.
//
// A DLQ message is deleted only after its replay succeeded: a failed replay leaves it where it
// was, for the next run. Every replay may deliver a record twice (the storer is idempotent, the
// projection keeps the newest state), never drop one.
package redrive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/transform"
)

// Names are the stack's resources a redrive touches.
type Names struct {
	IngestQueueURL string
	IngestDLQURL   string
	// ConflictQueueURL holds the records that conflict with a stored one.
	ConflictQueueURL string
	ResponderDLQURL  string
	EmitterDLQURL    string
	EventBusName     string
	// EventSource is the integration events' source (the stack's EventSource parameter).
	EventSource        string
	EventStoreTable    string
	EventStoreTableARN string
	// The lake and the delivery stream that the records under errors/processing-failed/ go
	// back into.
	LakeBucket           string
	IngestDeliveryStream string
}

// DefaultEventSource is the template's default of the EventSource parameter.
const DefaultEventSource = "stream-to-events.ingest"

// The stack's output keys (template.yaml, Outputs) that NamesFromStack reads.
var outputKeys = map[string]func(*Names) *string{
	"IngestQueueUrl":           func(n *Names) *string { return &n.IngestQueueURL },
	"IngestDLQUrl":             func(n *Names) *string { return &n.IngestDLQURL },
	"ConflictQueueUrl":         func(n *Names) *string { return &n.ConflictQueueURL },
	"ResponderDLQUrl":          func(n *Names) *string { return &n.ResponderDLQURL },
	"EmitterDLQUrl":            func(n *Names) *string { return &n.EmitterDLQURL },
	"EventBusName":             func(n *Names) *string { return &n.EventBusName },
	"EventStoreTableName":      func(n *Names) *string { return &n.EventStoreTable },
	"EventStoreTableArn":       func(n *Names) *string { return &n.EventStoreTableARN },
	"LakeBucketName":           func(n *Names) *string { return &n.LakeBucket },
	"IngestDeliveryStreamName": func(n *Names) *string { return &n.IngestDeliveryStream },
}

type stackDescriber interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

var _ stackDescriber = (*cloudformation.Client)(nil)

// NamesFromStack reads the names from the stack's Outputs and its EventSource parameter, on AWS
// or from the local runner's edge, which answers DescribeStacks for the local stack.
func NamesFromStack(ctx context.Context, c stackDescriber, stack string) (Names, error) {
	out, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return Names{}, fmt.Errorf("describe stack %s: %w", stack, err)
	}
	if len(out.Stacks) == 0 {
		return Names{}, fmt.Errorf("describe stack %s: no such stack", stack)
	}
	s := out.Stacks[0]
	n := Names{EventSource: DefaultEventSource}
	for _, o := range s.Outputs {
		if field, ok := outputKeys[aws.ToString(o.OutputKey)]; ok {
			*field(&n) = aws.ToString(o.OutputValue)
		}
	}
	for _, p := range s.Parameters {
		if aws.ToString(p.ParameterKey) == "EventSource" && aws.ToString(p.ParameterValue) != "" {
			n.EventSource = aws.ToString(p.ParameterValue)
		}
	}
	var missing []string
	for key, field := range outputKeys {
		if *field(&n) == "" {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		return n, fmt.Errorf("stack %s lacks the outputs %v (is it the stream-to-events template?)", stack, missing)
	}
	return n, nil
}

// Clients are the SDK clients a redrive uses.
type Clients struct {
	SQS      queueClient
	Streams  streamReader
	DynamoDB storeClient
	Events   emit.EventPutter
	S3       lakeClient
	Firehose transform.RecordBatchPutter
}

// NewClients makes the clients from one SDK config.
func NewClients(cfg aws.Config) Clients {
	return Clients{
		SQS:      sqs.NewFromConfig(cfg),
		Streams:  dynamodbstreams.NewFromConfig(cfg),
		DynamoDB: dynamodb.NewFromConfig(cfg),
		Events:   eventbridge.NewFromConfig(cfg),
		S3:       s3.NewFromConfig(cfg),
		Firehose: firehose.NewFromConfig(cfg),
	}
}

// Redriver replays the DLQs of one stack.
type Redriver struct {
	Names   Names
	Clients Clients
	Logger  *slog.Logger
	// Wait is the long-poll wait of each receive; an empty receive ends a queue's redrive.
	// 0 means one second.
	Wait time.Duration
	// Hold is how long a received DLQ message stays hidden while it is replayed (and, when its
	// replay fails, until another run may try it). 0 means one minute.
	Hold time.Duration
}

// Counts are what a redrive did with one DLQ.
type Counts struct {
	Messages int `json:"messages"` // DLQ messages received
	Redriven int `json:"redriven"` // messages replayed and deleted
	Records  int `json:"records"`  // records replayed (for EmitterDLQ: events re-emitted)
	Failed   int `json:"failed"`   // messages left in the DLQ
}

// Report is the outcome of a redrive of every DLQ.
type Report struct {
	// Lake counts the objects under errors/processing-failed/ (messages: objects read,
	// redriven: objects whose records went back into the delivery stream), and Changes those
	// under errors/changes/processing-failed/ (redriven: objects whose change lines were written).
	Lake      Counts `json:"lake"`
	Changes   Counts `json:"changes"`
	Ingest    Counts `json:"ingestDLQ"`
	Conflicts Counts `json:"conflictQueue"`
	Responder Counts `json:"responderDLQ"`
	Emitter   Counts `json:"emitterDLQ"`
	// Unreplayable says which DLQ messages could not be replayed and why (a stream range
	// trimmed, an item gone, a body that is no event); they stay in their DLQ.
	Unreplayable []string `json:"unreplayable,omitempty"`
}

// All redrives every place a record waits: the lake's failed processor batches and IngestDLQ
// first, so that the records they hold are stored (and emitted by the stream) before the
// emitter's and the responder's leftovers are replayed.
func (r *Redriver) All(ctx context.Context) (Report, error) { return r.Run(ctx, nil) }

// Part is one place a redrive replays from.
type Part struct {
	Name    string // as --only names it
	Label   string // its row in a printed report
	Default bool   // replayed by a redrive of every place (All)
	// run replays the part: its counts, and the messages it could not replay with why.
	run    func(r *Redriver, ctx context.Context) (Counts, []string, error)
	counts func(rep *Report) *Counts
}

// Counts are the part's counts in rep.
func (p Part) Counts(rep *Report) Counts { return *p.counts(rep) }

// countsOnly is the run of a part whose every message can be replayed.
func countsOnly(run func(r *Redriver, ctx context.Context) (Counts, error)) func(*Redriver, context.Context) (Counts, []string, error) {
	return func(r *Redriver, ctx context.Context) (Counts, []string, error) {
		c, err := run(r, ctx)
		return c, nil, err
	}
}

// Parts are the places a redrive replays from, in the order it replays them.
var Parts = []Part{
	{Name: "lake", Label: "errors/ objects", Default: true, run: countsOnly((*Redriver).Lake),
		counts: func(rep *Report) *Counts { return &rep.Lake }},
	{Name: "changes", Label: "changes objects", Default: true, run: countsOnly((*Redriver).Changes),
		counts: func(rep *Report) *Counts { return &rep.Changes }},
	{Name: "ingest", Label: "IngestDLQ", Default: true, run: countsOnly((*Redriver).Ingest),
		counts: func(rep *Report) *Counts { return &rep.Ingest }},
	// Never by default: a conflict replayed unchanged is only a conflict again.
	{Name: "conflicts", Label: "ConflictQueue", run: countsOnly((*Redriver).Conflicts),
		counts: func(rep *Report) *Counts { return &rep.Conflicts }},
	{Name: "emitter", Label: "EmitterDLQ", Default: true, run: (*Redriver).Emitter,
		counts: func(rep *Report) *Counts { return &rep.Emitter }},
	{Name: "responder", Label: "ResponderDLQ", Default: true, run: (*Redriver).Responder,
		counts: func(rep *Report) *Counts { return &rep.Responder }},
}

// Run replays the parts want names, or every Default part when want is nil, in the order of
// Parts; a part that fails does not stop the others.
func (r *Redriver) Run(ctx context.Context, want map[string]bool) (Report, error) {
	var rep Report
	var errs []error
	for _, p := range Parts {
		if (want == nil && p.Default) || want[p.Name] {
			c, unreplayable, err := p.run(r, ctx)
			*p.counts(&rep) = c
			rep.Unreplayable = append(rep.Unreplayable, unreplayable...)
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// Failed is how many DLQ messages and lake objects of rep could not be replayed.
func (rep Report) Failed() int {
	n := 0
	for _, p := range Parts {
		n += p.Counts(&rep).Failed
	}
	return n
}

func (r *Redriver) log() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

func (r *Redriver) wait() time.Duration {
	if r.Wait <= 0 {
		return time.Second
	}
	return r.Wait
}

func (r *Redriver) hold() time.Duration {
	if r.Hold <= 0 {
		return time.Minute
	}
	return r.Hold
}
