package baseline

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

var rec = record.Record{
	ID: "order-1", Type: "order", Key: "SKU-1", Time: "2026-11-23T10:00:00.123Z",
	ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest", Data: json.RawMessage(`{"sku":"SKU-1","price":12.5}`),
}

// answer answers the three calls as the services do; SendMessage with the body's real MD5, which
// the SQS client checks.
func answer(eventFailures int) func(string, []byte) (int, string) {
	return func(target string, body []byte) (int, string) {
		switch target {
		case "AmazonSQS.SendMessage":
			var in struct{ MessageBody string }
			_ = json.Unmarshal(body, &in)
			sum := md5.Sum([]byte(in.MessageBody))
			return 200, fmt.Sprintf(`{"MessageId":"m-1","MD5OfMessageBody":%q,"SequenceNumber":"1"}`, hex.EncodeToString(sum[:]))
		case "DynamoDB_20120810.PutItem":
			return 200, `{}`
		case "AWSEvents.PutEvents":
			if eventFailures > 0 {
				return 200, `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"x"}]}`
			}
			return 200, `{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}`
		}
		return 400, `{"__type":"InvalidAction","message":"unexpected ` + target + `"}`
	}
}

func pipelineOver(t *testing.T, tr *awsfake.Transport) *Pipeline {
	cfg := tr.Config(t.Context())
	return &Pipeline{
		Queue: sqs.NewFromConfig(cfg), QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/b.fifo",
		Table: dynamodb.NewFromConfig(cfg), TableName: "b-table", TableARN: "arn:aws:dynamodb:us-east-1:123456789012:table/b-table",
		Bus: eventbridge.NewFromConfig(cfg), BusName: "b-bus", Source: "stream-to-events.ingest",
	}
}

func TestProcessMakesOneCallPerServicePerRecord(t *testing.T) {
	for _, tc := range []struct {
		name          string
		eventFailures int
		wantErr       bool
	}{
		{"all accepted", 0, false},
		{"event refused", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &awsfake.Transport{Respond: answer(tc.eventFailures), Record: true}
			p := pipelineOver(t, tr)
			err := p.Process(t.Context(), rec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Process error = %v, want error %v", err, tc.wantErr)
			}
			var targets []string
			bodies := map[string]map[string]any{}
			for _, r := range tr.Requests() {
				targets = append(targets, r.Target)
				var m map[string]any
				if err := json.Unmarshal(r.Body, &m); err != nil {
					t.Fatalf("%s body: %v", r.Target, err)
				}
				bodies[r.Target] = m
			}
			want := []string{"AmazonSQS.SendMessage", "DynamoDB_20120810.PutItem", "AWSEvents.PutEvents"}
			if !slices.Equal(targets, want) {
				t.Fatalf("calls = %v, want %v", targets, want)
			}
			body := string(rec.AppendJSON(nil))
			send := bodies["AmazonSQS.SendMessage"]
			if send["MessageBody"] != body || send["MessageGroupId"] != "order#SKU-1" || send["MessageDeduplicationId"] != rec.ContentHash() {
				t.Errorf("SendMessage = %v", send)
			}
			item := bodies["DynamoDB_20120810.PutItem"]["Item"].(map[string]any)
			if pk := item["pk"].(map[string]any)["S"]; pk != "order#SKU-1" {
				t.Errorf("PutItem pk = %v", pk)
			}
			entries := bodies["AWSEvents.PutEvents"]["Entries"].([]any)
			if len(entries) != 1 || entries[0].(map[string]any)["Detail"] != body || entries[0].(map[string]any)["DetailType"] != record.DetailType {
				t.Errorf("PutEvents entries = %v", entries)
			}
		})
	}
}

func TestProvisionAndProcessOnMoto(t *testing.T) {
	mototest.Start(t)
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p, err := Provision(t.Context(), cfg, "baseline-test", "stream-to-events.ingest")
	if err != nil {
		t.Fatal(err)
	}
	recs := []record.Record{rec, rec}
	recs[1].ID, recs[1].Key = "order-2", "SKU-2"
	for _, r := range recs {
		if err := p.Process(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	db := dynamodb.NewFromConfig(cfg)
	scan, err := db.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(p.TableName)})
	if err != nil {
		t.Fatal(err)
	}
	if scan.Count != 2 {
		t.Errorf("baseline table holds %d items, want 2", scan.Count)
	}
	q := sqs.NewFromConfig(cfg)
	attrs, err := q.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(p.QueueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs.Attributes["ApproximateNumberOfMessages"]; got != "2" {
		t.Errorf("baseline queue holds %s messages, want 2", got)
	}
}
