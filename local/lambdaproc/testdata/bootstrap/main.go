// Command bootstrap is a test function for lambdaproc: one handler whose payload says what to
// do, so that the runtime's handling of answers, errors, timeouts, crashes, logs and traces can
// be checked against a real aws-lambda-go process.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/stream-to-events/stream-to-events/internal/trace"
)

type request struct {
	Action  string   `json:"action"`
	Message string   `json:"message"`
	SleepMS int      `json:"sleepMs"`
	Env     []string `json:"env"`
	AllocMB int      `json:"allocMb"`
}

type response struct {
	Echo       string            `json:"echo,omitempty"`
	PID        int               `json:"pid"`
	RequestID  string            `json:"requestId"`
	ARN        string            `json:"arn"`
	TraceID    string            `json:"traceId"`
	DeadlineIn int64             `json:"deadlineInMs"`
	Env        map[string]string `json:"env,omitempty"`
}

type notFoundError struct{ what string }

func (e notFoundError) Error() string { return e.what + " not found" }

var ballast []byte

func handle(ctx context.Context, req request) (response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	traceID, _ := ctx.Value("x-amzn-trace-id").(string)
	out := response{PID: os.Getpid(), RequestID: lc.AwsRequestID, ARN: lc.InvokedFunctionArn, TraceID: traceID,
		DeadlineIn: time.Until(deadline).Milliseconds()}
	switch req.Action {
	case "echo":
		out.Echo = req.Message
	case "error":
		return out, errors.New(req.Message)
	case "notfound":
		return out, notFoundError{req.Message}
	case "sleep":
		time.Sleep(time.Duration(req.SleepMS) * time.Millisecond)
	case "crash":
		fmt.Println("about to crash")
		os.Exit(3)
	case "panic":
		panic(req.Message)
	case "env":
		out.Env = map[string]string{}
		for _, k := range req.Env {
			out.Env[k] = os.Getenv(k)
		}
	case "log":
		for _, line := range strings.Split(req.Message, "|") {
			fmt.Println(line)
		}
		fmt.Fprintln(os.Stderr, "to stderr")
	case "alloc":
		ballast = make([]byte, req.AllocMB<<20)
		for i := range ballast {
			ballast[i] = 1
		}
	case "trace":
		_, span := trace.Start(ctx, "work")
		span.Annotate("record_id", req.Message)
		time.Sleep(5 * time.Millisecond)
		span.End(nil)
	default:
		return out, fmt.Errorf("unknown action %q", req.Action)
	}
	return out, nil
}

func main() {
	if os.Getenv("FAIL_INIT") != "" {
		log.Fatal("missing configuration: FAIL_INIT is set")
	}
	if d := os.Getenv("INIT_SLEEP_MS"); d != "" {
		var ms int
		if _, err := fmt.Sscan(d, &ms); err != nil {
			log.Fatal("INIT_SLEEP_MS is not a whole number of milliseconds")
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	lambda.Start(handle)
}
