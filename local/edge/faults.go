package edge

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
)

// Fault kinds.
const (
	Throttle     = "throttle" // 400 (S3: 503) with the service's throttling error
	ServerError  = "5xx"      // 500 InternalFailure
	PartialBatch = "partial"  // some entries of a batch call fail; the others are written
)

// Fault injects failures into the calls of one service and operation. Rate is the share of calls
// that fail (for PartialBatch: the share of entries of each batch that fail).
type Fault struct {
	Service   string  `json:"service"`          // signing name: sqs, dynamodb, events, s3, firehose, …; "*" for any
	Operation string  `json:"operation"`        // e.g. SendMessageBatch; "*" or "" for any
	Kind      string  `json:"kind"`             // throttle, 5xx or partial
	Rate      float64 `json:"rate"`             // 0 to 1
	Caller    string  `json:"caller,omitempty"` // only calls signed with this access key; "" for any
}

// ParseFaults reads the --faults flag: comma-separated service:operation:kind:rate[:caller],
// e.g. "sqs:SendMessageBatch:partial:0.2,dynamodb:*:throttle:0.05".
func ParseFaults(s string) ([]Fault, error) {
	var out []Fault
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p := strings.Split(item, ":")
		if len(p) != 4 && len(p) != 5 {
			return nil, fmt.Errorf("fault %q: want service:operation:kind:rate[:caller]", item)
		}
		rate, err := strconv.ParseFloat(p[3], 64)
		if err != nil {
			return nil, fmt.Errorf("fault %q: rate: %w", item, err)
		}
		f := Fault{Service: p[0], Operation: p[1], Kind: p[2], Rate: rate}
		if len(p) == 5 {
			f.Caller = p[4]
		}
		out = append(out, f)
	}
	if err := validFaults(out); err != nil {
		return nil, err
	}
	return out, nil
}

func validFaults(faults []Fault) error {
	for _, f := range faults {
		if f.Rate < 0 || f.Rate > 1 {
			return fmt.Errorf("fault %s:%s: rate %v is not between 0 and 1", f.Service, f.Operation, f.Rate)
		}
		switch f.Kind {
		case Throttle, ServerError:
		case PartialBatch:
			if f.Operation != "*" && f.Operation != "" && partials[f.Operation] == nil {
				return fmt.Errorf("fault %s:%s: partial failures exist for SendMessageBatch, BatchWriteItem, PutEvents and PutRecordBatch only", f.Service, f.Operation)
			}
		default:
			return fmt.Errorf("fault %s:%s: kind %q is not throttle, 5xx or partial", f.Service, f.Operation, f.Kind)
		}
		if f.Service == "" {
			return fmt.Errorf("fault %s:%s: service missing", f.Service, f.Operation)
		}
	}
	return nil
}

func (f Fault) matches(c call) bool {
	return (f.Service == "*" || f.Service == c.Service) &&
		(f.Operation == "*" || f.Operation == "" || f.Operation == c.Operation) &&
		(f.Caller == "" || f.Caller == c.Caller)
}

// errorAnswer writes the error the service itself would answer, in its protocol.
func errorAnswer(w http.ResponseWriter, c call, proto protocol, kind string) {
	status, code, msg := http.StatusBadRequest, "ThrottlingException", "Rate exceeded (injected by the local edge)"
	if kind == ServerError {
		status, code, msg = http.StatusInternalServerError, "InternalFailure", "Internal failure (injected by the local edge)"
	}
	switch proto {
	case protoJSON:
		if kind == Throttle {
			switch c.Service {
			case "dynamodb", "kinesis":
				code = "ProvisionedThroughputExceededException"
			case "firehose":
				code = "ServiceUnavailableException"
				status = http.StatusServiceUnavailable
			case "sqs":
				code = "RequestThrottled"
			}
		} else if c.Service == "dynamodb" {
			code = "InternalServerError"
		}
		body := fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Query-Error", code+";Sender")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	case protoRESTXML:
		if kind == Throttle {
			status, code, msg = http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate. (injected by the local edge)"
		} else {
			code = "InternalError"
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>edge</RequestId></Error>`, code, msg)
	case protoQuery:
		if kind == Throttle {
			code = "Throttling"
		}
		queryError(w, status, code, msg)
	default:
		if kind == Throttle {
			status, code = http.StatusTooManyRequests, "ThrottledException"
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":%q}`, msg)
	}
}

func queryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>edge</RequestId></ErrorResponse>`, code, xmlEscape(msg))
}

// partial splits a batch request into the entries to forward and the entries that fail, and
// joins the upstream's answer for the forwarded ones with failures for the rest.
type partial struct {
	// split returns the request body with only the kept entries (nil when none is kept) and a
	// state for join. fail decides, per entry, whether it fails.
	split func(body []byte, fail func() bool) (kept []byte, state any, err error)
	// join merges the upstream answer (nil when nothing was forwarded) with the failures.
	join func(state any, upstream []byte) ([]byte, error)
}

var partials = map[string]*partial{
	"SendMessageBatch": {split: splitSendMessageBatch, join: joinSendMessageBatch},
	"BatchWriteItem":   {split: splitBatchWriteItem, join: joinBatchWriteItem},
	"PutEvents":        {split: splitIndexed("Entries"), join: joinEntries("Entries", "FailedEntryCount", "InternalFailure", nil)},
	"PutRecordBatch":   {split: splitIndexed("Records"), join: joinEntries("RequestResponses", "FailedPutCount", "ServiceUnavailableException", map[string]json.RawMessage{"Encrypted": json.RawMessage("false")})},
}

type sqsBatchState struct {
	failed []string // entry IDs
}

func splitSendMessageBatch(body []byte, fail func() bool) ([]byte, any, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(req["Entries"], &entries); err != nil {
		return nil, nil, fmt.Errorf("entries: %w", err)
	}
	var st sqsBatchState
	var kept []json.RawMessage
	for _, e := range entries {
		if fail() {
			var id struct{ Id string }
			_ = json.Unmarshal(e, &id)
			st.failed = append(st.failed, id.Id)
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		return nil, st, nil
	}
	req["Entries"], _ = json.Marshal(kept)
	b, err := json.Marshal(req)
	return b, st, err
}

func joinSendMessageBatch(state any, upstream []byte) ([]byte, error) {
	st := state.(sqsBatchState)
	resp := map[string]any{"Successful": []any{}, "Failed": []any{}}
	if upstream != nil {
		if err := json.Unmarshal(upstream, &resp); err != nil {
			return nil, err
		}
	}
	failed, _ := resp["Failed"].([]any)
	for _, id := range st.failed {
		failed = append(failed, map[string]any{"Id": id, "SenderFault": false, "Code": "InternalError", "Message": "injected by the local edge"})
	}
	resp["Failed"] = failed
	if resp["Successful"] == nil {
		resp["Successful"] = []any{}
	}
	return json.Marshal(resp)
}

type ddbBatchState struct {
	unprocessed map[string][]json.RawMessage
}

func splitBatchWriteItem(body []byte, fail func() bool) ([]byte, any, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, err
	}
	var items map[string][]json.RawMessage
	if err := json.Unmarshal(req["RequestItems"], &items); err != nil {
		return nil, nil, fmt.Errorf("request items: %w", err)
	}
	st := ddbBatchState{unprocessed: map[string][]json.RawMessage{}}
	kept := map[string][]json.RawMessage{}
	for table, writes := range items {
		for _, w := range writes {
			if fail() {
				st.unprocessed[table] = append(st.unprocessed[table], w)
			} else {
				kept[table] = append(kept[table], w)
			}
		}
	}
	if len(kept) == 0 {
		return nil, st, nil
	}
	req["RequestItems"], _ = json.Marshal(kept)
	b, err := json.Marshal(req)
	return b, st, err
}

func joinBatchWriteItem(state any, upstream []byte) ([]byte, error) {
	st := state.(ddbBatchState)
	resp := map[string]json.RawMessage{}
	if upstream != nil {
		if err := json.Unmarshal(upstream, &resp); err != nil {
			return nil, err
		}
	}
	unprocessed := map[string][]json.RawMessage{}
	if raw, ok := resp["UnprocessedItems"]; ok {
		_ = json.Unmarshal(raw, &unprocessed)
	}
	for table, writes := range st.unprocessed {
		unprocessed[table] = append(unprocessed[table], writes...)
	}
	resp["UnprocessedItems"], _ = json.Marshal(unprocessed)
	return json.Marshal(resp)
}

// indexedState remembers, per position of the original request, whether the entry failed.
type indexedState struct {
	failed []bool
}

// splitIndexed handles batch calls whose answer lists one result per entry, in order.
func splitIndexed(field string) func([]byte, func() bool) ([]byte, any, error) {
	return func(body []byte, fail func() bool) ([]byte, any, error) {
		var req map[string]json.RawMessage
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, nil, err
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(req[field], &entries); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", field, err)
		}
		st := indexedState{failed: make([]bool, len(entries))}
		var kept []json.RawMessage
		for i, e := range entries {
			if fail() {
				st.failed[i] = true
				continue
			}
			kept = append(kept, e)
		}
		if len(kept) == 0 {
			return nil, st, nil
		}
		req[field], _ = json.Marshal(kept)
		b, err := json.Marshal(req)
		return b, st, err
	}
}

// stitch puts the upstream's per-entry results back in the original positions.
func stitch(st indexedState, upstream []json.RawMessage, failure json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, len(st.failed))
	j := 0
	for i, failed := range st.failed {
		if failed || j >= len(upstream) {
			out[i] = failure
			continue
		}
		out[i] = upstream[j]
		j++
	}
	return out
}

// joinEntries answers a call whose entries are answered one by one, in order, in the response's
// list (PutEvents' Entries, PutRecordBatch's RequestResponses), with a count of the failed ones:
// the injected failures take their places among moto's answers and the count is recomputed.
func joinEntries(list, count, failure string, extra map[string]json.RawMessage) func(any, []byte) ([]byte, error) {
	return func(state any, upstream []byte) ([]byte, error) {
		st := state.(indexedState)
		resp := map[string]json.RawMessage{}
		var entries []json.RawMessage
		if upstream != nil {
			if err := json.Unmarshal(upstream, &resp); err != nil {
				return nil, err
			}
			_ = json.Unmarshal(resp[list], &entries)
		}
		all := stitch(st, entries, json.RawMessage(`{"ErrorCode":"`+failure+`","ErrorMessage":"injected by the local edge"}`))
		failed := 0
		for _, e := range all {
			var r struct{ ErrorCode string }
			_ = json.Unmarshal(e, &r)
			if r.ErrorCode != "" {
				failed++
			}
		}
		resp[list], _ = json.Marshal(all)
		resp[count], _ = json.Marshal(failed)
		for k, v := range extra {
			if _, ok := resp[k]; !ok {
				resp[k] = v
			}
		}
		return json.Marshal(resp)
	}
}
