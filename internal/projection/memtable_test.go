package projection

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// memTable is an in-memory projection table that evaluates the write rule the way DynamoDB
// evaluates Condition, so the convergence test does not depend on moto alone. It refuses any
// other condition: a change to the expression must come with a change to this fake.
type memTable struct {
	mu    sync.Mutex
	items map[string]map[string]map[string]types.AttributeValue // pk → sk → item
	puts  int
}

var (
	_ ItemPutter = (*memTable)(nil)
	_ ItemReader = (*memTable)(nil)
)

func newMemTable() *memTable {
	return &memTable{items: map[string]map[string]map[string]types.AttributeValue{}}
}

func str(av types.AttributeValue) string {
	s, _ := av.(*types.AttributeValueMemberS)
	if s == nil {
		return ""
	}
	return s.Value
}

func (m *memTable) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if aws.ToString(in.ConditionExpression) != Condition {
		return nil, fmt.Errorf("memTable: unexpected condition %q", aws.ToString(in.ConditionExpression))
	}
	if in.ExpressionAttributeNames["#time"] != "time" || in.ExpressionAttributeNames["#id"] != "id" {
		return nil, fmt.Errorf("memTable: unexpected names %v", in.ExpressionAttributeNames)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	pk, sk := str(in.Item["pk"]), str(in.Item["sk"])
	t, id := str(in.ExpressionAttributeValues[":time"]), str(in.ExpressionAttributeValues[":id"])
	old, exists := m.items[pk][sk]
	if exists {
		ot, oid := str(old["time"]), str(old["id"])
		if !(ot < t || (ot == t && oid < id)) {
			return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
		}
	}
	if m.items[pk] == nil {
		m.items[pk] = map[string]map[string]types.AttributeValue{}
	}
	m.items[pk][sk] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (m *memTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: m.items[str(in.Key["pk"])][str(in.Key["sk"])]}, nil
}

func (m *memTable) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if aws.ToString(in.KeyConditionExpression) != "pk = :pk" {
		return nil, errors.New("memTable: unexpected key condition")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.items[str(in.ExpressionAttributeValues[":pk"])]
	keys := make([]string, 0, len(part))
	for k := range part {
		if in.ExclusiveStartKey == nil || k > str(in.ExclusiveStartKey["sk"]) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := &dynamodb.QueryOutput{}
	for _, k := range keys {
		if in.Limit != nil && len(out.Items) == int(*in.Limit) {
			break
		}
		out.Items = append(out.Items, part[k])
	}
	// Like DynamoDB, a page that reached the limit has a LastEvaluatedKey even when nothing follows.
	if in.Limit != nil && len(out.Items) == int(*in.Limit) {
		last := out.Items[len(out.Items)-1]
		out.LastEvaluatedKey = map[string]types.AttributeValue{"pk": last["pk"], "sk": last["sk"]}
	}
	return out, nil
}
