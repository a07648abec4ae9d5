// Command eventresponder is the consumer of DataInserted events: it keeps the projection table at
// the newest record of every entity, whatever order and however often the events arrive.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/projection"
)

func main() {
	logger := logging.New(os.Stdout)
	env, err := awsclient.MustEnv("PROJECTION_TABLE")
	if err != nil {
		logger.Error("start", "error", err)
		os.Exit(1)
	}
	cfg, err := awsclient.Config(context.Background())
	if err != nil {
		logger.Error("start", "error", err)
		os.Exit(1)
	}
	h := &Handler{
		Projection: projection.NewWriter(dynamodb.NewFromConfig(cfg), env["PROJECTION_TABLE"]),
		Logger:     logger,
		Metrics:    os.Stdout,
	}
	lambda.Start(h.Handle)
}
