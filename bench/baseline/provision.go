package baseline

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Provision creates the baseline's own FIFO queue, table (pk/sk, on demand) and event bus, named
// after prefix, and returns a Pipeline over them with clients made from cfg. The resources are
// the baseline's alone, so that its calls and items never mix with the pipeline's.
func Provision(ctx context.Context, cfg aws.Config, prefix, source string) (*Pipeline, error) {
	q := sqs.NewFromConfig(cfg)
	db := dynamodb.NewFromConfig(cfg)
	eb := eventbridge.NewFromConfig(cfg)

	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(prefix + "-queue.fifo"),
		Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameFifoQueue): "true",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("baseline queue: %w", err)
	}
	table, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(prefix + "-table"),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("baseline table: %w", err)
	}
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(prefix + "-bus")}); err != nil {
		return nil, fmt.Errorf("baseline bus: %w", err)
	}
	return &Pipeline{
		Queue: q, QueueURL: aws.ToString(queue.QueueUrl),
		Table: db, TableName: aws.ToString(table.TableDescription.TableName), TableARN: aws.ToString(table.TableDescription.TableArn),
		Bus: eb, BusName: prefix + "-bus", Source: source,
	}, nil
}
