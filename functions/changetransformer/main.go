// Command changetransformer is the Firehose processor of the change delivery stream
// (ChangeTransformerFunction): Firehose reads the Kinesis stream the event store's changes go to
// and hands each record DynamoDB wrote there to this function, which returns it as one plain JSON
// change line for the lake's changes/ prefix. This file only wires; the logic is in
// internal/change.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stream-to-events/stream-to-events/internal/logging"
)

func main() {
	// The function calls no AWS service and reads no configuration: nothing can be missing at
	// start-up.
	h := &Handler{Logger: logging.New(os.Stdout), Metrics: os.Stdout}
	lambda.Start(h.Handle)
}
