package awsfake

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestTransportAnswersARealClient(t *testing.T) {
	tr := &Transport{Record: true, Respond: func(target string, _ []byte) (int, string) {
		if target != "AmazonSQS.SendMessageBatch" {
			return 400, `{"__type":"InvalidAction"}`
		}
		return 200, `{"Successful":[{"Id":"0","MessageId":"m","MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592"}],"Failed":[]}`
	}}
	client := sqs.NewFromConfig(tr.Config(t.Context()))
	out, err := client.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{
		QueueUrl: aws.String("http://aws.fake/123/q.fifo"),
		Entries:  []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("0"), MessageBody: aws.String("hello")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 1 {
		t.Fatalf("Successful = %v", out.Successful)
	}
	reqs := tr.Requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"MessageBody":"hello"`) {
		t.Fatalf("requests = %+v", reqs)
	}
}
