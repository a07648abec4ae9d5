// Package baseline is the original design's per-record pattern, kept only to measure this design
// against it: every record is sent to the queue with its own SendMessage, written to the store with
// its own PutItem and published with its own PutEvents, through real SDK clients. It writes the
// same bodies, items and events as the pipeline (so the per-request prices compare like for like)
// and differs only in how many calls carry them.
package baseline

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
)

type messageSender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

type itemPutter interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

type eventPutter interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var (
	_ messageSender = (*sqs.Client)(nil)
	_ itemPutter    = (*dynamodb.Client)(nil)
	_ eventPutter   = (*eventbridge.Client)(nil)
)

// Pipeline makes the three per-record calls of the original design.
type Pipeline struct {
	Queue     messageSender
	QueueURL  string // a FIFO queue, as IngestQueue
	Table     itemPutter
	TableARN  string // the EventBridge event's resource, as the emitter names it
	TableName string
	Bus       eventPutter
	BusName   string
	Source    string
}

// ErrEventRefused is returned when EventBridge answers a PutEvents with a failed entry.
var ErrEventRefused = errors.New("event refused")

// Process sends one record through the three calls, in the order the original functions made
// them. It stops at the first failure: the caller counts calls, not deliveries.
func (p *Pipeline) Process(ctx context.Context, r record.Record) error {
	body := string(r.AppendJSON(nil))
	fifo := queue.FIFOOf(r)
	if _, err := p.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(p.QueueURL),
		MessageBody:            aws.String(body),
		MessageGroupId:         aws.String(fifo.GroupID),
		MessageDeduplicationId: aws.String(fifo.DeduplicationID),
	}); err != nil {
		return fmt.Errorf("baseline SendMessage %s: %w", r.ID, err)
	}
	item, err := store.Item(store.Entry{Record: r})
	if err != nil {
		return fmt.Errorf("baseline item %s: %w", r.ID, err)
	}
	if _, err := p.Table.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(p.TableName), Item: item}); err != nil {
		return fmt.Errorf("baseline PutItem %s: %w", r.ID, err)
	}
	out, err := p.Bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(p.BusName),
		Source:       aws.String(p.Source),
		DetailType:   aws.String(record.DetailType),
		Detail:       aws.String(body),
		Resources:    []string{p.TableARN},
	}}})
	if err != nil {
		return fmt.Errorf("baseline PutEvents %s: %w", r.ID, err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("baseline PutEvents %s: %w", r.ID, ErrEventRefused)
	}
	return nil
}
