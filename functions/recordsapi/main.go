// Command recordsapi serves the projection through API Gateway: GET /records/{type} and
// GET /records/{type}/{key}, answered by the plain http.Handler of internal/api.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/api"
	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/projection"
)

func main() {
	fn := awsclient.Start("PROJECTION_TABLE")
	routes := api.New(projection.NewReader(dynamodb.NewFromConfig(fn.Config), fn.Env["PROJECTION_TABLE"]), fn.Logger)
	h := &Handler{API: routes, Logger: fn.Logger}
	lambda.Start(h.Handle)
}
