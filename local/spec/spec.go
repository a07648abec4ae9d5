// Package spec holds the few types the local runner's parts share: what a function is once the
// template is resolved to local values, how one is invoked, and what the stack can tell about
// itself. The parts (stack, edge, lambdaproc, firehose, esm, apigw, xraylocal) depend on these
// types, not on each other.
package spec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

// Region and Account are the local stack's: moto's defaults.
const (
	Region    = "us-east-1"
	Account   = "123456789012"
	StackName = "stream-to-events"
)

// RunnerAccessKey is the access key the runner's own SDK clients sign with. Each function signs
// with its logical ID as its access key, so that the edge can count calls per caller.
const RunnerAccessKey = "runner"

// ClientConfig is an SDK configuration for calls to the local stack at endpoint (its edge, or
// moto itself), signed with accessKey: the edge counts calls by it, so each caller (the runner,
// a function, the generator, a test) signs with its own.
func ClientConfig(endpoint, accessKey string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, "local", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// RunnerConfig is the ClientConfig of the runner's own calls, signed with RunnerAccessKey so
// that the edge counts them apart from the functions'.
func RunnerConfig(endpoint string) aws.Config { return ClientConfig(endpoint, RunnerAccessKey) }

// Function is an AWS::Serverless::Function of the template, resolved to local values.
type Function struct {
	LogicalID string
	Name      string            // physical name, e.g. "stream-to-events-TransformerFunction"
	ARN       string            // arn:aws:lambda:us-east-1:123456789012:function:<Name>
	Bootstrap string            // path of the bootstrap built for this machine
	Env       map[string]string // the template's Environment.Variables, intrinsics resolved
	Timeout   time.Duration
	MemoryMB  int
	// Layers maps each layer's logical ID to the directory that stands for /opt locally.
	Layers map[string]string
	// LogFormat and LogLevel are the template's LoggingConfig.LogFormat and
	// ApplicationLogLevel (Lambda passes them as AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL);
	// empty LogFormat means JSON, as every function of this app uses, empty LogLevel sets none.
	LogFormat string
	LogLevel  string
}

// Invocation is one call of a function.
type Invocation struct {
	Payload []byte
	// TraceHeader continues the trigger's trace ("Root=…;Parent=…;Sampled=1"); empty starts one.
	TraceHeader string
}

// Result is what a function answered. A function error (an error response, a crash, a timeout)
// is a Result with Error set, not a Go error: Go errors are the runner's own failures.
type Result struct {
	RequestID string
	Payload   []byte // the response, or Lambda's error JSON {"errorMessage","errorType"} when Error != ""
	Error     string // "" on success; else the errorType: the handler's, "Runtime.ExitError", "Sandbox.Timedout"
	Duration  time.Duration
	TraceID   string // the X-Ray trace ID the invocation ran under
}

// Invoker runs functions by logical ID.
type Invoker interface {
	Invoke(ctx context.Context, logicalID string, inv Invocation) (Result, error)
}

// Stack is the provisioned local stack.
type Stack interface {
	// Template is template.yaml as read.
	Template() *samtemplate.Template
	// Resolve replaces intrinsic functions (Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, …) in v
	// with the local stack's values.
	Resolve(v any) (any, error)
	// Functions are the template's functions by logical ID.
	Functions() map[string]Function
	// FunctionByARN finds a function by its ARN (or name), as a trigger names it.
	FunctionByARN(arn string) (Function, bool)
	// Endpoint is the edge URL that SDK clients use (AWS_ENDPOINT_URL).
	Endpoint() string
}

// TraceHeaders remembers the TraceHeader a PutEvents entry carried, by the event ID that
// EventBridge answered with, so that the rule's delivery to a function continues that trace
// (moto's rule targets do not carry it).
type TraceHeaders interface {
	TraceHeaderOfEvent(eventID string) string
}

// RuleTarget is how the runner receives the events of one EventBridgeRule trigger: moto matches
// the rule on the bus and delivers each match to an SQS queue the stack created as the rule's
// target; the runner polls that queue and invokes the function with the event.
type RuleTarget struct {
	FunctionID string // logical ID of the function
	EventName  string // the key of the trigger under the function's Events
	RuleName   string
	RuleARN    string
	BusName    string
	QueueURL   string // the runner-owned delivery queue
	QueueARN   string
}

// RuleTargets is implemented by a Stack whose EventBridgeRule triggers deliver through SQS
// queues. It is separate from Stack so that a Stack without rules need not implement it; the
// event source mappings look for the rules' SQS targets on the bus when the Stack does not.
type RuleTargets interface {
	RuleTargets() []RuleTarget
}

// TraceIDs reads Root and Parent of an X-Ray trace header ("Root=…;Parent=…;Sampled=1").
func TraceIDs(header string) (root, parent string) {
	for part := range strings.SplitSeq(header, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			root = v
		case "Parent":
			parent = v
		}
	}
	return root, parent
}

// ContinueTrace gives the trace a segment joins: the one header names (its Root, and its Parent
// as the segment's parent), or, when header names none, a new trace started now.
func ContinueTrace(header string, now time.Time) (root, parent string) {
	if root, parent = TraceIDs(header); root != "" {
		return root, parent
	}
	return fmt.Sprintf("1-%08x-%s", now.Unix(), RandomHex(12)), ""
}

// TraceHeader is the header a segment (ID parent, of trace root) hands what it calls, so that
// their segments hang under it. Locally everything is sampled.
func TraceHeader(root, parent string) string {
	return fmt.Sprintf("Root=%s;Parent=%s;Sampled=1", root, parent)
}

// Wait waits until wg's goroutines are done or ctx ends, whichever comes first: what a part's
// Stop does with the work it still has in flight. It returns ctx's error when ctx ended first.
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RandomHex is n random bytes in hex: the IDs of segments, log streams and the like.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewRequestID is a random UUID, as Lambda's and API Gateway's request IDs are.
func NewRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
