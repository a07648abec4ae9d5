package stack

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

const endpoint = "http://127.0.0.1:4566"

func load(t *testing.T, params map[string]string) *Stack {
	t.Helper()
	tmpl, err := samtemplate.Load(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(tmpl, Options{BuildDir: "/build", Endpoint: endpoint, APIURL: "http://127.0.0.1:3000", Parameters: params})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPhysicalNames(t *testing.T) {
	s := load(t, nil)
	tests := []struct {
		id   string
		want func(string) bool
		desc string
	}{
		{"LakeBucket", func(n string) bool {
			return strings.HasPrefix(n, "stream-to-events-lakebucket-") && n == strings.ToLower(n)
		}, "lowercase bucket"},
		{"IngestQueue", func(n string) bool {
			return strings.HasPrefix(n, endpoint+"/123456789012/stream-to-events-IngestQueue-") && strings.HasSuffix(n, ".fifo")
		}, "FIFO queue URL ending in .fifo"},
		{"ResponderDLQ", func(n string) bool { return !strings.HasSuffix(n, ".fifo") }, "standard queue"},
		{"EventBus", func(n string) bool { return n == "stream-to-events-bus" }, "explicit Name with Fn::Sub"},
		{"ContractsLayer", func(n string) bool { return strings.HasPrefix(n, "arn:aws:lambda:us-east-1:123456789012:layer:") }, "layer ARN"},
		{"FunctionLogGroup", func(n string) bool { return strings.HasPrefix(n, "/aws/lambda/stream-to-events-TransformerFunction-") }, "log group named after a function"},
		{"EventResponderFunctionDataInserted", func(n string) bool {
			bus, name, ok := strings.Cut(n, "|")
			return ok && bus == "stream-to-events-bus" && len(name) <= 64
		}, `"bus|name", as CloudFormation gives for a rule on a custom bus, the name within 64`},
		{"EventResponderFunctionRole", func(n string) bool { return n != "" }, "implicit role"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, ok := s.PhysicalID(tt.id)
			if !ok || !tt.want(got) {
				t.Errorf("Ref %s = %q, want %s", tt.id, got, tt.desc)
			}
		})
	}
	if _, ok := s.PhysicalID("ProdOnlyQueue"); ok {
		t.Error("ProdOnlyQueue exists although its condition IsProd is false")
	}
	again := load(t, nil)
	a, _ := s.PhysicalID("IngestQueue")
	b, _ := again.PhysicalID("IngestQueue")
	if a != b {
		t.Errorf("names differ between two loads: %q, %q", a, b)
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   map[string]string
	}{
		{"defaults", nil, map[string]string{
			"CONTRACTS_DIR": "/opt/contracts", "STAGE": "dev", "ZONE": "b", "JOINED": "us-east-1/x",
			"MODE": "local-dev", "NOT_PROD": "yes",
		}},
		{"prod", map[string]string{"Stage": "prod"}, map[string]string{
			"STAGE": "prod", "MODE": "production", "NOT_PROD": "no", "DROPPED": "x",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := load(t, tt.params)
			f, ok := s.Functions()["TransformerFunction"]
			if !ok {
				t.Fatal("no TransformerFunction")
			}
			for k, v := range tt.want {
				if f.Env[k] != v {
					t.Errorf("env %s = %q, want %q", k, f.Env[k], v)
				}
			}
			if _, dropped := f.Env["DROPPED"]; dropped != (tt.params["Stage"] == "prod") {
				t.Errorf("DROPPED present = %v with Stage %q (AWS::NoValue must drop it)", dropped, tt.params["Stage"])
			}
			if f.Env["QUEUE_URL"] != s.res.refs["IngestQueue"] {
				t.Errorf("QUEUE_URL = %q, want the queue URL", f.Env["QUEUE_URL"])
			}
			if f.Timeout != 60*time.Second || f.MemoryMB != 256 {
				t.Errorf("timeout %v memory %d, want 60s (own) and 256 (Globals)", f.Timeout, f.MemoryMB)
			}
			if f.Bootstrap != "/build/TransformerFunction/bootstrap" || f.Layers["ContractsLayer"] != "/build/ContractsLayer" {
				t.Errorf("bootstrap %q layers %v", f.Bootstrap, f.Layers)
			}
			if got, ok := s.FunctionByARN(f.ARN + ":$LATEST"); !ok || got.LogicalID != "TransformerFunction" {
				t.Errorf("FunctionByARN(%s:$LATEST) = %v, %v", f.ARN, got.LogicalID, ok)
			}
		})
	}
}

func TestNewRejectsBadParameter(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, params := range []map[string]string{{"Stage": "qa"}, {"Nope": "x"}} {
		if _, err := New(tmpl, Options{Parameters: params}); err == nil {
			t.Errorf("New with %v: no error", params)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	s := load(t, nil)
	for _, v := range []any{
		map[string]any{"Ref": "Missing"},
		map[string]any{"Fn::GetAtt": []any{"LakeBucket", "Nope"}},
		map[string]any{"Fn::Sub": "${Missing}"},
		map[string]any{"Fn::Select": []any{5, []any{"a"}}},
	} {
		if got, err := s.Resolve(v); err == nil {
			t.Errorf("Resolve(%v) = %v, want an error", v, got)
		}
	}
	got, err := s.Resolve(map[string]any{"Fn::Sub": "${!Literal}-${AWS::AccountId}"})
	if err != nil || got != "${Literal}-123456789012" {
		t.Errorf("Fn::Sub escape = %v, %v", got, err)
	}
}

func TestProvision(t *testing.T) {
	moto := mototest.Start(t)
	ctx := t.Context()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := load(t, nil)
	// Twice: a second start against the same moto must find what the first made.
	for range 2 {
		if err := s.Provision(ctx, cfg, nil); err != nil {
			t.Fatal(err)
		}
	}

	sq := sqs.NewFromConfig(cfg)
	queueURL := func(id string) string {
		ref, _ := s.PhysicalID(id)
		return moto.URL + ref[len(endpoint):]
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL("IngestQueue")), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	dlqARN := s.res.attrs["IngestDLQ"]["Arn"].(string)
	for k, want := range map[string]string{
		"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
		"VisibilityTimeout": "180", "MessageRetentionPeriod": "345600", "SqsManagedSseEnabled": "true",
	} {
		if attrs.Attributes[k] != want {
			t.Errorf("IngestQueue %s = %q, want %q", k, attrs.Attributes[k], want)
		}
	}
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(attrs.Attributes["RedrivePolicy"]), &redrive); err != nil || redrive.DeadLetterTargetArn != dlqARN {
		t.Errorf("RedrivePolicy = %q, want deadLetterTargetArn %s", attrs.Attributes["RedrivePolicy"], dlqARN)
	}

	table, _ := s.PhysicalID("EventStoreTable")
	desc, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Table.KeySchema) != 2 || *desc.Table.KeySchema[0].AttributeName != "pk" || desc.Table.StreamSpecification == nil ||
		desc.Table.StreamSpecification.StreamViewType != "NEW_IMAGE" {
		t.Errorf("table %s: keys %v stream %v", table, desc.Table.KeySchema, desc.Table.StreamSpecification)
	}

	outputs, err := s.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Output{}
	for _, o := range outputs {
		byKey[o.Key] = o
	}
	if byKey["EventStoreStreamArn"].Value != aws.ToString(desc.Table.LatestStreamArn) {
		t.Errorf("StreamArn output %q, table's stream %q", byKey["EventStoreStreamArn"].Value, aws.ToString(desc.Table.LatestStreamArn))
	}
	if byKey["ApiUrl"].Value != "http://127.0.0.1:3000/records" {
		t.Errorf("ApiUrl output = %q, want the local API", byKey["ApiUrl"].Value)
	}
	if byKey["BucketName"].ExportName != "stream-to-events-LakeBucket" {
		t.Errorf("export name = %q", byKey["BucketName"].ExportName)
	}
	if _, ok := byKey["ProdQueue"]; ok {
		t.Error("output ProdQueue shown although its condition is false")
	}

	bucket, _ := s.PhysicalID("LakeBucket")
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("bucket %s: %v", bucket, err)
	}

	// The rule matches on the bus and delivers to the runner's queue, which the trigger polls.
	rules := s.RuleTargets()
	if len(rules) != 1 || rules[0].FunctionID != "EventResponderFunction" || rules[0].EventName != "DataInserted" || rules[0].BusName != "stream-to-events-bus" {
		t.Fatalf("RuleTargets = %+v", rules)
	}
	eb := eventbridge.NewFromConfig(cfg)
	put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{EventBusName: aws.String("stream-to-events-bus"), Source: aws.String("stream-to-events.ingest"), DetailType: aws.String("DataInserted"), Detail: aws.String(`{"id":"1"}`)},
		{EventBusName: aws.String("stream-to-events-bus"), Source: aws.String("elsewhere"), DetailType: aws.String("DataInserted"), Detail: aws.String(`{"id":"2"}`)},
	}})
	if err != nil || put.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, put)
	}
	delivery := moto.URL + rules[0].QueueURL[len(endpoint):]
	msgs, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(delivery), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 || !strings.Contains(aws.ToString(msgs.Messages[0].Body), `"id": "1"`) && !strings.Contains(aws.ToString(msgs.Messages[0].Body), `"id":"1"`) {
		var bodies []string
		for _, m := range msgs.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
		t.Errorf("delivery queue got %q, want only the event from stream-to-events.ingest", bodies)
	}
}

// TestRealTemplateAccountSetting: the API Gateway account setting and its role exist only while
// CreateApiGatewayAccount is "true", its default; the handle the API waits on exists either way.
func TestRealTemplateAccountSetting(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		params map[string]string
		want   bool
	}{
		{nil, true},
		{map[string]string{"CreateApiGatewayAccount": "true"}, true},
		{map[string]string{"CreateApiGatewayAccount": "false"}, false},
	} {
		s, err := New(tmpl, Options{BuildDir: "/build", Endpoint: endpoint, APIURL: "http://127.0.0.1:3000", Parameters: tt.params})
		if err != nil {
			t.Fatalf("%v: %v", tt.params, err)
		}
		for _, id := range []string{"ApiGatewayAccount", "ApiGatewayCloudWatchRole"} {
			if _, ok := s.PhysicalID(id); ok != tt.want {
				t.Errorf("parameters %v: %s exists = %v, want %v", tt.params, id, ok, tt.want)
			}
		}
		for _, id := range []string{"ApiGatewayAccountReady", "RecordsApi"} {
			if _, ok := s.PhysicalID(id); !ok {
				t.Errorf("parameters %v: no %s", tt.params, id)
			}
		}
	}
}
