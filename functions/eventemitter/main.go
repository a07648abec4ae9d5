// Command eventemitter is the EventEmitterFunction: it puts a DataInserted event on the event
// bus for every new item of the event store's stream. This file only wires; the logic is in
// internal/emit.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/emit"
)

func main() {
	fn := awsclient.Start("EVENT_BUS_NAME", "EVENT_SOURCE", "TABLE_ARN")
	publisher := emit.NewPublisher(eventbridge.NewFromConfig(fn.Config), fn.Env["EVENT_BUS_NAME"], fn.Env["EVENT_SOURCE"], fn.Env["TABLE_ARN"])
	h := &Handler{Publisher: publisher, Logger: fn.Logger, Metrics: os.Stdout}
	lambda.Start(h.Handle)
}
