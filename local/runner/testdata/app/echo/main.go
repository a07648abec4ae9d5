// Command echo is a test function: it answers with its event, the number of queues it sees
// through the endpoint the runner gives it, and its QUEUE_URL.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
)

func main() {
	cfg, err := awsclient.Config(context.Background())
	if err != nil {
		panic(err)
	}
	client := sqs.NewFromConfig(cfg)
	lambda.Start(func(ctx context.Context, in map[string]any) (map[string]any, error) {
		out, err := client.ListQueues(ctx, &sqs.ListQueuesInput{})
		if err != nil {
			return nil, err
		}
		return map[string]any{"echo": in, "queues": len(out.QueueUrls), "queueURL": os.Getenv("QUEUE_URL")}, nil
	})
}
