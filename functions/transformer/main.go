// Command transformer is the Firehose processor of the ingest delivery stream (TransformerFunction):
// it validates each record, sends the good ones to the ingest queue and returns them to Firehose
// as canonical JSON lines for the lake. This file only wires; the logic is in internal/transform.
package main

import (
	"context"
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
	logger := logging.New(os.Stdout)
	env, err := awsclient.MustEnv("QUEUE_URL")
	if err != nil {
		logger.Error("start-up", "error", err)
		os.Exit(1)
	}
	set, err := contracts.Load(contracts.Dir())
	if err != nil {
		logger.Error("start-up", "error", err)
		os.Exit(1)
	}
	cfg, err := awsclient.Config(context.Background())
	if err != nil {
		logger.Error("start-up", "error", err)
		os.Exit(1)
	}
	maxRecords, err := maxRecordsFromEnv()
	if err != nil {
		logger.Error("start-up", "error", err)
		os.Exit(1)
	}
	h := &Handler{
		Transformer: &transform.Transformer{
			Parser:     record.NewParser(set),
			Sender:     queue.NewSender(sqs.NewFromConfig(cfg), env["QUEUE_URL"]),
			Reingester: &transform.Reingester{Client: firehose.NewFromConfig(cfg), Policy: batch.DefaultPolicy},
			MaxRecords: maxRecords,
			Metrics:    os.Stdout,
		},
		Logger: logger,
	}
	logger.Info("transformer ready", "queue", env["QUEUE_URL"], "contracts", set.Dir(), "types", set.Types(), "maxRecords", maxRecords)
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
