package firehose

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Firehose's documented defaults, used where the template leaves a setting out.
const (
	defaultBufferSize          = 5 << 20
	defaultBufferInterval      = 300 * time.Second
	defaultProcessorBufferSize = 1 << 20
	defaultProcessorInterval   = 60 * time.Second
	defaultNumberOfRetries     = 3
)

// streamConfig is one AWS::KinesisFirehose::DeliveryStream of the template, resolved.
type streamConfig struct {
	LogicalID      string
	Name           string
	ARN            string
	BucketARN      string
	Bucket         string
	Prefix         string
	ErrorPrefix    string
	BufferSize     int
	BufferInterval time.Duration
	GZIP           bool
	RoleARN        string
	Encrypted      bool // server-side encryption configured: puts answer Encrypted true
	// SourceStreamARN is the Kinesis stream a KinesisStreamAsSource stream reads ("" for
	// DirectPut): such a stream refuses puts and gets its records from the Kinesis stream.
	SourceStreamARN string
	Processor       *processorConfig
}

// processorConfig is the stream's Lambda processor.
type processorConfig struct {
	FunctionID     string
	ARN            string
	BufferSize     int
	BufferInterval time.Duration
	Retries        int
	// RetryDuration bounds the time spent retrying (RetryOptions.DurationInSeconds); 0: no bound.
	RetryDuration time.Duration
}

// readStreams reads every delivery stream of the template through the stack.
func readStreams(st spec.Stack) ([]streamConfig, error) {
	var out []streamConfig
	tmpl := st.Template()
	for _, id := range tmpl.OfType("AWS::KinesisFirehose::DeliveryStream") {
		c, err := readStream(st, id, tmpl.Resources[id].Properties)
		if err != nil {
			return nil, fmt.Errorf("delivery stream %s: %w", id, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func readStream(st spec.Stack, id string, raw map[string]any) (streamConfig, error) {
	resolved, err := st.Resolve(raw)
	if err != nil {
		return streamConfig{}, fmt.Errorf("resolve properties: %w", err)
	}
	props, _ := resolved.(map[string]any)
	c := streamConfig{LogicalID: id}
	switch t, _ := props["DeliveryStreamType"].(string); t {
	case "", "DirectPut":
	case "KinesisStreamAsSource":
		src, _ := props["KinesisStreamSourceConfiguration"].(map[string]any)
		c.SourceStreamARN, _ = src["KinesisStreamARN"].(string)
		if c.SourceStreamARN == "" {
			return streamConfig{}, fmt.Errorf("KinesisStreamAsSource without KinesisStreamSourceConfiguration.KinesisStreamARN")
		}
	default:
		return streamConfig{}, fmt.Errorf("DeliveryStreamType %s: only DirectPut and KinesisStreamAsSource are run locally", t)
	}
	c.Name, _ = props["DeliveryStreamName"].(string)
	if c.Name == "" {
		ref, err := st.Resolve(map[string]any{"Ref": id})
		if err != nil {
			return streamConfig{}, fmt.Errorf("physical name: %w", err)
		}
		c.Name, _ = ref.(string)
	}
	if c.Name == "" {
		return streamConfig{}, fmt.Errorf("no name: neither DeliveryStreamName nor a Ref value")
	}
	_, c.Encrypted = props["DeliveryStreamEncryptionConfigurationInput"].(map[string]any)
	c.ARN = fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", spec.Region, spec.Account, c.Name)

	dest, ok := props["ExtendedS3DestinationConfiguration"].(map[string]any)
	if !ok {
		dest, ok = props["S3DestinationConfiguration"].(map[string]any)
	}
	if !ok {
		return streamConfig{}, fmt.Errorf("no ExtendedS3DestinationConfiguration: only S3 destinations are run locally")
	}
	c.BucketARN, _ = dest["BucketARN"].(string)
	c.Bucket = bucketName(c.BucketARN)
	if c.Bucket == "" {
		return streamConfig{}, fmt.Errorf("BucketARN %q names no bucket", c.BucketARN)
	}
	c.RoleARN, _ = dest["RoleARN"].(string)
	c.Prefix, _ = dest["Prefix"].(string)
	c.ErrorPrefix, _ = dest["ErrorOutputPrefix"].(string)
	c.GZIP = strings.EqualFold(str(dest["CompressionFormat"]), "GZIP")
	hints, _ := dest["BufferingHints"].(map[string]any)
	c.BufferSize = samtemplate.Int(hints["SizeInMBs"], defaultBufferSize>>20) << 20
	c.BufferInterval = time.Duration(samtemplate.Int(hints["IntervalInSeconds"], int(defaultBufferInterval/time.Second))) * time.Second

	p, err := readProcessor(st, dest)
	if err != nil {
		return streamConfig{}, err
	}
	c.Processor = p
	return c, nil
}

// readProcessor reads the Lambda processor of ProcessingConfiguration, nil when there is none
// or it is disabled.
func readProcessor(st spec.Stack, dest map[string]any) (*processorConfig, error) {
	pc, _ := dest["ProcessingConfiguration"].(map[string]any)
	if pc == nil {
		return nil, nil
	}
	if e, set := pc["Enabled"]; set && !truthy(e) {
		return nil, nil
	}
	procs, _ := pc["Processors"].([]any)
	for _, raw := range procs {
		proc, _ := raw.(map[string]any)
		if str(proc["Type"]) != "Lambda" {
			continue
		}
		params := map[string]string{}
		list, _ := proc["Parameters"].([]any)
		for _, rp := range list {
			p, _ := rp.(map[string]any)
			params[str(p["ParameterName"])] = str(p["ParameterValue"])
		}
		arn := params["LambdaArn"]
		fn, ok := st.FunctionByARN(arn)
		if !ok {
			// A processor ARN may carry a qualifier (":$LATEST"); the function is the same.
			if i := strings.LastIndex(arn, ":"); i > 0 && strings.Count(arn, ":") == 7 {
				fn, ok = st.FunctionByARN(arn[:i])
			}
		}
		if !ok {
			return nil, fmt.Errorf("processor LambdaArn %q is no function of the template", arn)
		}
		p := &processorConfig{
			FunctionID:     fn.LogicalID,
			ARN:            fn.ARN,
			BufferSize:     defaultProcessorBufferSize,
			BufferInterval: defaultProcessorInterval,
			Retries:        defaultNumberOfRetries,
		}
		if v, ok := params["BufferSizeInMBs"]; ok {
			mb, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("processor BufferSizeInMBs %q: %w", v, err)
			}
			p.BufferSize = int(mb * (1 << 20))
		}
		if v, ok := params["BufferIntervalInSeconds"]; ok {
			s, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("processor BufferIntervalInSeconds %q: %w", v, err)
			}
			p.BufferInterval = time.Duration(s) * time.Second
		}
		if v, ok := params["NumberOfRetries"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("processor NumberOfRetries %q: %w", v, err)
			}
			p.Retries = n
		}
		if ro, ok := dest["RetryOptions"].(map[string]any); ok {
			p.RetryDuration = time.Duration(samtemplate.Int(ro["DurationInSeconds"], 0)) * time.Second
		}
		return p, nil
	}
	return nil, nil
}

// bucketName takes the bucket out of arn:aws:s3:::name (or returns a plain name as is).
func bucketName(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}
