package samtemplate

import (
	"reflect"
	"testing"
)

const sample = `
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: provided.al2023
    Timeout: 10
    Environment:
      Variables:
        A: global
        B: global
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 30
      Environment:
        Variables:
          B: !Ref Queue
      Policies:
        - SQSSendMessagePolicy:
            QueueName: !GetAtt Queue.QueueName
      Arn: !Sub "arn:${AWS::Partition}:x"
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
`

func TestParseTurnsShortFormIntoLongForm(t *testing.T) {
	tpl, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tpl.Function("Fn")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Runtime": "provided.al2023",
		"Timeout": 30,
		"Environment": map[string]any{"Variables": map[string]any{
			"A": "global",
			"B": map[string]any{"Ref": "Queue"},
		}},
		"Policies": []any{map[string]any{"SQSSendMessagePolicy": map[string]any{
			"QueueName": map[string]any{"Fn::GetAtt": []any{"Queue", "QueueName"}},
		}}},
		"Arn": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:x"},
	}
	if !reflect.DeepEqual(fn, want) {
		t.Fatalf("Function(Fn) =\n%#v\nwant\n%#v", fn, want)
	}
	if got := tpl.Resources["Queue"].Properties["FifoQueue"]; got != true {
		t.Fatalf("FifoQueue = %#v, want true", got)
	}
	if ids := tpl.OfType("AWS::SQS::Queue"); !reflect.DeepEqual(ids, []string{"Queue"}) {
		t.Fatalf("OfType = %v", ids)
	}
	if _, err := tpl.Function("Queue"); err == nil {
		t.Fatal("Function(Queue) should fail: not a function")
	}
}

func TestIntReadsEveryFormANumberTakes(t *testing.T) {
	tests := []struct {
		in   any
		want int
	}{{10, 10}, {int64(7), 7}, {2.0, 2}, {"100", 100}, {"x", -1}, {nil, -1}, {[]any{1}, -1}}
	for _, tc := range tests {
		if got := Int(tc.in, -1); got != tc.want {
			t.Errorf("Int(%#v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
