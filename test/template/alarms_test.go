package template

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

const runbookPath = "docs/operations.md"

// runbookHeading is how docs/operations.md names an alarm: a level-3 heading that is the
// alarm's logical ID in code.
var runbookHeading = regexp.MustCompile("(?m)^### `([A-Za-z0-9]+)`\\s*$")

// loadRunbook returns the logical IDs docs/operations.md has an entry for.
func loadRunbook(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range runbookHeading.FindAllStringSubmatch(string(b), -1) {
		ids[m[1]] = true
	}
	return ids
}

func TestAlarmsCoverTheFlow(t *testing.T) {
	t.Parallel()
	tpl, runbook := loadTemplate(t), loadRunbook(t)
	if len(tpl.OfType("AWS::CloudWatch::Alarm")) == 0 {
		t.Fatal("the template has no alarm")
	}
	for _, p := range checkAlarms(tpl, runbook) {
		t.Error(p)
	}
}

// TestAlarmsCoverTheDeployedStack checks the stack as CloudFormation creates it: after the SAM
// transform every function is an AWS::Lambda::Function and every failure destination SAM wires
// (event source mappings, event invoke configs) is in the resources, so none escapes the alarms.
func TestAlarmsCoverTheDeployedStack(t *testing.T) {
	t.Parallel()
	d, runbook := transformed(t, loadTemplate(t)), loadRunbook(t)
	if n := len(d.OfType("AWS::Lambda::Function")); n == 0 {
		t.Fatal("the transformed template has no AWS::Lambda::Function")
	}
	if len(deadLetterQueues(d)) < 3 {
		t.Errorf("the transformed template sends failures to %v, want the three DLQs", deadLetterQueues(d))
	}
	for _, p := range checkAlarms(d, runbook) {
		t.Error(p)
	}
	delete(d.Resources, "EventStorerFunctionThrottles")
	if got := checkAlarms(d, runbook); !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, "EventStorerFunction: no alarm on Throttles") }) {
		t.Errorf("an unwatched function of the deployed stack passed: %v", got)
	}
}

func TestAlarmChecksCatchBreakage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*samtemplate.Template, map[string]bool)
	}{
		{"DLQ alarm dropped", func(tp *samtemplate.Template, _ map[string]bool) {
			delete(tp.Resources, "EmitterDLQDepth")
		}},
		{"new DLQ without an alarm", func(tp *samtemplate.Template, _ map[string]bool) {
			tp.Resources["ExtraDLQ"] = samtemplate.Resource{Type: "AWS::SQS::Queue", Properties: map[string]any{}}
			tp.Resources["ExtraQueue"] = samtemplate.Resource{Type: "AWS::SQS::Queue", Properties: map[string]any{
				"RedrivePolicy": map[string]any{"deadLetterTargetArn": getAtt("ExtraDLQ", "Arn")},
			}}
		}},
		{"function throttles unwatched", func(tp *samtemplate.Template, _ map[string]bool) {
			delete(tp.Resources, "RecordsApiFunctionThrottles")
		}},
		{"alarm tells nobody when it clears", func(tp *samtemplate.Template, _ map[string]bool) {
			delete(tp.Resources["IngestDLQDepth"].Properties, "OKActions")
		}},
		{"alarm notifies something else", func(tp *samtemplate.Template, _ map[string]bool) {
			tp.Resources["IngestDLQDepth"].Properties["AlarmActions"] = []any{ref("EventBus")}
		}},
		{"DLQ alarm waits for two messages", func(tp *samtemplate.Template, _ map[string]bool) {
			tp.Resources["ResponderDLQDepth"].Properties["Threshold"] = 1
		}},
		{"alarm without a runbook entry", func(_ *samtemplate.Template, rb map[string]bool) {
			delete(rb, "EmitterIteratorAge")
		}},
		{"alarm without TreatMissingData", func(tp *samtemplate.Template, _ map[string]bool) {
			delete(tp.Resources["EmitterIteratorAge"].Properties, "TreatMissingData")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl, rb := loadTemplate(t), loadRunbook(t)
			mustNotice(t, "alarm check", false, func() []string { return checkAlarms(tpl, rb) }, func() { tt.mutate(tpl, rb) })
		})
	}
}

// checkAlarms: every dead-letter queue alarms on its first message, every function on its
// errors and throttles; every alarm notifies an SNS topic of the template both ways, says what
// missing data means, and has an entry in the runbook.
func checkAlarms(tpl *samtemplate.Template, runbook map[string]bool) []string {
	var p problems
	type watch struct{ metric, dimension string }
	watched := map[watch]map[string]any{}
	for _, id := range tpl.OfType("AWS::CloudWatch::Alarm") {
		a := tpl.Resources[id].Properties
		for _, key := range []string{"AlarmActions", "OKActions"} {
			if !notifiesTopic(tpl, a[key]) {
				p.addf("alarm %s: %s %s does not name an SNS topic of the template", id, key, show(a[key]))
			}
		}
		if a["TreatMissingData"] == nil {
			p.addf("alarm %s: no TreatMissingData", id)
		}
		if !runbook[id] {
			p.addf("alarm %s: no entry in %s", id, runbookPath)
		}
		for _, d := range asList(a["Dimensions"]) {
			watched[watch{show(a["MetricName"]), show(dig(d, "Value"))}] = a
		}
	}
	for _, q := range deadLetterQueues(tpl) {
		a := watched[watch{show("ApproximateNumberOfMessagesVisible"), show(getAtt(q, "QueueName"))}]
		if a == nil {
			p.addf("dead-letter queue %s: no alarm on ApproximateNumberOfMessagesVisible", q)
			continue
		}
		if n, ok := number(tpl, a["Threshold"]); !ok || n != 0 || a["ComparisonOperator"] != "GreaterThanThreshold" {
			p.addf("dead-letter queue %s: alarm is %s %s, want GreaterThanThreshold 0", q, show(a["ComparisonOperator"]), show(a["Threshold"]))
		}
	}
	// Before the transform the functions are SAM's; after it, Lambda's.
	for _, fn := range append(tpl.OfType("AWS::Serverless::Function"), tpl.OfType("AWS::Lambda::Function")...) {
		for _, m := range []string{"Errors", "Throttles"} {
			if watched[watch{show(m), show(ref(fn))}] == nil {
				p.addf("function %s: no alarm on %s", fn, m)
			}
		}
	}
	return p
}

// notifiesTopic: actions is a non-empty list of Refs to SNS topics of the template.
func notifiesTopic(tpl *samtemplate.Template, actions any) bool {
	list := asList(actions)
	return len(list) > 0 && !slices.ContainsFunc(list, func(a any) bool {
		id, _ := dig(a, "Ref").(string)
		return tpl.Resources[id].Type != "AWS::SNS::Topic"
	})
}

// deadLetterQueues are the template's queues something sends its failures to: a redrive
// policy, an event source mapping's on-failure destination, or a dead-letter config.
func deadLetterQueues(tpl *samtemplate.Template) []string {
	queues := tpl.OfType("AWS::SQS::Queue")
	var dlqs []string
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		switch x := v.(type) {
		case map[string]any:
			for _, q := range queues {
				if show(x) == show(getAtt(q, "Arn")) && slices.ContainsFunc(path, isFailureKey) && !slices.Contains(dlqs, q) {
					dlqs = append(dlqs, q)
				}
			}
			for k, e := range x {
				walk(e, append(path, k))
			}
		case []any:
			for _, e := range x {
				walk(e, path)
			}
		}
	}
	for _, r := range tpl.Resources {
		walk(r.Properties, nil)
	}
	slices.Sort(dlqs)
	return dlqs
}

func isFailureKey(k string) bool {
	return k == "RedrivePolicy" || k == "OnFailure" || strings.HasPrefix(k, "DeadLetter")
}
