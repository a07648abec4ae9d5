package firehose

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// The Firehose API limits a put is checked against.
const (
	maxBatchRecords = 500
	maxBatchBytes   = 4 << 20
	maxRecordBytes  = 1000 << 10
	maxRequestBytes = 8 << 20 // base64 of 4 MiB plus JSON; more is refused unread
)

const targetPrefix = "Firehose_20150804."

// apiError is an AWS JSON 1.1 error answer.
type apiError struct {
	status  int
	typ     string
	message string
}

func (e *apiError) Error() string { return e.typ + ": " + e.message }

func notFound(name string) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException",
		fmt.Sprintf("Firehose %s under account %s not found.", name, spec.Account)}
}

func invalid(typ, format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, typ, fmt.Sprintf(format, args...)}
}

// ServeHTTP answers the Firehose API (AWS JSON 1.1, operation in X-Amz-Target).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if r.Method != http.MethodPost || !ok {
		writeError(w, invalid("UnknownOperationException", "unknown operation %q", target))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "read request: " + err.Error()})
		return
	}
	if len(body) > maxRequestBytes {
		writeError(w, &apiError{http.StatusRequestEntityTooLarge, "InvalidArgumentException", "request too large"})
		return
	}
	var out any
	var aerr *apiError
	switch op {
	case "PutRecord":
		out, aerr = s.putRecord(body)
	case "PutRecordBatch":
		out, aerr = s.putRecordBatch(body)
	case "DescribeDeliveryStream":
		out, aerr = s.describe(body)
	case "ListDeliveryStreams":
		out, aerr = s.list(body)
	default:
		aerr = invalid("UnknownOperationException", "operation %s is not run locally", op)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.typ, "message": e.message})
}

type putRecordInput struct {
	DeliveryStreamName string
	Record             *struct{ Data []byte }
}

type putRecordBatchInput struct {
	DeliveryStreamName string
	Records            []struct{ Data []byte }
}

type batchEntry struct {
	RecordID     string `json:"RecordId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

func (s *Service) streamFor(name string) (*stream, *apiError) {
	if name == "" {
		return nil, invalid("ValidationException", "1 validation error detected: Value null at 'deliveryStreamName' failed to satisfy constraint: Member must not be null")
	}
	st, ok := s.streams[name]
	if !ok {
		return nil, notFound(name)
	}
	if s.isStopped() {
		return nil, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "the local Firehose is stopping"}
	}
	if st.cfg.SourceStreamARN != "" {
		return nil, invalid("InvalidArgumentException", "This operation is not permitted on KinesisStreamAsSource delivery stream type.")
	}
	return st, nil
}

func (s *Service) putRecord(body []byte) (any, *apiError) {
	var in putRecordInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, invalid("SerializationException", "%v", err)
	}
	st, aerr := s.streamFor(in.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	if in.Record == nil {
		return nil, invalid("ValidationException", "1 validation error detected: Value null at 'record' failed to satisfy constraint: Member must not be null")
	}
	if len(in.Record.Data) > maxRecordBytes {
		return nil, invalid("ValidationException", "1 validation error detected: Value at 'record.data' failed to satisfy constraint: Member must have length less than or equal to %d", maxRecordBytes)
	}
	if s.opts.RejectRecord != nil && s.opts.RejectRecord(st.cfg.Name) {
		return nil, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "Slow down."}
	}
	ids := st.put([][]byte{in.Record.Data}, time.Now())
	return map[string]any{"RecordId": ids[0], "Encrypted": st.cfg.Encrypted}, nil
}

// putRecordBatch checks the call's limits as Firehose does (a call over them fails whole), then
// accepts every record not rejected one by one.
func (s *Service) putRecordBatch(body []byte) (any, *apiError) {
	var in putRecordBatchInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, invalid("SerializationException", "%v", err)
	}
	st, aerr := s.streamFor(in.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	if len(in.Records) == 0 || len(in.Records) > maxBatchRecords {
		return nil, invalid("ValidationException", "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", maxBatchRecords)
	}
	total := 0
	for i, r := range in.Records {
		if len(r.Data) > maxRecordBytes {
			return nil, invalid("ValidationException", "1 validation error detected: Value at 'records.%d.member.data' failed to satisfy constraint: Member must have length less than or equal to %d", i+1, maxRecordBytes)
		}
		total += len(r.Data)
	}
	if total > maxBatchBytes {
		return nil, invalid("InvalidArgumentException", "Records size exceeds 4 MiB limit: %d bytes", total)
	}
	entries := make([]batchEntry, len(in.Records))
	var accepted [][]byte
	var at []int
	for i, r := range in.Records {
		if s.opts.RejectRecord != nil && s.opts.RejectRecord(st.cfg.Name) {
			entries[i] = batchEntry{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."}
			continue
		}
		accepted = append(accepted, r.Data)
		at = append(at, i)
	}
	if len(accepted) > 0 {
		for k, id := range st.put(accepted, time.Now()) {
			entries[at[k]].RecordID = id
		}
	}
	return map[string]any{"FailedPutCount": len(in.Records) - len(accepted), "Encrypted": st.cfg.Encrypted, "RequestResponses": entries}, nil
}

func (s *Service) describe(body []byte) (any, *apiError) {
	var in struct{ DeliveryStreamName string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, invalid("SerializationException", "%v", err)
	}
	st, ok := s.streams[in.DeliveryStreamName]
	if !ok {
		return nil, notFound(in.DeliveryStreamName)
	}
	c := st.cfg
	compression := "UNCOMPRESSED"
	if c.GZIP {
		compression = "GZIP"
	}
	dest := map[string]any{
		"RoleARN":                 c.RoleARN,
		"BucketARN":               c.BucketARN,
		"Prefix":                  c.Prefix,
		"ErrorOutputPrefix":       c.ErrorPrefix,
		"BufferingHints":          map[string]any{"SizeInMBs": c.BufferSize >> 20, "IntervalInSeconds": int(c.BufferInterval / time.Second)},
		"CompressionFormat":       compression,
		"EncryptionConfiguration": map[string]any{"NoEncryptionConfig": "NoEncryption"},
	}
	if p := c.Processor; p != nil {
		param := func(k, v string) map[string]string { return map[string]string{"ParameterName": k, "ParameterValue": v} }
		dest["ProcessingConfiguration"] = map[string]any{"Enabled": true, "Processors": []any{map[string]any{
			"Type": "Lambda",
			"Parameters": []any{
				param("LambdaArn", p.ARN),
				param("NumberOfRetries", fmt.Sprint(p.Retries)),
				param("BufferSizeInMBs", fmt.Sprint(float64(p.BufferSize)/(1<<20))),
				param("BufferIntervalInSeconds", fmt.Sprint(int(p.BufferInterval/time.Second))),
			},
		}}}
	}
	desc := map[string]any{
		"DeliveryStreamName":   c.Name,
		"DeliveryStreamARN":    c.ARN,
		"DeliveryStreamStatus": "ACTIVE",
		"DeliveryStreamType":   c.streamType(),
		"VersionId":            "1",
		"Destinations": []any{map[string]any{
			"DestinationId":                    "destinationId-000000000001",
			"ExtendedS3DestinationDescription": dest,
		}},
		"HasMoreDestinations": false,
	}
	if c.SourceStreamARN != "" {
		desc["Source"] = map[string]any{"KinesisStreamSourceDescription": map[string]any{"KinesisStreamARN": c.SourceStreamARN}}
	}
	return map[string]any{"DeliveryStreamDescription": desc}, nil
}

func (s *Service) list(body []byte) (any, *apiError) {
	var in struct {
		Limit                            int
		DeliveryStreamType               string
		ExclusiveStartDeliveryStreamName string
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, invalid("SerializationException", "%v", err)
		}
	}
	var names []string
	for _, name := range s.order {
		if in.DeliveryStreamType == "" || in.DeliveryStreamType == s.streams[name].cfg.streamType() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if in.ExclusiveStartDeliveryStreamName != "" {
		i, _ := slices.BinarySearch(names, in.ExclusiveStartDeliveryStreamName)
		for i < len(names) && names[i] <= in.ExclusiveStartDeliveryStreamName {
			i++
		}
		names = names[i:]
	}
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10
	}
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	return map[string]any{"DeliveryStreamNames": names, "HasMoreDeliveryStreams": more}, nil
}
