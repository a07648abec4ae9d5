// Package transform is the Firehose processor's logic: each record of a Firehose batch becomes a
// canonical record, which goes back to Firehose (for the lake) and onto the ingest queue, or is
// refused with a reason and kept by Firehose under its error prefix. A record is never returned
// as Ok unless it is on the queue.
package transform

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// Result is what Firehose is told about one record.
type Result int

const (
	// Ok: the canonical record goes to the lake; it is on the queue.
	Ok Result = iota
	// ProcessingFailed: Firehose keeps the original bytes under the error prefix.
	ProcessingFailed
	// Dropped: the record did not fit this invocation's answer; it was put back into its delivery
	// stream as its original bytes and comes again in a later invocation.
	Dropped
)

func (r Result) String() string {
	switch r {
	case Ok:
		return "Ok"
	case Dropped:
		return "Dropped"
	}
	return "ProcessingFailed"
}

// Input is one record of a Firehose batch.
type Input struct {
	RecordID      string // Firehose's record id, echoed in the output
	Data          []byte
	ArrivalMillis int64  // Firehose's approximate arrival timestamp
	Source        string // the delivery stream's name
}

// Outcome is what Transform made of a batch: the answer for each record, in order, and what the
// handler traces and counts.
type Outcome struct {
	Outputs []Output
	// First is the first valid record taken on: a batch's trace is annotated with one record.
	First record.Record
	// Taken is the records taken on (the others were Dropped); Failed is those of them answered
	// ProcessingFailed.
	Taken, Failed int
}

// Output is the answer for one input record, in the same order.
type Output struct {
	RecordID string
	Result   Result
	// Data is the canonical JSON and "\n" when Ok (one record per line in the lake), the
	// original bytes when ProcessingFailed, nothing when Dropped.
	Data []byte
	Err  error // why the record was refused
}

type sender interface {
	SendMessages(ctx context.Context, msgs []queue.Message, traceHeader string) error
}

var _ sender = (*queue.Sender)(nil)

type reputter interface {
	Reput(ctx context.Context, stream string, data [][]byte) error
}

var _ reputter = (*Reingester)(nil)

// Lambda answers a synchronous invocation with at most 6 MB; the answer is held under that with a
// margin, for the JSON the runtime adds and for rounding in what Lambda counts.
const (
	AnswerLimit  = 6_000_000
	answerMargin = 256 << 10
)

// DefaultMaxRecords bounds the records one invocation takes on, whatever their size: each costs
// memory and a share of a SendMessageBatch call, and a buffer of tens of thousands of tiny
// records would not reach the queue within the function's timeout. The rest are re-put. It is
// the template's MAX_RECORDS, which says how it was chosen.
const DefaultMaxRecords = 2500

// Transformer parses, validates and forwards the records of a Firehose batch.
type Transformer struct {
	Parser *record.Parser
	Sender sender
	// Reingester takes back the records one invocation cannot answer (see Transform).
	Reingester reputter
	// MaxAnswerBytes is the size the answer, as the handler serialises it, stays under; 0 means
	// AnswerLimit less a margin. MaxRecords is the number of records one invocation handles; 0
	// means DefaultMaxRecords.
	MaxAnswerBytes, MaxRecords int
}

// Transform answers a Firehose batch. Bad records are ProcessingFailed and not sent on, and so
// are records SQS refuses as malformed; good ones are sent to the queue. When the queue still
// refuses after retries, Transform returns an error: the invocation fails and Firehose sends the
// whole batch again (the records keep their ids, so the queue drops what it already has).
//
// Records past MaxRecords, or past the point where the answer would outgrow MaxAnswerBytes, are
// not sent to the queue: after the others are on it, they are put back into their delivery
// stream and answered Dropped, so each record lands once. If that put fails, Transform returns
// an error and Firehose retries the whole batch.
func (t *Transformer) Transform(ctx context.Context, in []Input) (Outcome, error) {
	out := make([]Output, len(in))
	recs := make([]record.Record, 0, len(in))
	at := make([]int, 0, len(in)) // output index of recs[i]
	size := 0
	budget, limit := t.MaxAnswerBytes, t.MaxRecords
	if budget <= 0 {
		budget = AnswerLimit - answerMargin
	}
	if limit <= 0 {
		limit = DefaultMaxRecords
	}
	// dropped[i] is what answering in[i:] Dropped costs, so a record is taken on only if the
	// records after it can still be answered.
	dropped := make([]int, len(in)+1)
	for i := len(in) - 1; i >= 0; i-- {
		dropped[i] = dropped[i+1] + AnswerRecordLen(in[i].RecordID, Dropped, 0)
	}
	used, cut := answerEnvelopeLen, len(in)
	for i, x := range in {
		if i >= limit {
			cut = i
			break
		}
		r, err := t.Parser.Parse(x.Data, record.Meta{Source: x.Source, ArrivalMillis: x.ArrivalMillis})
		// A good record the queue refuses for good is answered ProcessingFailed with its
		// original bytes instead, so it costs the larger of the two answers.
		cost := AnswerRecordLen(x.RecordID, ProcessingFailed, len(x.Data))
		if err == nil {
			cost = max(cost, AnswerRecordLen(x.RecordID, Ok, r.JSONLen()+1))
		}
		if used+cost+dropped[i+1] > budget {
			cut = i
			break
		}
		used += cost
		if err != nil {
			out[i] = Output{RecordID: x.RecordID, Result: ProcessingFailed, Data: x.Data, Err: err}
			continue
		}
		recs = append(recs, r)
		at = append(at, i)
		size += r.JSONLen() + 1
	}
	for i := cut; i < len(in); i++ {
		out[i] = Output{RecordID: in[i].RecordID, Result: Dropped}
	}

	// One buffer holds every output line and one string every message body, instead of two
	// allocations per record.
	buf := make([]byte, 0, size)
	for j, r := range recs {
		start := len(buf)
		buf = append(r.AppendJSON(buf), '\n')
		out[at[j]] = Output{RecordID: in[at[j]].RecordID, Result: Ok, Data: buf[start:len(buf):len(buf)]}
	}
	bodies := string(buf)
	msgs := make([]queue.Message, len(recs))
	pos := 0
	for j, r := range recs {
		n := len(out[at[j]].Data)
		msgs[j] = queue.Message{Record: r, Body: bodies[pos : pos+n-1]}
		pos += n
	}

	if err := t.Sender.SendMessages(ctx, msgs, trace.Header(ctx)); err != nil {
		var se *queue.SendError
		if !errors.As(err, &se) || se.Retryable() {
			return Outcome{}, fmt.Errorf("transform: %d of %d records not on the queue: %w", failedCount(err, len(recs)), len(recs), err)
		}
		// SQS refused these records as they are: sending them again cannot help, so they are
		// failed records like any other bad input, and the rest of the batch goes on.
		refused := make(map[string]queue.Failure, len(se.Failures))
		for _, f := range se.Failures {
			refused[f.ID] = f
		}
		for j, r := range recs {
			if f, ok := refused[r.ID]; ok {
				x := in[at[j]]
				out[at[j]] = Output{RecordID: x.RecordID, Result: ProcessingFailed, Data: x.Data,
					Err: fmt.Errorf("queue refused record %s: %s: %s", r.ID, f.Code, f.Message)}
			}
		}
	}
	if cut < len(in) {
		if t.Reingester == nil {
			return Outcome{}, fmt.Errorf("transform: %d of %d records do not fit one answer and nothing can put them back", len(in)-cut, len(in))
		}
		data := make([][]byte, 0, len(in)-cut)
		for _, x := range in[cut:] {
			data = append(data, x.Data)
		}
		if err := t.Reingester.Reput(ctx, in[cut].Source, data); err != nil {
			return Outcome{}, fmt.Errorf("transform: %d records that do not fit one answer: %w", len(data), err)
		}
	}
	res := Outcome{Outputs: out, Taken: cut}
	if len(recs) > 0 {
		res.First = recs[0]
	}
	for _, o := range out {
		if o.Result == ProcessingFailed {
			res.Failed++
		}
	}
	return res, nil
}

// answerEnvelopeLen is the answer's JSON around its records, {"records":[]} (the Lambda
// runtime strips the newline its JSON encoder ends with).
const answerEnvelopeLen = len(`{"records":[]}`)

// AnswerRecordLen is the exact length of one record of the answer as the handler serialises it,
// {"recordId":…,"result":…,"data":…} with data base64 and left out when empty, and the comma
// that separates it from the next.
func AnswerRecordLen(recordID string, result Result, dataLen int) int {
	n := len(`{"recordId":,"result":""},`) + jsonStringLen(recordID) + len(result.String())
	if dataLen > 0 {
		n += len(`,"data":""`) + base64.StdEncoding.EncodedLen(dataLen)
	}
	return n
}

// AnswerLen is the exact length of the answer to out as the handler serialises it.
func AnswerLen(out []Output) int {
	n := answerEnvelopeLen
	for _, o := range out {
		n += AnswerRecordLen(o.RecordID, o.Result, len(o.Data))
	}
	if len(out) > 0 {
		n-- // no comma after the last record
	}
	return n
}

// jsonStringLen is the length of s as the Lambda runtime's encoder writes it (HTML not escaped),
// quotes included.
func jsonStringLen(s string) int {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
	}
	if plain { // Firehose's record ids are digits: the common case needs no encoder
		return len(s) + 2
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil { // a string always encodes; count the worst case if it did not
		return 6*len(s) + 2
	}
	return b.Len() - 1 // Encode's newline
}

func failedCount(err error, all int) int {
	var se *queue.SendError
	if errors.As(err, &se) {
		return len(se.Failures)
	}
	return all
}
