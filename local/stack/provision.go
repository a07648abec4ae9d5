package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

// Provision creates the stack's resources in moto through cfg (pointed at moto or at the edge).
// Resources that already exist are left as they are, so that provisioning twice (a second
// command against a running runner) is harmless. Resources moto need not hold (roles,
// policies, log groups, functions, APIs, layers, delivery streams) are named but not created.
func (s *Stack) Provision(ctx context.Context, cfg aws.Config, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	steps := []struct {
		typ string
		fn  func(context.Context, aws.Config, string, map[string]any) error
	}{
		{"AWS::S3::Bucket", s.bucket},
		{"AWS::SQS::Queue", s.queue},
		{"AWS::DynamoDB::Table", s.table},
		{"AWS::Kinesis::Stream", s.kinesisStream},
		{"AWS::Events::EventBus", s.eventBus},
	}
	for _, step := range steps {
		for _, id := range s.tmpl.OfType(step.typ) {
			if _, ok := s.types[id]; !ok {
				continue // its Condition does not hold
			}
			props, err := s.Resolve(s.tmpl.Resources[id].Properties)
			if err != nil {
				return fmt.Errorf("resource %s: %w", id, err)
			}
			pm, _ := props.(map[string]any)
			if pm == nil {
				pm = map[string]any{}
			}
			if err := step.fn(ctx, cfg, id, pm); err != nil {
				return fmt.Errorf("create %s (%s): %w", id, step.typ, err)
			}
			ref, _ := s.PhysicalID(id)
			log.Debug("created", "logicalId", id, "type", step.typ, "physicalId", ref)
		}
	}
	// Redrive policies name other queues, which exist now.
	for _, id := range s.tmpl.OfType("AWS::SQS::Queue") {
		if err := s.redrive(ctx, cfg, id); err != nil {
			return fmt.Errorf("queue %s redrive: %w", id, err)
		}
	}
	for _, r := range s.rules {
		if err := s.putRule(ctx, cfg, r); err != nil {
			return fmt.Errorf("rule %s: %w", r.RuleName, err)
		}
		log.Debug("created", "type", "AWS::Events::Rule", "physicalId", r.RuleName, "target", r.FunctionID)
	}
	log.Info("stack provisioned", "resources", len(s.types), "rules", len(s.rules))
	return nil
}

func (s *Stack) bucket(ctx context.Context, cfg aws.Config, id string, p map[string]any) error {
	name, _ := s.PhysicalID(id)
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return err
	}
	if v, ok := p["VersioningConfiguration"].(map[string]any); ok && v["Status"] == "Enabled" {
		if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
		}); err != nil {
			return fmt.Errorf("versioning: %w", err)
		}
	}
	return nil
}

// queueAttributes maps AWS::SQS::Queue properties to SQS attribute names (the same words).
var queueAttributes = []string{
	"ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
	"FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize",
	"MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy",
	"SqsManagedSseEnabled", "VisibilityTimeout",
}

func (s *Stack) queue(ctx context.Context, cfg aws.Config, id string, p map[string]any) error {
	name := s.res.attrs[id]["QueueName"].(string)
	attrs := map[string]string{}
	for _, k := range queueAttributes {
		if v, ok := p[k]; ok {
			str, err := attributeString(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			attrs[k] = str
		}
	}
	return s.createQueue(ctx, cfg, name, attrs)
}

func (s *Stack) createQueue(ctx context.Context, cfg aws.Config, name string, attrs map[string]string) error {
	c := sqs.NewFromConfig(cfg)
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if queueExists(err) {
		// It exists with other attributes (an earlier start): set what may be set.
		url, gerr := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if gerr != nil {
			return errors.Join(err, gerr)
		}
		settable := maps.Clone(attrs)
		delete(settable, "FifoQueue")
		_, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: url.QueueUrl, Attributes: settable})
	}
	return err
}

// queueExists tells the error of creating a queue that exists with other attributes: SQS's
// JSON protocol calls it QueueNameExists, its query protocol QueueAlreadyExists.
func queueExists(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	code := apiErr.ErrorCode()
	return strings.Contains(code, "QueueNameExists") || strings.Contains(code, "QueueAlreadyExists")
}

func (s *Stack) redrive(ctx context.Context, cfg aws.Config, id string) error {
	if _, ok := s.types[id]; !ok {
		return nil
	}
	raw := s.tmpl.Resources[id].Properties["RedrivePolicy"]
	if raw == nil {
		return nil
	}
	v, err := s.Resolve(raw)
	if err != nil {
		return err
	}
	policy, err := attributeString(v)
	if err != nil {
		return err
	}
	url := s.res.attrs[id]["QueueUrl"].(string)
	_, err = sqs.NewFromConfig(cfg).SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(url),
		Attributes: map[string]string{"RedrivePolicy": policy},
	})
	return err
}

// attributeString writes a property as SQS wants its attribute: scalars as text, objects (a
// redrive policy) as JSON.
func attributeString(v any) (string, error) {
	switch v.(type) {
	case map[string]any, []any:
		b, err := json.Marshal(v)
		return string(b), err
	}
	return scalarString(v)
}

func (s *Stack) table(ctx context.Context, cfg aws.Config, id string, p map[string]any) error {
	name, _ := s.PhysicalID(id)
	in := &dynamodb.CreateTableInput{TableName: aws.String(name)}
	// The CloudFormation shapes of these properties are the API's, field for field.
	for prop, dst := range map[string]any{
		"AttributeDefinitions":   &in.AttributeDefinitions,
		"KeySchema":              &in.KeySchema,
		"GlobalSecondaryIndexes": &in.GlobalSecondaryIndexes,
		"LocalSecondaryIndexes":  &in.LocalSecondaryIndexes,
		"ProvisionedThroughput":  &in.ProvisionedThroughput,
	} {
		if v, ok := p[prop]; ok {
			if err := convert(v, dst); err != nil {
				return fmt.Errorf("%s: %w", prop, err)
			}
		}
	}
	in.BillingMode = ddbtypes.BillingModeProvisioned
	if bm, ok := p["BillingMode"].(string); ok {
		in.BillingMode = ddbtypes.BillingMode(bm)
	}
	if in.BillingMode == ddbtypes.BillingModeProvisioned && in.ProvisionedThroughput == nil {
		return fmt.Errorf("BillingMode PROVISIONED needs ProvisionedThroughput")
	}
	if ss, ok := p["StreamSpecification"].(map[string]any); ok {
		view, _ := ss["StreamViewType"].(string)
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(view)}
	}
	c := dynamodb.NewFromConfig(cfg)
	out, err := c.CreateTable(ctx, in)
	var inUse *ddbtypes.ResourceInUseException
	var desc *ddbtypes.TableDescription
	switch {
	case err == nil:
		desc = out.TableDescription
	case errors.As(err, &inUse):
		d, derr := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if derr != nil {
			return derr
		}
		desc = d.Table
	default:
		return err
	}
	s.mu.Lock()
	if desc.LatestStreamArn != nil {
		s.res.attrs[id]["StreamArn"] = *desc.LatestStreamArn
	}
	s.mu.Unlock()
	if pitr, ok := p["PointInTimeRecoverySpecification"].(map[string]any); ok && truthy(pitr["PointInTimeRecoveryEnabled"]) {
		if _, err := c.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName:                        aws.String(name),
			PointInTimeRecoverySpecification: &ddbtypes.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)},
		}); err != nil {
			return fmt.Errorf("point-in-time recovery: %w", err)
		}
	}
	if ttl, ok := p["TimeToLiveSpecification"].(map[string]any); ok && truthy(ttl["Enabled"]) {
		attr, _ := ttl["AttributeName"].(string)
		if _, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{Enabled: aws.Bool(true), AttributeName: aws.String(attr)},
		}); err != nil && !strings.Contains(err.Error(), "already enabled") {
			return fmt.Errorf("time to live: %w", err)
		}
	}
	return nil
}

// convert copies a property into an SDK input field through JSON: the SDK's field names are the
// property names, and JSON matches them regardless of case. Numbers written as strings (from a
// parameter) are turned into numbers first.
func convert(v any, dst any) error {
	b, err := json.Marshal(numbers(v))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if s, ok := e.(string); ok && (strings.HasSuffix(k, "Units") || k == "MaxReadRequestUnits" || k == "MaxWriteRequestUnits") {
				var n json.Number = json.Number(s)
				out[k] = n
				continue
			}
			out[k] = numbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = numbers(e)
		}
		return out
	}
	return v
}

func (s *Stack) kinesisStream(ctx context.Context, cfg aws.Config, id string, p map[string]any) error {
	name, _ := s.PhysicalID(id)
	in := &kinesis.CreateStreamInput{StreamName: aws.String(name)}
	if m, ok := p["StreamModeDetails"].(map[string]any); ok && m["StreamMode"] == "ON_DEMAND" {
		in.StreamModeDetails = &kintypes.StreamModeDetails{StreamMode: kintypes.StreamModeOnDemand}
	} else {
		shards := 1
		if p["ShardCount"] != nil {
			n, err := s.number(p["ShardCount"])
			if err != nil {
				return fmt.Errorf("ShardCount: %w", err)
			}
			shards = n
		}
		in.ShardCount = aws.Int32(int32(shards))
	}
	_, err := kinesis.NewFromConfig(cfg).CreateStream(ctx, in)
	var inUse *kintypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return err
	}
	return nil
}

func (s *Stack) eventBus(ctx context.Context, cfg aws.Config, id string, p map[string]any) error {
	name, _ := s.PhysicalID(id)
	_, err := eventbridge.NewFromConfig(cfg).CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)})
	var exists *ebtypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return err
	}
	return nil
}

// putRule creates a rule with its pattern on its bus; a rule that targets a function gets the
// runner's delivery queue as its target instead.
func (s *Stack) putRule(ctx context.Context, cfg aws.Config, r rule) error {
	c := eventbridge.NewFromConfig(cfg)
	if _, err := c.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(r.RuleName),
		EventBusName: aws.String(r.BusName),
		EventPattern: aws.String(r.pattern),
		State:        ebtypes.RuleStateEnabled,
	}); err != nil {
		return err
	}
	var targets []ebtypes.Target
	if r.QueueURL != "" {
		queue := r.QueueARN[strings.LastIndex(r.QueueARN, ":")+1:]
		if err := s.createQueue(ctx, cfg, queue, nil); err != nil {
			return fmt.Errorf("delivery queue: %w", err)
		}
		targets = append(targets, ebtypes.Target{Id: aws.String("runner-" + r.FunctionID), Arn: aws.String(r.QueueARN)})
	}
	for i, t := range r.targets {
		tm, _ := t.(map[string]any)
		var target ebtypes.Target
		if err := convert(tm, &target); err != nil {
			return fmt.Errorf("target %d: %w", i, err)
		}
		targets = append(targets, target)
	}
	if len(targets) == 0 {
		return nil
	}
	out, err := c.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(r.RuleName), EventBusName: aws.String(r.BusName), Targets: targets})
	if err != nil {
		return err
	}
	if out.FailedEntryCount > 0 {
		var codes []string
		for _, f := range out.FailedEntries {
			codes = append(codes, aws.ToString(f.ErrorCode)+": "+aws.ToString(f.ErrorMessage))
		}
		slices.Sort(codes)
		return fmt.Errorf("put targets: %s", strings.Join(codes, "; "))
	}
	return nil
}
