package template

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/test/docblock"
)

const (
	flowPath       = "statemachine-free/flow.yaml"
	flowReadmePath = "statemachine-free/README.md"
)

var update = flag.Bool("update", false, "rewrite the hop tables of statemachine-free/README.md from flow.yaml")

// flow is statemachine-free/flow.yaml.
type flow struct {
	Contracts []string  `yaml:"contracts"`
	Hops      []flowHop `yaml:"hops"`
}

type flowHop struct {
	Name     string `yaml:"name"`
	Function string `yaml:"function"`
	Trigger  struct {
		Kind             string   `yaml:"kind"`
		Source           string   `yaml:"source"`
		Events           []string `yaml:"events"`
		StartingPosition string   `yaml:"startingPosition"`
		// Via lists the resources between what the followed hop sends to and Source, each
		// pointing at the next in template.yaml (a table's streaming destination, a stream).
		Via []string `yaml:"via"`
	} `yaml:"trigger"`
	// Follows names the hop whose output this one takes, when that is not the hop before it
	// (a branch of the flow).
	Follows string `yaml:"follows"`
	Batch   struct {
		Size            int    `yaml:"size"`
		MaxMiB          int    `yaml:"maxMiB"`
		MaxMiBParameter string `yaml:"maxMiBParameter"`
		WindowSeconds   int    `yaml:"windowSeconds"`
		WindowParameter string `yaml:"windowParameter"`
	} `yaml:"batch"`
	Filter               map[string]any `yaml:"filter"`
	Retries              flowRetries    `yaml:"retries"`
	Delivery             *flowDelivery  `yaml:"delivery"`
	Failure              flowPlace      `yaml:"failure"`
	PartialBatchResponse bool           `yaml:"partialBatchResponse"`
	Input                string         `yaml:"input"`
	Output               []string       `yaml:"output"`
	SendsTo              []string       `yaml:"sendsTo"`
	Reads                []string       `yaml:"reads"`
	DeliveredTo          *flowPlace     `yaml:"deliveredTo"`
}

// flowDelivery is how a bus's events reach a queue hop: the rule, its pattern, and its delivery
// retries and dead-letter queue.
type flowDelivery struct {
	Rule    string         `yaml:"rule"`
	Pattern map[string]any `yaml:"pattern"`
	Retries flowRetries    `yaml:"retries"`
	Failure flowPlace      `yaml:"failure"`
}

type flowRetries struct {
	Attempts          int    `yaml:"attempts"`
	AttemptsParameter string `yaml:"attemptsParameter"`
	Bisect            bool   `yaml:"bisect"`
	MaxAgeSeconds     int    `yaml:"maxAgeSeconds"`
	Note              string `yaml:"note"`
}

type flowPlace struct {
	Destination string `yaml:"destination"`
	Prefix      string `yaml:"prefix"`
	Note        string `yaml:"note"`
}

func loadFlow(t *testing.T) *flow {
	t.Helper()
	b, err := os.ReadFile(flowPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key would otherwise be a check that silently never runs
	var f flow
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", flowPath, err)
	}
	return &f
}

// TestFlowMatchesTemplate fails on any disagreement between the flow file and template.yaml.
func TestFlowMatchesTemplate(t *testing.T) {
	t.Parallel()
	tpl, fl := loadTemplate(t), loadFlow(t)
	for _, p := range checkFlow(tpl, fl) {
		t.Error(p)
	}
}

// TestFlowCheckCatchesDisagreement changes one side at a time and expects checkFlow to notice.
func TestFlowCheckCatchesDisagreement(t *testing.T) {
	t.Parallel()
	hop := func(f *flow, name string) *flowHop {
		for i := range f.Hops {
			if f.Hops[i].Name == name {
				return &f.Hops[i]
			}
		}
		panic("no hop " + name)
	}
	storerEvent := func(tp *samtemplate.Template) map[string]any {
		return dig(tp.Resources["EventStorerFunction"].Properties, "Events", "IngestQueue", "Properties").(map[string]any)
	}
	emitterEvent := func(tp *samtemplate.Template) map[string]any {
		return dig(tp.Resources["EventEmitterFunction"].Properties, "Events", "EventStoreStream", "Properties").(map[string]any)
	}
	ruleTarget := func(tp *samtemplate.Template) map[string]any {
		return dig(tp.Resources["DataInsertedRule"].Properties, "Targets", 0).(map[string]any)
	}
	tests := []struct {
		name   string
		mutate func(*samtemplate.Template, *flow)
	}{
		{"SQS batch size", func(tp *samtemplate.Template, _ *flow) { storerEvent(tp)["BatchSize"] = 5 }},
		{"SQS batching window", func(tp *samtemplate.Template, _ *flow) { storerEvent(tp)["MaximumBatchingWindowInSeconds"] = 2 }},
		{"queue redrive count", func(tp *samtemplate.Template, _ *flow) {
			tp.Resources["IngestQueue"].Properties["RedrivePolicy"].(map[string]any)["maxReceiveCount"] = 3
		}},
		{"queue DLQ", func(_ *samtemplate.Template, f *flow) { hop(f, "store").Failure.Destination = "EmitterDLQ" }},
		{"partial batch response off", func(tp *samtemplate.Template, _ *flow) { delete(storerEvent(tp), "FunctionResponseTypes") }},
		{"trigger source", func(_ *samtemplate.Template, f *flow) { hop(f, "store").Trigger.Source = "IngestDLQ" }},
		{"trigger kind", func(_ *samtemplate.Template, f *flow) { hop(f, "emit").Trigger.Kind = "kinesis" }},
		{"stream filter", func(tp *samtemplate.Template, _ *flow) {
			dig(emitterEvent(tp), "FilterCriteria", "Filters", 0).(map[string]any)["Pattern"] = `{"eventName":["REMOVE"]}`
		}},
		{"stream retries", func(tp *samtemplate.Template, _ *flow) { emitterEvent(tp)["MaximumRetryAttempts"] = 2 }},
		{"stream bisect", func(_ *samtemplate.Template, f *flow) { hop(f, "emit").Retries.Bisect = false }},
		{"stream record age", func(tp *samtemplate.Template, _ *flow) { emitterEvent(tp)["MaximumRecordAgeInSeconds"] = 60 }},
		{"stream failure destination", func(tp *samtemplate.Template, _ *flow) {
			dig(emitterEvent(tp), "DestinationConfig", "OnFailure").(map[string]any)["Destination"] = getAtt("ResponderDLQ", "Arn")
		}},
		{"starting position", func(_ *samtemplate.Template, f *flow) { hop(f, "emit").Trigger.StartingPosition = "LATEST" }},
		{"rule pattern", func(tp *samtemplate.Template, _ *flow) {
			tp.Resources["DataInsertedRule"].Properties["EventPattern"] = map[string]any{"detail-type": []any{"DataInserted"}}
		}},
		{"rule retries", func(tp *samtemplate.Template, _ *flow) {
			ruleTarget(tp)["RetryPolicy"].(map[string]any)["MaximumRetryAttempts"] = 185
		}},
		{"rule target", func(tp *samtemplate.Template, _ *flow) { ruleTarget(tp)["Arn"] = getAtt("IngestQueue", "Arn") }},
		{"rule DLQ", func(tp *samtemplate.Template, _ *flow) {
			ruleTarget(tp)["DeadLetterConfig"] = map[string]any{"Arn": getAtt("EmitterDLQ", "Arn")}
		}},
		{"responder queue redrive count", func(tp *samtemplate.Template, _ *flow) {
			tp.Resources["ResponderQueue"].Properties["RedrivePolicy"].(map[string]any)["maxReceiveCount"] = 3
		}},
		{"processor retries", func(tp *samtemplate.Template, _ *flow) { tp.Parameters["ProcessorRetries"]["Default"] = 10 }},
		{"processor buffer", func(_ *samtemplate.Template, f *flow) { hop(f, "transform").Batch.MaxMiB = 3 }},
		{"error prefix", func(_ *samtemplate.Template, f *flow) { hop(f, "transform").Failure.Prefix = "failed/" }},
		{"function sends elsewhere", func(_ *samtemplate.Template, f *flow) { hop(f, "store").SendsTo = []string{"ProjectionTable"} }},
		{"unknown contract", func(_ *samtemplate.Template, f *flow) { hop(f, "emit").Input = "stream record" }},
		{"contract chain broken", func(_ *samtemplate.Template, f *flow) { hop(f, "respond").Input = "queue message" }},
		{"function missing from the flow", func(_ *samtemplate.Template, f *flow) { f.Hops = f.Hops[:4] }},
		{"API route missing", func(_ *samtemplate.Template, f *flow) { hop(f, "serve").Trigger.Events = []string{"ListRecords"} }},
		{"table no longer streams to Kinesis", func(tp *samtemplate.Template, _ *flow) {
			delete(tp.Resources["EventStoreTable"].Properties, "KinesisStreamSpecification")
		}},
		{"change stream read by nothing", func(tp *samtemplate.Template, _ *flow) {
			delete(tp.Resources["ChangeDeliveryStream"].Properties, "KinesisStreamSourceConfiguration")
		}},
		{"archive follows the wrong hop", func(_ *samtemplate.Template, f *flow) { hop(f, "archive").Follows = "emit" }},
		{"archive follows a later hop", func(_ *samtemplate.Template, f *flow) { hop(f, "store").Follows = "archive" }},
		{"change error prefix", func(_ *samtemplate.Template, f *flow) { hop(f, "archive").Failure.Prefix = "errors/records/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl, fl := loadTemplate(t), loadFlow(t)
			mustNotice(t, "checkFlow", false, func() []string { return checkFlow(tpl, fl) }, func() { tt.mutate(tpl, fl) })
		})
	}
}

func checkFlow(tpl *samtemplate.Template, fl *flow) []string {
	var p problems
	var inFlow []string
	for _, h := range fl.Hops {
		inFlow = append(inFlow, h.Function)
	}
	slices.Sort(inFlow)
	p.want("functions in the flow", inFlow, tpl.OfType("AWS::Serverless::Function"))

	for i, h := range fl.Hops {
		f := function(tpl, h.Function)
		name := "hop " + h.Name
		switch h.Trigger.Kind {
		case "firehose-processor":
			checkFirehoseHop(&p, tpl, h)
		case "sqs":
			checkSQSHop(&p, tpl, h, f)
		case "dynamodb-stream":
			checkStreamHop(&p, h, f)
		case "api":
			checkAPIHop(&p, h, f)
		default:
			p.addf("%s: unknown trigger kind %q", name, h.Trigger.Kind)
		}
		// What the function writes to or reads from, it is told through its environment.
		for _, target := range slices.Concat(h.SendsTo, h.Reads) {
			if !refersTo(dig(f, "Environment", "Variables"), target) {
				p.addf("%s: %s's environment does not point at %s", name, h.Function, target)
			}
		}
		for _, c := range slices.Concat([]string{h.Input}, h.Output) {
			if !slices.Contains(fl.Contracts, c) {
				p.addf("%s: contract %q is not one of the design's %q", name, c, fl.Contracts)
			}
		}
		if i == 0 {
			p.want(name+" input", h.Input, "input record")
			continue
		}
		prev := fl.Hops[i-1]
		if h.Follows != "" {
			j := slices.IndexFunc(fl.Hops, func(o flowHop) bool { return o.Name == h.Follows })
			if j < 0 || j >= i {
				p.addf("%s follows %q, which is no earlier hop", name, h.Follows)
				continue
			}
			prev = fl.Hops[j]
		}
		if !slices.Contains(prev.Output, h.Input) {
			p.addf("%s takes %q, but hop %s gives %q", name, h.Input, prev.Name, prev.Output)
		}
		if via := h.Trigger.Via; len(via) > 0 {
			if !slices.Contains(prev.SendsTo, via[0]) {
				p.addf("%s is fed through %s, but hop %s sends to %q", name, via[0], prev.Name, prev.SendsTo)
			}
			chain := append(slices.Clone(via), h.Trigger.Source)
			for k := 1; k < len(chain); k++ {
				from, to := chain[k-1], chain[k]
				if !refersTo(tpl.Resources[from].Properties, to) && !refersTo(tpl.Resources[to].Properties, from) {
					p.addf("%s: %s and %s do not point at each other in the template", name, from, to)
				}
			}
		} else if !slices.Contains(prev.SendsTo, h.Trigger.Source) && !slices.ContainsFunc(h.Reads, func(r string) bool { return slices.Contains(prev.SendsTo, r) }) {
			p.addf("%s is triggered by %s or reads %q, but hop %s sends to %q", name, h.Trigger.Source, h.Reads, prev.Name, prev.SendsTo)
		}
	}
	return p
}

// refersTo reports whether v holds a Ref or GetAtt to the logical ID id anywhere.
func refersTo(v any, id string) bool {
	switch x := v.(type) {
	case map[string]any:
		if x["Ref"] == id || dig(x, "Fn::GetAtt", 0) == id {
			return true
		}
		for _, e := range x {
			if refersTo(e, id) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return refersTo(e, id) })
	}
	return false
}

func checkFirehoseHop(p *problems, tpl *samtemplate.Template, h flowHop) {
	name := "hop " + h.Name
	src := tpl.Resources[h.Trigger.Source]
	p.want(name+" source type", src.Type, "AWS::KinesisFirehose::DeliveryStream")
	s3 := dig(src.Properties, "ExtendedS3DestinationConfiguration")
	params := map[string]any{}
	for _, kv := range statements(dig(s3, "ProcessingConfiguration", "Processors", 0, "Parameters")) {
		params[fmt.Sprint(kv["ParameterName"])] = kv["ParameterValue"]
	}
	p.want(name+" processor", params["LambdaArn"], getAtt(h.Function, "Arn"))
	p.want(name+" batch MiB parameter", params["BufferSizeInMBs"], ref(h.Batch.MaxMiBParameter))
	p.want(name+" batch window parameter", params["BufferIntervalInSeconds"], ref(h.Batch.WindowParameter))
	p.want(name+" retries parameter", params["NumberOfRetries"], ref(h.Retries.AttemptsParameter))
	p.want(name+" batch MiB", resolve(tpl, params["BufferSizeInMBs"]), h.Batch.MaxMiB)
	p.want(name+" batch window", resolve(tpl, params["BufferIntervalInSeconds"]), h.Batch.WindowSeconds)
	p.want(name+" retries", resolve(tpl, params["NumberOfRetries"]), h.Retries.Attempts)
	p.want(name+" failure destination", dig(s3, "BucketARN"), getAtt(h.Failure.Destination, "Arn"))
	if prefix, _ := dig(s3, "ErrorOutputPrefix").(string); h.Failure.Prefix == "" || !strings.HasPrefix(prefix, h.Failure.Prefix) {
		p.addf("%s: ErrorOutputPrefix %q does not start with the flow's %q", name, prefix, h.Failure.Prefix)
	}
	if d := h.DeliveredTo; d == nil {
		p.addf("%s: no deliveredTo for the lake", name)
	} else {
		p.want(name+" delivered to", dig(s3, "BucketARN"), getAtt(d.Destination, "Arn"))
		if prefix, _ := dig(s3, "Prefix").(string); d.Prefix == "" || !strings.HasPrefix(prefix, d.Prefix) {
			p.addf("%s: Prefix %q does not start with the flow's %q", name, prefix, d.Prefix)
		}
	}
	// Firehose's processor protocol answers per record (Ok / ProcessingFailed), always.
	p.want(name+" partial batch response", h.PartialBatchResponse, true)
}

// event returns the SAM event of the hop's function, checking its type.
func event(p *problems, h flowHop, f map[string]any, i int, typ string) map[string]any {
	if i >= len(h.Trigger.Events) {
		p.addf("hop %s: no SAM event named in the flow", h.Name)
		return map[string]any{}
	}
	ev := dig(f, "Events", h.Trigger.Events[i])
	p.want(fmt.Sprintf("hop %s event %s type", h.Name, h.Trigger.Events[i]), dig(ev, "Type"), typ)
	props, _ := dig(ev, "Properties").(map[string]any)
	if props == nil {
		return map[string]any{}
	}
	return props
}

func partialBatch(props map[string]any) bool {
	return slices.Contains(asList(props["FunctionResponseTypes"]), any("ReportBatchItemFailures"))
}

func intOr(v any, def int) any {
	if v == nil {
		return def
	}
	return v
}

func checkSQSHop(p *problems, tpl *samtemplate.Template, h flowHop, f map[string]any) {
	name := "hop " + h.Name
	props := event(p, h, f, 0, "SQS")
	p.want(name+" queue", props["Queue"], getAtt(h.Trigger.Source, "Arn"))
	p.want(name+" batch size", props["BatchSize"], h.Batch.Size)
	p.want(name+" batching window", intOr(props["MaximumBatchingWindowInSeconds"], 0), h.Batch.WindowSeconds)
	p.want(name+" filter", props["FilterCriteria"] != nil, h.Filter != nil)
	redrive := tpl.Resources[h.Trigger.Source].Properties["RedrivePolicy"]
	p.want(name+" receives before the DLQ", dig(redrive, "maxReceiveCount"), h.Retries.Attempts)
	p.want(name+" failure destination", dig(redrive, "deadLetterTargetArn"), getAtt(h.Failure.Destination, "Arn"))
	p.want(name+" partial batch response", partialBatch(props), h.PartialBatchResponse)
	if h.Delivery != nil {
		checkRuleDelivery(p, tpl, h)
	}
}

func checkStreamHop(p *problems, h flowHop, f map[string]any) {
	name := "hop " + h.Name
	props := event(p, h, f, 0, "DynamoDB")
	p.want(name+" stream", props["Stream"], getAtt(h.Trigger.Source, "StreamArn"))
	p.want(name+" starting position", props["StartingPosition"], h.Trigger.StartingPosition)
	p.want(name+" batch size", props["BatchSize"], h.Batch.Size)
	p.want(name+" batching window", intOr(props["MaximumBatchingWindowInSeconds"], 0), h.Batch.WindowSeconds)
	p.want(name+" retries", props["MaximumRetryAttempts"], h.Retries.Attempts)
	p.want(name+" bisect", props["BisectBatchOnFunctionError"] == true, h.Retries.Bisect)
	p.want(name+" max record age", props["MaximumRecordAgeInSeconds"], h.Retries.MaxAgeSeconds)
	p.want(name+" failure destination", dig(props, "DestinationConfig", "OnFailure", "Destination"), getAtt(h.Failure.Destination, "Arn"))
	p.want(name+" partial batch response", partialBatch(props), h.PartialBatchResponse)
	var filters []any
	for _, flt := range statements(dig(props, "FilterCriteria", "Filters")) {
		var pattern any
		if err := json.Unmarshal([]byte(fmt.Sprint(flt["Pattern"])), &pattern); err != nil {
			p.addf("%s: filter pattern %q: %v", name, flt["Pattern"], err)
		}
		filters = append(filters, pattern)
	}
	p.want(name+" filter", filters, wantFilters(h.Filter))
}

// wantFilters is the flow's filter in the template's form: one pattern, JSON-decoded.
func wantFilters(f map[string]any) []any {
	if f == nil {
		return nil
	}
	b, _ := json.Marshal(f)
	var v any
	_ = json.Unmarshal(b, &v)
	return []any{v}
}

// checkRuleDelivery holds a queue hop's delivery to the rule that fills its queue: the rule's
// pattern (parameters at their defaults), and its target's retries and dead-letter queue.
func checkRuleDelivery(p *problems, tpl *samtemplate.Template, h flowHop) {
	name := "hop " + h.Name + " rule " + h.Delivery.Rule
	if via := h.Trigger.Via; len(via) == 0 || via[len(via)-1] != h.Delivery.Rule {
		p.addf("%s: the trigger's via %v does not end at the delivery's rule", name, via)
	}
	rule, ok := tpl.Resources[h.Delivery.Rule]
	if !ok || rule.Type != "AWS::Events::Rule" {
		p.addf("%s: no AWS::Events::Rule of that name", name)
		return
	}
	pattern := map[string]any{}
	for k, values := range asMap(rule.Properties["EventPattern"]) {
		var resolved []any
		for _, v := range asList(values) {
			resolved = append(resolved, resolve(tpl, v))
		}
		pattern[k] = resolved
	}
	p.want(name+" pattern (parameters at their defaults)", []any{pattern}, wantFilters(h.Delivery.Pattern))
	var target map[string]any
	for _, t := range statements(rule.Properties["Targets"]) {
		if reflect.DeepEqual(t["Arn"], getAtt(h.Trigger.Source, "Arn")) {
			target = t
		}
	}
	if target == nil {
		p.addf("%s: no target is %s", name, h.Trigger.Source)
		return
	}
	p.want(name+" delivery retries", dig(target, "RetryPolicy", "MaximumRetryAttempts"), h.Delivery.Retries.Attempts)
	p.want(name+" delivery max age", dig(target, "RetryPolicy", "MaximumEventAgeInSeconds"), h.Delivery.Retries.MaxAgeSeconds)
	p.want(name+" DLQ", dig(target, "DeadLetterConfig", "Arn"), getAtt(h.Delivery.Failure.Destination, "Arn"))
}

func checkAPIHop(p *problems, h flowHop, f map[string]any) {
	name := "hop " + h.Name
	var apiEvents []string
	for id, ev := range asMap(f["Events"]) {
		if dig(ev, "Type") == "Api" {
			apiEvents = append(apiEvents, id)
		}
	}
	slices.Sort(apiEvents)
	want := slices.Sorted(slices.Values(h.Trigger.Events))
	p.want(name+" API events", apiEvents, want)
	for i := range h.Trigger.Events {
		props := event(p, h, f, i, "Api")
		p.want(name+" API", props["RestApiId"], ref(h.Trigger.Source))
	}
	p.want(name+" batch size", h.Batch.Size, 1)
	p.want(name+" retries", h.Retries.Attempts, 0)
	p.want(name+" failure destination (the caller gets the error)", h.Failure.Destination, "")
	p.want(name+" partial batch response", h.PartialBatchResponse, false)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// hopsBlock is where statemachine-free/README.md shows the hop tables.
var hopsBlock = docblock.Block{
	Begin: "<!-- hops:begin (rendered from flow.yaml by go test ./test/template -run TestFlowReadme -update) -->\n",
	End:   "<!-- hops:end -->",
}

// TestFlowReadme keeps the hop tables of statemachine-free/README.md rendered from flow.yaml, so
// the page a person reads cannot drift from the file the test holds to the template.
func TestFlowReadme(t *testing.T) {
	t.Parallel()
	fl := loadFlow(t)
	readme, err := os.ReadFile(flowReadmePath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := hopsBlock.Replace(string(readme), renderHops(fl))
	if err != nil {
		t.Fatalf("%s: %v", flowReadmePath, err)
	}
	if want == string(readme) {
		return
	}
	if *update {
		if err := os.WriteFile(flowReadmePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: hop tables differ from flow.yaml; run go test -run TestFlowReadme -update", flowReadmePath)
}

func renderHops(fl *flow) string {
	var b strings.Builder
	for i, h := range fl.Hops {
		fmt.Fprintf(&b, "\n### %d. %s — `%s`\n\n", i+1, h.Name, h.Function)
		b.WriteString("| | |\n|---|---|\n")
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "| %s | %s |\n", k, strings.ReplaceAll(v, "|", `\|`))
			}
		}
		trigger := fmt.Sprintf("%s from `%s`", h.Trigger.Kind, h.Trigger.Source)
		if len(h.Trigger.Events) > 0 {
			trigger += fmt.Sprintf(" (SAM event%s %s)", plural(len(h.Trigger.Events)), codeList(h.Trigger.Events))
		}
		if h.Trigger.StartingPosition != "" {
			trigger += ", starting at " + h.Trigger.StartingPosition
		}
		if len(h.Trigger.Via) > 0 {
			chain := slices.Concat(h.Trigger.Via, []string{h.Trigger.Source})
			trigger += ", fed " + strings.ReplaceAll(codeList(chain), ", ", " → ")
		}
		if h.Follows != "" {
			trigger += " (a branch after hop " + h.Follows + ")"
		}
		row("trigger", trigger)
		var batch []string
		switch {
		case h.Batch.Size == 1:
			batch = append(batch, "one at a time")
		case h.Batch.Size > 1:
			batch = append(batch, fmt.Sprintf("up to %d records", h.Batch.Size))
		}
		if h.Batch.MaxMiB > 0 {
			batch = append(batch, fmt.Sprintf("up to %d MiB%s", h.Batch.MaxMiB, param(h.Batch.MaxMiBParameter)))
		}
		if h.Batch.WindowSeconds > 0 {
			batch = append(batch, fmt.Sprintf("window %d s%s", h.Batch.WindowSeconds, param(h.Batch.WindowParameter)))
		}
		row("batch", strings.Join(batch, ", "))
		if h.Filter != nil {
			f, _ := json.Marshal(h.Filter)
			row("filter", "`"+string(f)+"`")
		}
		if d := h.Delivery; d != nil {
			f, _ := json.Marshal(d.Pattern)
			row("delivered by", fmt.Sprintf("rule `%s`, pattern `%s`; retries %s; then `%s`", d.Rule, f, renderRetries(d.Retries), d.Failure.Destination))
		}
		row("retries", renderRetries(h.Retries))
		failure := ""
		if h.Failure.Destination != "" {
			failure = "`" + h.Failure.Destination + "`"
			if h.Failure.Prefix != "" {
				failure += " `" + h.Failure.Prefix + "`"
			}
		}
		if h.Failure.Note != "" {
			failure = strings.TrimPrefix(failure+" — "+h.Failure.Note, " — ")
		}
		row("on failure", failure)
		row("partial batch response", map[bool]string{true: "yes", false: "no"}[h.PartialBatchResponse])
		row("input", h.Input)
		row("output", strings.Join(h.Output, ", "))
		row("sends to", codeList(h.SendsTo))
		row("reads", codeList(h.Reads))
		if d := h.DeliveredTo; d != nil {
			row("delivered to", fmt.Sprintf("`%s` `%s` (by Firehose)", d.Destination, d.Prefix))
		}
	}
	b.WriteString("\n")
	return b.String()
}

func renderRetries(r flowRetries) string {
	parts := []string{"none"}
	if r.Attempts > 0 || r.AttemptsParameter != "" {
		parts[0] = fmt.Sprintf("%d attempt%s%s", r.Attempts, plural(r.Attempts), param(r.AttemptsParameter))
	}
	if r.Bisect {
		parts = append(parts, "bisect on error")
	}
	if r.MaxAgeSeconds > 0 {
		parts = append(parts, fmt.Sprintf("max age %d s", r.MaxAgeSeconds))
	}
	s := strings.Join(parts, ", ")
	if r.Note != "" {
		s += " — " + r.Note
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func param(name string) string {
	if name == "" {
		return ""
	}
	return " (parameter `" + name + "`)"
}

func codeList(ids []string) string {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "`" + id + "`"
	}
	return strings.Join(quoted, ", ")
}
