package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// EventBridge's and Lambda's defaults for an asynchronous target.
const (
	defaultRuleRetries = 185
	defaultRuleMaxAge  = 24 * time.Hour
	defaultAsyncRetry  = 2
	defaultAsyncMaxAge = 6 * time.Hour
	ruleConcurrency    = 10
)

// ruleMapping is an EventBridgeRule trigger. moto matches the rule and delivers the event to an
// SQS queue; this polls that queue and invokes the function asynchronously, as EventBridge
// does: a failure to invoke is retried per the rule's RetryPolicy and then sent to the rule's
// DeadLetterConfig queue; a function error is retried per the function's EventInvokeConfig and
// then sent to its OnFailure destination.
type ruleMapping struct {
	mappingBase
	target    spec.RuleTarget
	ruleRetry int
	ruleAge   time.Duration
	dlqARN    string
	dlqURL    string
	fnRetry   int
	fnAge     time.Duration
	onFailARN string
	onFailURL string
}

func newRuleMapping(ctx context.Context, b mappingBase, st spec.Stack, fnProps map[string]any) (mapping, error) {
	if s, _ := b.props["State"].(string); s == "DISABLED" {
		return nil, nil
	}
	m := &ruleMapping{mappingBase: b, ruleRetry: defaultRuleRetries, ruleAge: defaultRuleMaxAge,
		fnRetry: defaultAsyncRetry, fnAge: defaultAsyncMaxAge}
	target, err := m.findTarget(ctx, st)
	if err != nil {
		return nil, err
	}
	m.target = target
	if rp, ok := b.props["RetryPolicy"].(map[string]any); ok {
		m.ruleRetry = samtemplate.Int(rp["MaximumRetryAttempts"], defaultRuleRetries)
		m.ruleAge = time.Duration(samtemplate.Int(rp["MaximumEventAgeInSeconds"], int(defaultRuleMaxAge/time.Second))) * time.Second
	}
	if dl, ok := b.props["DeadLetterConfig"].(map[string]any); ok {
		m.dlqARN, _ = dl["Arn"].(string)
		if m.dlqARN != "" {
			if m.dlqURL, err = queueURL(ctx, b.c.sqs, m.dlqARN); err != nil {
				return nil, fmt.Errorf("DeadLetterConfig: %w", err)
			}
		}
	}
	if raw, ok := fnProps["EventInvokeConfig"]; ok {
		resolved, err := st.Resolve(raw)
		if err != nil {
			return nil, fmt.Errorf("EventInvokeConfig: %w", err)
		}
		eic, _ := resolved.(map[string]any)
		m.fnRetry = samtemplate.Int(eic["MaximumRetryAttempts"], defaultAsyncRetry)
		m.fnAge = time.Duration(samtemplate.Int(eic["MaximumEventAgeInSeconds"], int(defaultAsyncMaxAge/time.Second))) * time.Second
		if m.onFailARN, m.onFailURL, err = destination(ctx, b.c.sqs, eic["DestinationConfig"]); err != nil {
			return nil, fmt.Errorf("EventInvokeConfig: %w", err)
		}
	}
	return m, nil
}

// findTarget asks the stack for the rule's delivery queue, or, when the stack cannot tell, looks
// on the bus for the rule (named after <FunctionID><EventName>, as SAM names it, or the only
// rule there with an SQS target).
func (m *ruleMapping) findTarget(ctx context.Context, st spec.Stack) (spec.RuleTarget, error) {
	if rt, ok := st.(spec.RuleTargets); ok {
		for _, t := range rt.RuleTargets() {
			if t.FunctionID == m.functionID && t.EventName == m.event {
				return t, nil
			}
		}
		return spec.RuleTarget{}, errors.New("the stack has no delivery queue for this rule")
	}
	bus, _ := m.props["EventBusName"].(string)
	if bus == "" {
		bus = "default"
	}
	if i := strings.LastIndex(bus, "/"); strings.HasPrefix(bus, "arn:") && i >= 0 {
		bus = bus[i+1:]
	}
	want, _ := m.props["RuleName"].(string)
	var found []spec.RuleTarget
	var next *string
	for {
		out, err := m.c.events.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String(bus), NextToken: next})
		if err != nil {
			return spec.RuleTarget{}, fmt.Errorf("list rules of bus %s: %w", bus, err)
		}
		for _, r := range out.Rules {
			targets, err := m.c.events.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name, EventBusName: aws.String(bus)})
			if err != nil {
				return spec.RuleTarget{}, fmt.Errorf("targets of rule %s: %w", aws.ToString(r.Name), err)
			}
			for _, t := range targets.Targets {
				arn := aws.ToString(t.Arn)
				if !strings.HasPrefix(arn, "arn:aws:sqs:") {
					continue
				}
				url, err := queueURL(ctx, m.c.sqs, arn)
				if err != nil {
					return spec.RuleTarget{}, err
				}
				name := aws.ToString(r.Name)
				rt := spec.RuleTarget{FunctionID: m.functionID, EventName: m.event, RuleName: name, RuleARN: aws.ToString(r.Arn),
					BusName: bus, QueueURL: url, QueueARN: arn}
				if name == want || strings.Contains(name, m.functionID+m.event) {
					return rt, nil
				}
				found = append(found, rt)
			}
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return spec.RuleTarget{}, fmt.Errorf("no rule with an SQS target for %s.%s on bus %s (%d candidates)", m.functionID, m.event, bus, len(found))
}

func (m *ruleMapping) run(ctx context.Context, stop <-chan struct{}) {
	deletes := make(chan types.Message, ruleConcurrency)
	deleted := make(chan struct{})
	go func() {
		defer close(deleted)
		m.deleteInBatches(ctx, deletes)
	}()
	var wg sync.WaitGroup
	sem := make(chan struct{}, ruleConcurrency)
	defer func() {
		wg.Wait()
		close(deletes)
		<-deleted
	}()
	for !stopped(stop) && ctx.Err() == nil {
		out, err := m.c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(m.target.QueueURL),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             waitSeconds(max(m.opts.PollWait, time.Second)),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			m.log.Warn("rule queue receive failed", "queue", m.target.QueueURL, "error", err)
			sleep(ctx, stop, time.Second)
			continue
		}
		for _, msg := range out.Messages {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				m.deliver(ctx, msg, deletes)
			}()
		}
	}
}

// deliver invokes the function with one event until it succeeds or the retries run out, then
// hands the message to done to be deleted. The message is kept hidden while its retries wait.
func (m *ruleMapping) deliver(ctx context.Context, msg types.Message, done chan<- types.Message) {
	body := aws.ToString(msg.Body)
	var ev struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
	}
	_ = json.Unmarshal([]byte(body), &ev) // a body that is no event is still delivered, aged from now
	born := ev.Time
	if born.IsZero() {
		born = time.Now()
	}
	payload := withAccount([]byte(body))
	trace := m.traceOfEvent(ev.ID)
	log := m.log.With("eventId", ev.ID)
	ruleAttempts, fnAttempts := 0, 0
	for ctx.Err() == nil {
		m.batches.Add(1)
		m.records.Add(1)
		res, err := m.inv.Invoke(ctx, m.functionID, spec.Invocation{Payload: payload, TraceHeader: trace})
		if err == nil && res.Error == "" {
			done <- msg
			return
		}
		m.failed.Add(1)
		var wait time.Duration
		if err != nil {
			ruleAttempts++
			log.Warn("rule target invocation failed", "attempt", ruleAttempts, "error", err)
			switch {
			case ruleAttempts > m.ruleRetry:
				m.toRuleDLQ(ctx, body, "SDK_CLIENT_ERROR", err.Error(), "MaximumRetryAttemptsExhausted", ruleAttempts)
			case time.Since(born) > m.ruleAge:
				m.toRuleDLQ(ctx, body, "SDK_CLIENT_ERROR", err.Error(), "MaximumEventAgeExceeded", ruleAttempts)
			default:
				wait = m.opts.AsyncRetryDelay
			}
		} else {
			fnAttempts++
			log.Warn("rule target function error", "attempt", fnAttempts, "errorType", res.Error, "requestId", res.RequestID)
			switch {
			case fnAttempts > m.fnRetry:
				m.asyncFailure(ctx, body, res, fnAttempts, "RetriesExhausted")
			case time.Since(born) > m.fnAge:
				m.asyncFailure(ctx, body, res, fnAttempts, "EventAgeExceeded")
			default:
				// Lambda waits longer before each retry of an asynchronous invocation.
				wait = m.opts.AsyncRetryDelay * time.Duration(fnAttempts)
			}
		}
		if wait == 0 {
			done <- msg
			return
		}
		m.hide(ctx, msg, wait)
		if !sleep(ctx, nil, wait) {
			return
		}
	}
}

// hide keeps the message from being received again while a retry waits.
func (m *ruleMapping) hide(ctx context.Context, msg types.Message, wait time.Duration) {
	secs := int32(min(43200, (wait+30*time.Second)/time.Second)) // #nosec G115 -- min keeps it at most 43,200
	if _, err := m.c.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(m.target.QueueURL),
		ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: secs}); err != nil {
		m.log.Warn("rule queue visibility change failed", "error", err)
	}
}

// deleteBatchWait is how long a delivered message waits for others to share its delete call.
const deleteBatchWait = 50 * time.Millisecond

// deleteInBatches deletes the delivered messages ten to a DeleteMessageBatch call, until msgs is
// closed. Each event is delivered on its own; one DeleteMessage per event was half the calls the
// rule's queue cost moto under load.
func (m *ruleMapping) deleteInBatches(ctx context.Context, msgs <-chan types.Message) {
	var pending []types.Message
	var flush <-chan time.Time
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				deleteMessages(ctx, m.c.sqs, m.target.QueueURL, m.log, pending)
				return
			}
			pending = append(pending, msg)
			if len(pending) == 1 {
				flush = time.After(deleteBatchWait)
			}
			if len(pending) < 10 {
				continue
			}
		case <-flush:
		}
		deleteMessages(ctx, m.c.sqs, m.target.QueueURL, m.log, pending)
		pending, flush = pending[:0], nil
	}
}

// toRuleDLQ sends the event to the rule's dead-letter queue as EventBridge does: the event as
// the body, the reason in message attributes.
func (m *ruleMapping) toRuleDLQ(ctx context.Context, body, code, message, condition string, attempts int) {
	m.deadLettered.Add(1)
	// EventBridge counts an invocation that failed for good, not its retries.
	m.opts.Metrics.Put("AWS/Events", "FailedInvocations", map[string]string{"RuleName": m.target.RuleName}, 1)
	if m.dlqURL == "" {
		m.log.Error("rule target failed, and the rule has no DeadLetterConfig: event dropped", "errorCode", code, "error", message)
		return
	}
	attr := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(m.dlqURL), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"RULE_ARN":                  attr(m.target.RuleARN),
			"TARGET_ARN":                attr(m.function.ARN),
			"ERROR_CODE":                attr(code),
			"ERROR_MESSAGE":             attr(truncate(message, 1000)),
			"EXHAUSTED_RETRY_CONDITION": attr(condition),
			"RETRY_ATTEMPTS":            attr(strconv.Itoa(attempts - 1)),
		}}
	if err := sendWithRetry(ctx, m.c.sqs, in); err != nil {
		m.log.Error("rule DLQ send failed: event dropped", "dlq", m.dlqARN, "error", err)
		return
	}
	m.log.Warn("rule target failed: event sent to the rule's DLQ", "dlq", m.dlqARN, "errorCode", code)
}

// asyncFailure is Lambda's OnFailure record for an asynchronous invocation. Without an OnFailure
// destination the event goes to the rule's DLQ instead, so that locally nothing is dropped
// silently (AWS would drop it).
func (m *ruleMapping) asyncFailure(ctx context.Context, body string, res spec.Result, attempts int, condition string) {
	if m.onFailURL == "" {
		m.toRuleDLQ(ctx, body, "FUNCTION_ERROR", string(res.Payload), condition, attempts)
		return
	}
	m.deadLettered.Add(1)
	rec := map[string]any{
		"version":   "1.0",
		"timestamp": isoMillis(time.Now()),
		"requestContext": map[string]any{
			"requestId": res.RequestID, "functionArn": m.function.ARN + ":$LATEST",
			"condition": condition, "approximateInvokeCount": attempts,
		},
		"requestPayload":  json.RawMessage(validJSON(body)),
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": json.RawMessage(validJSON(string(res.Payload))),
	}
	b, err := json.Marshal(rec)
	if err != nil {
		m.log.Error("async failure record not encodable", "error", err)
		return
	}
	if err := sendWithRetry(ctx, m.c.sqs, &sqs.SendMessageInput{QueueUrl: aws.String(m.onFailURL), MessageBody: aws.String(string(b))}); err != nil {
		m.log.Error("OnFailure send failed: event dropped", "destination", m.onFailARN, "error", err)
		return
	}
	m.log.Warn("asynchronous invocation given up: OnFailure record sent", "destination", m.onFailARN, "condition", condition)
}

// withAccount adds the "account" field that EventBridge events carry and moto's leave out.
func withAccount(body []byte) []byte {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(body, &ev); err != nil {
		return body
	}
	if _, ok := ev["account"]; ok {
		return body
	}
	ev["account"], _ = json.Marshal(spec.Account)
	b, err := json.Marshal(ev)
	if err != nil {
		return body
	}
	return b
}

func validJSON(s string) string {
	if json.Valid([]byte(s)) {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
