// Command eventstorer is the EventStorerFunction: it writes the canonical records that arrive
// on the ingest queue to the event store table, and those that conflict with a stored record to
// the conflict queue. This file only wires; the logic is in
// internal/store.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/store"
)

func main() {
	logger := logging.New(os.Stdout)
	env, err := awsclient.MustEnv("TABLE_NAME", "CONFLICT_QUEUE_URL")
	if err != nil {
		logger.Error("start-up", "error", err)
		os.Exit(1)
	}
	cfg, err := awsclient.Config(context.Background())
	if err != nil {
		logger.Error("start-up", "error", err)
		os.Exit(1)
	}
	h := &handler{
		table:     store.NewTable(dynamodb.NewFromConfig(cfg), env["TABLE_NAME"]),
		conflicts: queue.NewSender(sqs.NewFromConfig(cfg), env["CONFLICT_QUEUE_URL"]),
		logger:    logger,
		metrics:   os.Stdout,
	}
	lambda.Start(h.Handle)
}
