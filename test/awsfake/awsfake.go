// Package awsfake is an HTTP transport that answers AWS API calls with canned responses, so that
// benchmarks and unit tests run a real SDK client (its serialisation, signing and
// deserialisation) without a network. It records every request it sees.
package awsfake

import (
	"bytes"
	"context"
	"crypto/md5" // #nosec G501 -- SQS names message bodies by their MD5, not a security use
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Request is a request the transport saw.
type Request struct {
	Target string // X-Amz-Target ("DynamoDB_20120810.BatchWriteItem"), or "METHOD /path" for REST
	Body   []byte
}

// Transport answers each request with Respond's answer. Respond gets the target and the body
// and returns a status code and a JSON body.
type Transport struct {
	Respond func(target string, body []byte) (status int, response string)
	Record  bool // keep the requests (off in benchmarks, to measure the client and not the fake)
	// CutAnswers breaks each answer's body after its first bytes, as a connection that fails
	// mid-answer does: the service took the call in, and the client cannot read what it said.
	CutAnswers bool

	mu       sync.Mutex
	requests []Request
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		_ = r.Body.Close()
	}
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		target = r.Method + " " + r.URL.Path
	}
	if t.Record {
		t.mu.Lock()
		t.requests = append(t.requests, Request{Target: target, Body: body})
		t.mu.Unlock()
	}
	status, resp := t.Respond(target, body)
	contentType := "application/x-amz-json-1.0"
	if strings.HasPrefix(resp, "<") {
		contentType = "text/xml"
	}
	var answer io.Reader = bytes.NewReader([]byte(resp))
	if t.CutAnswers {
		answer = io.MultiReader(io.LimitReader(answer, 5), iotest.ErrReader(net.ErrClosed))
	}
	return &http.Response{
		StatusCode:    status,
		Status:        http.StatusText(status),
		Header:        http.Header{"Content-Type": []string{contentType}, "X-Amzn-Requestid": []string{"fake"}},
		Body:          io.NopCloser(answer),
		ContentLength: int64(len(resp)),
		Request:       r,
	}, nil
}

// Requests returns the requests seen so far.
func (t *Transport) Requests() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Request(nil), t.requests...)
}

// Config returns an SDK configuration whose clients talk to t, with static credentials, in
// us-east-1, with the SDK's retries off (the code under test does its own).
func (t *Transport) Config(_ context.Context) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("fake", "fake", ""),
		HTTPClient:   &http.Client{Transport: t},
		BaseEndpoint: aws.String("http://aws.fake"),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// SDKRetries is a Config's Retryer that makes the SDK's own three attempts, without their waits:
// for tests of what the SDK sends again.
func SDKRetries() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

// SQSTakesAll is a Respond for a FIFO queue that takes every entry of each SendMessageBatch, as
// SQS answers: each entry's ID, a message ID, and the MD5 of its body (the SDK checks it). Any
// other call is refused.
func SQSTakesAll(target string, body []byte) (status int, response string) {
	if target != "AmazonSQS.SendMessageBatch" {
		return 400, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"unexpected ` + target + `"}`
	}
	var in struct {
		Entries []struct{ Id, MessageBody string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return 400, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"bad JSON"}`
	}
	ok := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		sum := md5.Sum([]byte(e.MessageBody)) // #nosec G401 -- the MD5OfMessageBody the SDK checks; nothing is protected by it
		ok[i] = fmt.Sprintf(`{"Id":%q,"MessageId":"m-%s","MD5OfMessageBody":%q,"SequenceNumber":"1"}`, e.Id, e.Id, hex.EncodeToString(sum[:]))
	}
	return 200, `{"Successful":[` + strings.Join(ok, ",") + `],"Failed":[]}`
}
