// Command eventresponder is the EventResponderFunction, the consumer of DataInserted events: it
// reads them in batches from the queue the rule delivers to, and keeps the projection table at the
// newest record of every entity, whatever order and however often the events arrive. This file
// only wires; the logic is in internal/projection.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/internal/sqsevent"
)

func main() {
	fn := awsclient.Start("PROJECTION_TABLE")
	table := projection.NewWriter(dynamodb.NewFromConfig(fn.Config), fn.Env["PROJECTION_TABLE"])
	h := &Handler{Projection: table, Logger: fn.Logger, Metrics: os.Stdout}
	lambda.Start(sqsevent.Handler(h.Handle))
}
