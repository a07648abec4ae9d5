package spec

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// LambdaChange converts the change a DynamoDB stream record carries to aws-lambda-go's form, as
// Lambda hands it to a stream trigger and as a Kinesis change record writes it (see lambdaImage).
func LambdaChange(d *streamtypes.StreamRecord) (events.DynamoDBStreamRecord, error) {
	c := events.DynamoDBStreamRecord{
		SequenceNumber: aws.ToString(d.SequenceNumber),
		SizeBytes:      aws.ToInt64(d.SizeBytes),
		StreamViewType: string(d.StreamViewType),
	}
	if d.ApproximateCreationDateTime != nil {
		c.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
	}
	var err error
	if c.Keys, err = lambdaImage(d.Keys); err != nil {
		return c, fmt.Errorf("keys: %w", err)
	}
	if c.NewImage, err = lambdaImage(d.NewImage); err != nil {
		return c, fmt.Errorf("new image: %w", err)
	}
	if c.OldImage, err = lambdaImage(d.OldImage); err != nil {
		return c, fmt.Errorf("old image: %w", err)
	}
	return c, nil
}

// lambdaImage converts an item of a DynamoDB stream record (its keys or an image) to
// aws-lambda-go's attribute values: what Lambda hands a stream trigger, and what marshals to the
// attribute-value JSON ({"name":{"S":"…"}}, names sorted) of a Kinesis change record. A nil item
// stays nil; a value of a type DynamoDB does not have is an error naming its attribute.
func lambdaImage(item map[string]streamtypes.AttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	if item == nil {
		return nil, nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, v := range item {
		lv, err := lambdaValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = lv
	}
	return out, nil
}

func lambdaValue(v streamtypes.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch x := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return events.NewStringAttribute(x.Value), nil
	case *streamtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(x.Value), nil
	case *streamtypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(x.Value), nil
	case *streamtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(x.Value), nil
	case *streamtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *streamtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(x.Value), nil
	case *streamtypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(x.Value), nil
	case *streamtypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(x.Value), nil
	case *streamtypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			var err error
			if l[i], err = lambdaValue(e); err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
		}
		return events.NewListAttribute(l), nil
	case *streamtypes.AttributeValueMemberM:
		m, err := lambdaImage(x.Value)
		if m == nil && err == nil {
			m = map[string]events.DynamoDBAttributeValue{} // {"M":{}}, as DynamoDB writes an empty map
		}
		return events.NewMapAttribute(m), err
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("unsupported attribute value %T", v)
}
