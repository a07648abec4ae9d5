// Command transformer is the Firehose processor of the ingest delivery stream (TransformerFunction):
// it validates each record, sends the good ones to the ingest queue and returns them to Firehose
// as canonical JSON lines for the lake. This file only wires; the logic is in internal/transform.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/transform"
)

func main() {
	fn := awsclient.Start("QUEUE_URL")
	schemas := logging.Must(contracts.Load(contracts.Dir()))
	maxRecords := logging.Must(maxRecordsFromEnv())
	sender := queue.NewSender(sqs.NewFromConfig(fn.Config), fn.Env["QUEUE_URL"])
	reingester := &transform.Reingester{Client: firehose.NewFromConfig(fn.Config), Policy: batch.DefaultPolicy}
	transformer := &transform.Transformer{Parser: record.NewParser(schemas), Sender: sender, Reingester: reingester, MaxRecords: maxRecords}
	h := &Handler{Transformer: transformer, Logger: fn.Logger, Metrics: os.Stdout}
	fn.Logger.Info("transformer ready", "queue", fn.Env["QUEUE_URL"], "contracts", schemas.Dir(), "types", schemas.Types(), "maxRecords", maxRecords)
	lambda.Start(h.Handle)
}

// maxRecordsFromEnv reads MAX_RECORDS, the records one invocation takes on (the rest go back
// into the delivery stream); unset means transform.DefaultMaxRecords.
func maxRecordsFromEnv() (int, error) {
	v := os.Getenv("MAX_RECORDS")
	if v == "" {
		return transform.DefaultMaxRecords, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("MAX_RECORDS=%q: want a positive number of records", v)
	}
	return n, nil
}
