// Command eventemitter is the EventEmitterFunction: it puts a DataInserted event on the event
// bus for every new item of the event store's stream. This file only wires; the logic is in
// internal/emit.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/logging"
)

func main() {
	logger := logging.New(os.Stdout)
	env, err := awsclient.MustEnv("EVENT_BUS_NAME", "EVENT_SOURCE", "TABLE_ARN")
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
		publisher: emit.NewPublisher(eventbridge.NewFromConfig(cfg), env["EVENT_BUS_NAME"], env["EVENT_SOURCE"], env["TABLE_ARN"]),
		logger:    logger,
		metrics:   os.Stdout,
	}
	lambda.Start(h.Handle)
}
