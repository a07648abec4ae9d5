// Command eventstorer is the EventStorerFunction: it writes the canonical records that arrive
// on the ingest queue to the event store table, and those that conflict with a stored record to
// the conflict queue. This file only wires; the logic is in
// internal/store.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/sqsevent"
	"github.com/stream-to-events/stream-to-events/internal/store"
)

func main() {
	fn := awsclient.Start("TABLE_NAME", "CONFLICT_QUEUE_URL")
	table := store.NewTable(dynamodb.NewFromConfig(fn.Config), fn.Env["TABLE_NAME"])
	conflicts := queue.NewSender(sqs.NewFromConfig(fn.Config), fn.Env["CONFLICT_QUEUE_URL"])
	h := &Handler{Table: table, Conflicts: conflicts, Logger: fn.Logger, Metrics: os.Stdout}
	lambda.Start(sqsevent.Handler(h.Handle))
}
