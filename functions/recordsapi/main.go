// Command recordsapi serves the projection through API Gateway: GET /records/{type} and
// GET /records/{type}/{key}, answered by the plain http.Handler of internal/api.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/api"
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
	store := projection.NewReader(dynamodb.NewFromConfig(cfg), env["PROJECTION_TABLE"])
	h := &Handler{API: api.New(store, logger), Logger: logger}
	lambda.Start(h.Handle)
}
