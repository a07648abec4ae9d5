package esm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

type ruleFixture struct {
	eb      *eventbridge.Client
	sqs     *sqs.Client
	dlqURL  string
	ruleARN string
	st      *fakeStack
	target  spec.RuleTarget
}

// newRuleFixture provisions what the stack would: the bus, the rule with the runner's delivery
// queue as its target, and the DLQ.
func newRuleFixture(t *testing.T) *ruleFixture {
	t.Helper()
	moto := mototest.Start(t)
	f := &ruleFixture{eb: eventbridge.NewFromConfig(spec.ClientConfig(moto.URL, "test")), sqs: sqs.NewFromConfig(spec.ClientConfig(moto.URL, "test"))}
	ctx := t.Context()
	if _, err := f.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("s2e-bus")}); err != nil {
		t.Fatal(err)
	}
	delivery, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("s2e-rule-delivery")})
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("responder-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	f.dlqURL = aws.ToString(dlq.QueueUrl)
	rule, err := f.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("stream-to-events-EventResponderFunctionDataInserted-X1"),
		EventBusName: aws.String("s2e-bus"), EventPattern: aws.String(`{"source":["s2e.ingest"],"detail-type":["DataInserted"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.ruleARN = aws.ToString(rule.RuleArn)
	const deliveryARN = "arn:aws:sqs:us-east-1:123456789012:s2e-rule-delivery"
	if _, err := f.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("stream-to-events-EventResponderFunctionDataInserted-X1"),
		EventBusName: aws.String("s2e-bus"), Targets: []ebtypes.Target{{Id: aws.String("delivery"), Arn: aws.String(deliveryARN)}}}); err != nil {
		t.Fatal(err)
	}
	f.target = spec.RuleTarget{FunctionID: "EventResponderFunction", EventName: "DataInserted", RuleName: "stream-to-events-EventResponderFunctionDataInserted-X1",
		RuleARN: f.ruleARN, BusName: "s2e-bus", QueueURL: aws.ToString(delivery.QueueUrl), QueueARN: deliveryARN}
	f.st = newFakeStack(t, stacktest.ReadTemplate(t, "testdata/rule.yaml"), moto.URL, map[string]any{"EventBus": "s2e-bus", "ResponderDLQ.Arn": "arn:aws:sqs:us-east-1:123456789012:responder-dlq"})
	return f
}

func (f *ruleFixture) putEvent(t *testing.T, source, detail string) string {
	t.Helper()
	out, err := f.eb.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String("s2e-bus"), Source: aws.String(source), DetailType: aws.String("DataInserted"), Detail: aws.String(detail)}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, out)
	}
	return aws.ToString(out.Entries[0].EventId)
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

type traceBook map[string]string

func (b traceBook) TraceHeaderOfEvent(id string) string { return b[id] }

// A matching event reaches the function once, as EventBridge's event, continuing the trace of
// its PutEvents entry; a non-matching one does not.
func TestRuleDeliversEvent(t *testing.T) {
	f := newRuleFixture(t)
	fn := &fakeFunction{}
	id := f.putEvent(t, "s2e.ingest", `{"id":"r1"}`)
	f.putEvent(t, "someone.else", `{"id":"r2"}`)
	const header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	f.st.targets = []spec.RuleTarget{f.target}
	r := startRunner(t, targetStack{f.st}, fn, traceBook{id: header}, Options{AsyncRetryDelay: 10 * time.Millisecond})
	eventually(t, "function invoked", func() bool { return len(fn.snapshot()) == 1 })
	time.Sleep(1500 * time.Millisecond) // the other event would arrive now

	calls := fn.snapshot()
	if len(calls) != 1 {
		t.Fatalf("%d invocations, want 1", len(calls))
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(calls[0].payload, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "s2e.ingest" || ev.DetailType != "DataInserted" || compact(ev.Detail) != `{"id":"r1"}` || ev.ID != id || ev.AccountID != "123456789012" {
		t.Errorf("event = %+v", ev)
	}
	if calls[0].trace != header {
		t.Errorf("trace header = %q, want %q", calls[0].trace, header)
	}
	if c := r.Counts()["EventResponderFunction.DataInserted"]; c.Batches != 1 || c.Failed != 0 {
		t.Errorf("counts = %+v", c)
	}
}

// Delivered events are deleted from the rule's queue (ten to a call), so none is delivered again.
func TestRuleDeletesDeliveredEvents(t *testing.T) {
	f := newRuleFixture(t)
	fn := &fakeFunction{}
	for i := range 23 {
		f.putEvent(t, "s2e.ingest", fmt.Sprintf(`{"id":"r%d"}`, i))
	}
	f.st.targets = []spec.RuleTarget{f.target}
	startRunner(t, targetStack{f.st}, fn, nil, Options{AsyncRetryDelay: 10 * time.Millisecond})
	eventually(t, "23 events delivered", func() bool { return len(fn.snapshot()) >= 23 })
	eventually(t, "the rule's queue emptied", func() bool {
		out, err := f.sqs.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(f.target.QueueURL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		return err == nil && out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	})
	if n := len(fn.snapshot()); n != 23 {
		t.Errorf("%d invocations for 23 events", n)
	}
}

// A failing target ends in the DLQ after its retries: a function error per the function's
// EventInvokeConfig (Lambda's OnFailure record), a failure to invoke per the rule's RetryPolicy
// (the event with EventBridge's attributes). The rule is found on the bus, without RuleTargets.
func TestRuleFailuresReachTheDLQ(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(int, spec.Invocation) (spec.Result, error)
		wantCalls int
		check     func(t *testing.T, f *ruleFixture, msg sqstypes.Message)
	}{
		{
			name:      "function error: OnFailure record after EventInvokeConfig retries",
			answer:    func(int, spec.Invocation) (spec.Result, error) { return functionError, nil },
			wantCalls: 2,
			check: func(t *testing.T, _ *ruleFixture, msg sqstypes.Message) {
				var rec struct {
					RequestContext struct {
						Condition              string `json:"condition"`
						FunctionARN            string `json:"functionArn"`
						ApproximateInvokeCount int    `json:"approximateInvokeCount"`
					} `json:"requestContext"`
					RequestPayload  events.EventBridgeEvent `json:"requestPayload"`
					ResponseContext struct {
						FunctionError string `json:"functionError"`
					} `json:"responseContext"`
					ResponsePayload struct {
						ErrorMessage string `json:"errorMessage"`
					} `json:"responsePayload"`
				}
				if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &rec); err != nil {
					t.Fatal(err)
				}
				if rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestContext.ApproximateInvokeCount != 2 ||
					!strings.HasSuffix(rec.RequestContext.FunctionARN, ":function:s2e-eventresponderfunction:$LATEST") ||
					compact(rec.RequestPayload.Detail) != `{"id":"r1"}` || rec.ResponseContext.FunctionError != "Unhandled" || rec.ResponsePayload.ErrorMessage != "boom" {
					t.Errorf("OnFailure record = %s", aws.ToString(msg.Body))
				}
			},
		},
		{
			name: "invoke failure: the event with EventBridge's attributes after RetryPolicy retries",
			answer: func(int, spec.Invocation) (spec.Result, error) {
				return spec.Result{}, errors.New("bootstrap not found")
			},
			wantCalls: 3,
			check: func(t *testing.T, f *ruleFixture, msg sqstypes.Message) {
				var ev events.EventBridgeEvent
				if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &ev); err != nil || compact(ev.Detail) != `{"id":"r1"}` {
					t.Errorf("DLQ body = %s (%v)", aws.ToString(msg.Body), err)
				}
				attr := func(k string) string { return aws.ToString(msg.MessageAttributes[k].StringValue) }
				if attr("RULE_ARN") != f.ruleARN || !strings.HasSuffix(attr("TARGET_ARN"), ":function:s2e-eventresponderfunction") ||
					attr("ERROR_CODE") != "SDK_CLIENT_ERROR" || !strings.Contains(attr("ERROR_MESSAGE"), "bootstrap not found") ||
					attr("RETRY_ATTEMPTS") != "2" {
					t.Errorf("DLQ attributes = %v", msg.MessageAttributes)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRuleFixture(t)
			fn := &fakeFunction{answer: tc.answer}
			f.putEvent(t, "s2e.ingest", `{"id":"r1"}`)
			r := startRunner(t, f.st, fn, nil, Options{AsyncRetryDelay: 10 * time.Millisecond})
			eventually(t, "DLQ message", func() bool { return depth(t, f.sqs, f.dlqURL) == 1 })
			if n := len(fn.snapshot()); n != tc.wantCalls {
				t.Errorf("%d invocations, want %d", n, tc.wantCalls)
			}
			out, err := f.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.dlqURL), MessageAttributeNames: []string{"All"}})
			if err != nil || len(out.Messages) != 1 {
				t.Fatalf("DLQ receive: %v %v", out, err)
			}
			tc.check(t, f, out.Messages[0])
			if c := r.Counts()["EventResponderFunction.DataInserted"]; c.DeadLettered != 1 {
				t.Errorf("counts = %+v", c)
			}
		})
	}
}
