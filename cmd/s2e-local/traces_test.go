package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/xray"
	xraytypes "github.com/aws/aws-sdk-go-v2/service/xray/types"

	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// fakeXRay answers with two traces, the newer one with a function segment and its subsegment.
type fakeXRay struct{ asked [][]string }

func (f *fakeXRay) GetTraceSummaries(context.Context, *xray.GetTraceSummariesInput, ...func(*xray.Options)) (*xray.GetTraceSummariesOutput, error) {
	now := time.Now()
	return &xray.GetTraceSummariesOutput{TraceSummaries: []xraytypes.TraceSummary{
		{Id: aws.String("1-00000001-aaaaaaaaaaaaaaaaaaaaaaaa"), StartTime: aws.Time(now.Add(-time.Minute))},
		{Id: aws.String("1-00000002-bbbbbbbbbbbbbbbbbbbbbbbb"), StartTime: aws.Time(now)},
	}}, nil
}

func (f *fakeXRay) BatchGetTraces(_ context.Context, in *xray.BatchGetTracesInput, _ ...func(*xray.Options)) (*xray.BatchGetTracesOutput, error) {
	f.asked = append(f.asked, in.TraceIds)
	doc := `{"id":"a1b2c3d4e5f60718","trace_id":"1-00000002-bbbbbbbbbbbbbbbbbbbbbbbb","name":"stream-to-events-EventStorerFunction","origin":"AWS::Lambda::Function","start_time":100,"end_time":100.2,` +
		`"subsegments":[{"id":"b1b2c3d4e5f60718","name":"DynamoDB","namespace":"aws","start_time":100.05,"end_time":100.1,"aws":{"operation":"BatchWriteItem"}}]}`
	return &xray.BatchGetTracesOutput{Traces: []xraytypes.Trace{{
		Id: aws.String("1-00000002-bbbbbbbbbbbbbbbbbbbbbbbb"), Segments: []xraytypes.Segment{{Document: aws.String(doc)}},
	}}}, nil
}

func TestReadTracesNewestFirst(t *testing.T) {
	f := &fakeXRay{}
	traces, err := readTraces(t.Context(), f, time.Now().Add(-time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != 1 || len(f.asked[0]) != 1 || f.asked[0][0] != "1-00000002-bbbbbbbbbbbbbbbbbbbbbbbb" {
		t.Errorf("asked for %v, want the newest trace only", f.asked)
	}
	var out bytes.Buffer
	if err := xraylocal.PrintTraces(&out, traces); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"stream-to-events-EventStorerFunction", "BatchWriteItem"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printout lacks %q:\n%s", want, out.String())
		}
	}
}
