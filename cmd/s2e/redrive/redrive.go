// Package redrive replays what the pipeline's dead-letter queues hold, once the fault that put
// it there is mended:
//
//   - IngestDLQ: the queue messages the storer gave up on go back to IngestQueue, with their
//     MessageGroupId and a fresh MessageDeduplicationId (see IngestDedupID); ConflictQueue's
//     records go back the same way, on demand only (see Conflicts);
//   - ResponderDLQ: the events the responder gave up on (Lambda's OnFailure records of the
//     asynchronous invocation, and EventBridge's DLQ messages of the rule) go back on the bus;
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
	Events   eventPutter
	S3       lakeClient
	Firehose recordPutter
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
	// redriven: objects whose records went back into the delivery stream).
	Lake      Counts `json:"lake"`
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
func (r *Redriver) All(ctx context.Context) (Report, error) {
	var rep Report
	var errs []error
	var err error
	if rep.Lake, err = r.Lake(ctx); err != nil {
		errs = append(errs, err)
	}
	if rep.Ingest, err = r.Ingest(ctx); err != nil {
		errs = append(errs, err)
	}
	var unreplayable []string
	if rep.Emitter, unreplayable, err = r.Emitter(ctx); err != nil {
		errs = append(errs, err)
	}
	rep.Unreplayable = append(rep.Unreplayable, unreplayable...)
	if rep.Responder, unreplayable, err = r.Responder(ctx); err != nil {
		errs = append(errs, err)
	}
	rep.Unreplayable = append(rep.Unreplayable, unreplayable...)
	return rep, errors.Join(errs...)
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
