package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

const templatePath = "template.yaml"

// functionIDs are the functions the design names; the template must have exactly these.
var functionIDs = []string{
	"ChangeTransformerFunction",
	"EventEmitterFunction",
	"EventResponderFunction",
	"EventStorerFunction",
	"RecordsApiFunction",
	"TransformerFunction",
}

// TestCfnLint runs cfn-lint, informational rules included: the template must draw no remark at
// all, so that a new remark is noticed rather than lost among old ones.
func TestCfnLint(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cfn-lint is not on PATH; CI must run it (pip install cfn-lint)")
		}
		t.Skip("cfn-lint is not on PATH")
	}
	cmd := exec.CommandContext(t.Context(), "cfn-lint", "--include-checks", "I", "--", templatePath)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("cfn-lint %s: %v\n%s", templatePath, err, out)
	}
}

// templateCheck is one rule of the design; it returns what in the template breaks it.
type templateCheck func(*samtemplate.Template) []string

var templateChecks = map[string]templateCheck{
	"functions":          checkFunctions,
	"log groups":         checkLogGroups,
	"environment":        checkEnvironment,
	"policies":           checkPolicies,
	"no IAM wildcard":    checkNoWildcardResources,
	"ingest queue":       checkIngestQueue,
	"queues":             checkQueues,
	"trigger visibility": checkTriggerVisibility,
	"lake bucket":        checkLakeBucket,
	"tables":             checkTables,
	"delivery stream":    checkDeliveryStream,
	"storer mapping":     checkStorerMapping,
	"emitter mapping":    checkEmitterMapping,
	"responder":          checkResponder,
	"api":                checkAPI,
	"api account":        checkApiGatewayAccount,
	"depends on":         checkDependsOn,
	"layer":              checkLayer,
	"parameters":         checkParameters,
	"outputs":            checkOutputs,
	"change archive":     checkChangeArchive,
	"athena tables":      checkAthenaTables,
}

func TestTemplateKeepsTheDesign(t *testing.T) {
	t.Parallel()
	runChecks(t, templateChecks)
}

// runChecks runs each of checks on the template as a subtest named for it; every problem a
// check reports fails that subtest.
func runChecks(t *testing.T, checks map[string]templateCheck) {
	tpl := loadTemplate(t)
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			for _, p := range check(tpl) {
				t.Error(p)
			}
		})
	}
}

// mustNotice runs check, then mutate, then check again, and fails the test when the check
// reports no more problems after the mutation than before: a check that passes whatever the
// template says would be worse than none. With quiet, the mutation is one the check must let
// through, and any change in what it reports fails the test.
func mustNotice(t *testing.T, what string, quiet bool, check func() []string, mutate func()) {
	t.Helper()
	before := check()
	mutate()
	after := check()
	switch {
	case quiet && len(after) != len(before):
		t.Errorf("%s reports an allowed change; before %q, after %q", what, before, after)
	case !quiet && len(after) <= len(before):
		t.Errorf("%s did not notice; problems before %q, after %q", what, before, after)
	}
}

// breakCheck loads the template and has the check of checks named name notice mutate (see
// mustNotice).
func breakCheck(t *testing.T, checks map[string]templateCheck, name string, quiet bool, mutate func(*samtemplate.Template)) {
	t.Helper()
	tpl := loadTemplate(t)
	check, ok := checks[name]
	if !ok {
		t.Fatalf("no check %q", name)
	}
	mustNotice(t, fmt.Sprintf("check %q", name), quiet, func() []string { return check(tpl) }, func() { mutate(tpl) })
}

// TestTemplateChecksCatchBreakage breaks the template in the ways that matter and expects the
// checks to notice: a check that passes whatever the template says would be worse than none.
func TestTemplateChecksCatchBreakage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		check  string
		mutate func(*samtemplate.Template)
	}{
		{"tracing passed through", "functions", func(tp *samtemplate.Template) {
			tp.Globals["Function"]["Tracing"] = "PassThrough"
		}},
		{"x86 function", "functions", func(tp *samtemplate.Template) {
			tp.Resources["EventStorerFunction"].Properties["Architectures"] = []any{"x86_64"}
		}},
		{"built by SAM's Go builder", "functions", func(tp *samtemplate.Template) {
			tp.Resources["TransformerFunction"].Metadata["BuildMethod"] = "go1.x"
		}},
		{"layer built for the host's arch", "layer", func(tp *samtemplate.Template) {
			delete(tp.Resources["ContractsLayer"].Metadata, "BuildArchitecture")
		}},
		{"log group dropped", "log groups", func(tp *samtemplate.Template) {
			delete(tp.Resources, "EventEmitterFunctionLogGroup")
		}},
		{"queue URL missing", "environment", func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["TransformerFunction"].Properties, "Environment", "Variables").(map[string]any), "QUEUE_URL")
		}},
		{"storer may write anywhere", "no IAM wildcard", func(tp *samtemplate.Template) {
			stmt := dig(tp.Resources["EventStorerFunctionRole"].Properties, "Policies", 0, "PolicyDocument", "Statement", 1).(map[string]any)
			stmt["Resource"] = "*"
		}},
		{"full-access managed policy", "policies", func(tp *samtemplate.Template) {
			tp.Resources["RecordsApiFunction"].Properties["Policies"] = []any{"AmazonDynamoDBFullAccess"}
		}},
		{"function on SAM's role", "policies", func(tp *samtemplate.Template) {
			delete(tp.Resources["EventEmitterFunction"].Properties, "Role")
		}},
		{"visibility shorter than 6x the storer", "trigger visibility", func(tp *samtemplate.Template) {
			tp.Resources["IngestQueue"].Properties["VisibilityTimeout"] = 60
		}},
		{"responder's timeout raised past its queue's visibility", "trigger visibility", func(tp *samtemplate.Template) {
			tp.Resources["EventResponderFunction"].Properties["Timeout"] = 60
		}},
		{"one dedup scope for the whole queue", "ingest queue", func(tp *samtemplate.Template) {
			tp.Resources["IngestQueue"].Properties["DeduplicationScope"] = "queue"
		}},
		{"DLQ without encryption", "queues", func(tp *samtemplate.Template) {
			delete(tp.Resources["EmitterDLQ"].Properties, "SqsManagedSseEnabled")
		}},
		{"responder queue keeps messages as long as its DLQ", "queues", func(tp *samtemplate.Template) {
			tp.Resources["ResponderQueue"].Properties["MessageRetentionPeriod"] = 1209600
		}},
		{"queue policy allows plain HTTP", "queues", func(tp *samtemplate.Template) {
			delete(tp.Resources, "ResponderDLQPolicy")
		}},
		{"bucket policy allows plain HTTP", "lake bucket", func(tp *samtemplate.Template) {
			delete(tp.Resources, "LakeBucketPolicy")
		}},
		{"errors kept forever", "lake bucket", func(tp *samtemplate.Template) {
			delete(tp.Resources["LakeBucket"].Properties, "LifecycleConfiguration")
		}},
		{"no point-in-time recovery", "tables", func(tp *samtemplate.Template) {
			delete(tp.Resources["ProjectionTable"].Properties, "PointInTimeRecoverySpecification")
		}},
		{"stream without the new image", "tables", func(tp *samtemplate.Template) {
			tp.Resources["EventStoreTable"].Properties["StreamSpecification"] = map[string]any{"StreamViewType": "KEYS_ONLY"}
		}},
		{"lake without compression", "delivery stream", func(tp *samtemplate.Template) {
			dig(tp.Resources["IngestDeliveryStream"].Properties, "ExtendedS3DestinationConfiguration").(map[string]any)["CompressionFormat"] = "UNCOMPRESSED"
		}},
		{"whole SQS batch retried on one failure", "storer mapping", func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["EventStorerFunction"].Properties, "Events", "IngestQueue", "Properties").(map[string]any), "FunctionResponseTypes")
		}},
		{"stream mapping emits on MODIFY", "emitter mapping", func(tp *samtemplate.Template) {
			f := dig(tp.Resources["EventEmitterFunction"].Properties, "Events", "EventStoreStream", "Properties", "FilterCriteria", "Filters", 0).(map[string]any)
			f["Pattern"] = `{"eventName":["INSERT","MODIFY"]}`
		}},
		{"stream mapping retries forever", "emitter mapping", func(tp *samtemplate.Template) {
			dig(tp.Resources["EventEmitterFunction"].Properties, "Events", "EventStoreStream", "Properties").(map[string]any)["MaximumRetryAttempts"] = -1
		}},
		{"stream starts at LATEST", "emitter mapping", func(tp *samtemplate.Template) {
			dig(tp.Resources["EventEmitterFunction"].Properties, "Events", "EventStoreStream", "Properties").(map[string]any)["StartingPosition"] = "LATEST"
		}},
		{"rule without DLQ", "responder", func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["DataInsertedRule"].Properties, "Targets", 0).(map[string]any), "DeadLetterConfig")
		}},
		{"whole responder batch retried on one failure", "responder", func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["EventResponderFunction"].Properties, "Events", "DataInserted", "Properties").(map[string]any), "FunctionResponseTypes")
		}},
		{"responder queue open to other rules", "responder", func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["ResponderQueuePolicy"].Properties, "PolicyDocument", "Statement", 1).(map[string]any), "Condition")
		}},
		{"responder queue policy allows plain HTTP", "queues", func(tp *samtemplate.Template) {
			delete(tp.Resources, "ResponderQueuePolicy")
		}},
		{"API auth through Fn::If, which SAM drops", "api", func(tp *samtemplate.Template) {
			dig(tp.Resources["RecordsApi"].Properties, "Auth").(map[string]any)["DefaultAuthorizer"] = map[string]any{
				"Fn::If": []any{"ApiAuthIAM", "AWS_IAM", map[string]any{"Ref": "AWS::NoValue"}},
			}
		}},
		{"API without tracing", "api", func(tp *samtemplate.Template) {
			tp.Resources["RecordsApi"].Properties["TracingEnabled"] = false
		}},
		{"layer for x86", "layer", func(tp *samtemplate.Template) {
			tp.Resources["ContractsLayer"].Properties["CompatibleArchitectures"] = []any{"x86_64"}
		}},
		{"parameter without default", "parameters", func(tp *samtemplate.Template) {
			delete(tp.Parameters["LogRetentionInDays"], "Default")
		}},
		{"no API URL output", "outputs", func(tp *samtemplate.Template) {
			delete(tp.Outputs, "RecordsApiUrl")
		}},
		{"table streams to no Kinesis stream", "change archive", func(tp *samtemplate.Template) {
			delete(tp.Resources["EventStoreTable"].Properties, "KinesisStreamSpecification")
		}},
		{"change stream unencrypted", "change archive", func(tp *samtemplate.Template) {
			delete(tp.Resources["ChangeStream"].Properties, "StreamEncryption")
		}},
		{"changes processed by the ingest transformer", "change archive", func(tp *samtemplate.Template) {
			p := dig(tp.Resources["ChangeDeliveryStream"].Properties, "ExtendedS3DestinationConfiguration", "ProcessingConfiguration", "Processors", 0, "Parameters", 0).(map[string]any)
			p["ParameterValue"] = getAtt("TransformerFunction", "Arn")
		}},
		{"change errors outside errors/", "change archive", func(tp *samtemplate.Template) {
			dig(tp.Resources["ChangeDeliveryStream"].Properties, "ExtendedS3DestinationConfiguration").(map[string]any)["ErrorOutputPrefix"] = "failed/"
		}},
		{"change role reads every stream", "change archive", func(tp *samtemplate.Template) {
			stmt := dig(tp.Resources["ChangeDeliveryStreamRole"].Properties, "Policies", 0, "PolicyDocument", "Statement", 0).(map[string]any)
			stmt["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/*"}
		}},
		{"change transformer given a policy", "change archive", func(tp *samtemplate.Template) {
			tp.Resources["ChangeTransformerFunction"].Properties["Policies"] = []any{"AmazonS3ReadOnlyAccess"}
		}},
		{"account setting always made", "api account", func(tp *samtemplate.Template) {
			edit(tp, "ApiGatewayAccount", func(r *samtemplate.Resource) { r.Condition = "" })
		}},
		{"account role deleted with the stack", "api account", func(tp *samtemplate.Template) {
			edit(tp, "ApiGatewayCloudWatchRole", func(r *samtemplate.Resource) { r.DeletionPolicy = "" })
		}},
		{"account setting not made by default", "api account", func(tp *samtemplate.Template) {
			tp.Parameters["CreateApiGatewayAccount"]["Default"] = "false"
		}},
		{"API waits for nothing", "api account", func(tp *samtemplate.Template) {
			edit(tp, "ApiGatewayAccountReady", func(r *samtemplate.Resource) { r.Metadata = nil })
		}},
		{"API depends on the conditional setting", "depends on", func(tp *samtemplate.Template) {
			edit(tp, "RecordsApi", func(r *samtemplate.Resource) { r.DependsOn = "ApiGatewayAccount" })
		}},
		{"records table without partition projection", "athena tables", func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["LakeRecordsTable"].Properties, "TableInput", "Parameters").(map[string]any), "projection.enabled")
		}},
		{"changes table over records/", "athena tables", func(tp *samtemplate.Template) {
			dig(tp.Resources["LakeChangesTable"].Properties, "TableInput", "StorageDescriptor").(map[string]any)["Location"] = map[string]any{"Fn::Sub": "s3://${LakeBucket}/records/"}
		}},
		{"changes table loses a column", "athena tables", func(tp *samtemplate.Template) {
			sd := dig(tp.Resources["LakeChangesTable"].Properties, "TableInput", "StorageDescriptor").(map[string]any)
			sd["Columns"] = sd["Columns"].([]any)[1:]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			breakCheck(t, templateChecks, tt.check, false, tt.mutate)
		})
	}
}

func loadTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// problems collects what a check finds, in the order found.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// want records a problem when got (at what) is not want.
func (p *problems) want(what string, got, want any) {
	if !reflect.DeepEqual(got, want) {
		p.addf("%s = %s, want %s", what, show(got), show(want))
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// dig walks maps (string keys) and lists (int indexes); nil when the path does not exist.
func dig(v any, path ...any) any {
	for _, step := range path {
		switch k := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func ref(id string) any { return map[string]any{"Ref": id} }

// edit changes a resource of the template, which Resources holds by value.
func edit(tp *samtemplate.Template, id string, change func(*samtemplate.Resource)) {
	r := tp.Resources[id]
	change(&r)
	tp.Resources[id] = r
}

func getAtt(id, attr string) any { return map[string]any{"Fn::GetAtt": []any{id, attr}} }

// resolve replaces a Ref to a template parameter by the parameter's default.
func resolve(tpl *samtemplate.Template, v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if name, ok := m["Ref"].(string); ok {
			if p, ok := tpl.Parameters[name]; ok {
				return p["Default"]
			}
		}
	}
	return v
}

// number reads an integer property, resolving a parameter reference to its default.
func number(tpl *samtemplate.Template, v any) (int, bool) {
	switch n := resolve(tpl, v).(type) {
	case int:
		return n, true
	case string:
		var i int
		_, err := fmt.Sscan(n, &i)
		return i, err == nil
	}
	return 0, false
}

func function(tpl *samtemplate.Template, id string) map[string]any {
	f, err := tpl.Function(id)
	if err != nil {
		return map[string]any{}
	}
	return f
}

func checkFunctions(tpl *samtemplate.Template) []string {
	var p problems
	p.want("AWS::Serverless::Function resources", tpl.OfType("AWS::Serverless::Function"), functionIDs)
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		f := function(tpl, id)
		p.want(id+" Runtime", f["Runtime"], "provided.al2023")
		p.want(id+" Architectures", f["Architectures"], []any{"arm64"})
		p.want(id+" Handler", f["Handler"], "bootstrap")
		p.want(id+" Tracing", f["Tracing"], "Active")
		p.want(id+" LoggingConfig.LogFormat", dig(f, "LoggingConfig", "LogFormat"), "JSON")
		// With its own LogGroup, `sam logs --stack-name` would no longer find the function's logs.
		p.want(id+" LoggingConfig.LogGroup", dig(f, "LoggingConfig", "LogGroup"), nil)
		p.want(id+" CodeUri", f["CodeUri"], ".")
		p.want(id+" Metadata.BuildMethod", tpl.Resources[id].Metadata["BuildMethod"], "makefile")
		if timeout, ok := number(tpl, f["Timeout"]); !ok || timeout < 1 || timeout > 900 {
			p.addf("%s Timeout = %v, want 1..900 seconds", id, f["Timeout"])
		}
	}
	return p
}

func checkLogGroups(tpl *samtemplate.Template) []string {
	var p problems
	named := map[string]int{}
	for _, id := range tpl.OfType("AWS::Logs::LogGroup") {
		props := tpl.Resources[id].Properties
		if props["RetentionInDays"] == nil {
			p.addf("log group %s keeps logs forever: no RetentionInDays", id)
		}
		if sub, ok := dig(props, "LogGroupName", "Fn::Sub").(string); ok {
			if fn, ok := strings.CutPrefix(sub, "/aws/lambda/${"); ok {
				fn = strings.TrimSuffix(fn, "}")
				named[fn]++
				p.want(id+" RetentionInDays", props["RetentionInDays"], ref("LogRetentionInDays"))
			}
		}
	}
	for _, fn := range tpl.OfType("AWS::Serverless::Function") {
		if named[fn] != 1 {
			p.addf("%d log groups named /aws/lambda/${%s}, want 1", named[fn], fn)
		}
	}
	return p
}

// checkEnvironment holds the environment variables the handlers read at start-up (brief: "the
// functions fail fast when one is missing") to the resources they must point at.
func checkEnvironment(tpl *samtemplate.Template) []string {
	want := map[string]map[string]any{
		"TransformerFunction":    {"QUEUE_URL": ref("IngestQueue"), "CONTRACTS_DIR": "/opt/contracts", "MAX_RECORDS": "2500"},
		"EventStorerFunction":    {"TABLE_NAME": ref("EventStoreTable"), "CONFLICT_QUEUE_URL": ref("ConflictQueue")},
		"EventEmitterFunction":   {"EVENT_BUS_NAME": ref("EventBus"), "EVENT_SOURCE": ref("EventSource"), "TABLE_ARN": getAtt("EventStoreTable", "Arn")},
		"EventResponderFunction": {"PROJECTION_TABLE": ref("ProjectionTable")},
		"RecordsApiFunction":     {"PROJECTION_TABLE": ref("ProjectionTable")},
	}
	var p problems
	for id, vars := range want {
		p.want(id+" Environment.Variables", dig(function(tpl, id), "Environment", "Variables"), vars)
	}
	p.want("EventSource default", tpl.Parameters["EventSource"]["Default"], "stream-to-events.ingest")
	return p
}

// checkPolicies: each function runs with a role of its own from the template and names no
// policies, which SAM would attach to a role of its making; what each role grants is checked on
// the transformed template (deployed_test.go).
func checkPolicies(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		f := function(tpl, id)
		p.want(id+" Role", f["Role"], getAtt(id+"Role", "Arn"))
		p.want(id+" Policies", f["Policies"], nil)
		if tpl.Resources[id+"Role"].Type != "AWS::IAM::Role" {
			p.addf("no AWS::IAM::Role %sRole for %s", id, id)
		}
	}

	role := tpl.Resources["IngestDeliveryStreamRole"].Properties
	p.want("IngestDeliveryStreamRole trust", dig(role, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"), "firehose.amazonaws.com")
	for _, stmt := range statements(dig(role, "Policies", 0, "PolicyDocument", "Statement")) {
		targets := show(stmt["Resource"])
		if !strings.Contains(targets, "LakeBucket") && !strings.Contains(targets, `"TransformerFunction"`) &&
			!strings.Contains(targets, "${IngestDeliveryStreamLogStream}") {
			p.addf("IngestDeliveryStreamRole grants %s on %s, beyond the lake, the transformer and its log stream", show(stmt["Action"]), targets)
		}
	}
	return p
}

// checkNoWildcardResources: no statement anywhere in the template grants on Resource "*",
// except for X-Ray, whose API has no resource to scope to.
func checkNoWildcardResources(tpl *samtemplate.Template) []string {
	var p problems
	for id, r := range tpl.Resources {
		var stmts []map[string]any
		switch r.Type {
		case "AWS::Serverless::Function":
			for _, pol := range asList(r.Properties["Policies"]) {
				stmts = append(stmts, statements(dig(pol, "Statement"))...)
			}
		case "AWS::IAM::Role":
			for _, pol := range asList(r.Properties["Policies"]) {
				stmts = append(stmts, statements(dig(pol, "PolicyDocument", "Statement"))...)
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy":
			stmts = statements(dig(r.Properties, "PolicyDocument", "Statement"))
		}
		for _, stmt := range stmts {
			resources := asList(stmt["Resource"])
			if stmt["Resource"] != nil && len(resources) == 0 {
				resources = []any{stmt["Resource"]}
			}
			if !slices.Contains(resources, any("*")) || stmt["Effect"] == "Deny" {
				continue
			}
			actions := asList(stmt["Action"])
			if len(actions) == 0 {
				actions = []any{stmt["Action"]}
			}
			for _, a := range actions {
				if s, _ := a.(string); !strings.HasPrefix(s, "xray:") {
					p.addf("%s grants %v on Resource \"*\"", id, a)
				}
			}
		}
	}
	return p
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func statements(v any) []map[string]any {
	var out []map[string]any
	for _, s := range asList(v) {
		if m, ok := s.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func checkIngestQueue(tpl *samtemplate.Template) []string {
	var p problems
	q := tpl.Resources["IngestQueue"].Properties
	p.want("IngestQueue FifoQueue", q["FifoQueue"], true)
	p.want("IngestQueue ContentBasedDeduplication", q["ContentBasedDeduplication"], false)
	p.want("IngestQueue DeduplicationScope", q["DeduplicationScope"], "messageGroup")
	p.want("IngestQueue FifoThroughputLimit", q["FifoThroughputLimit"], "perMessageGroupId")
	p.want("IngestQueue RedrivePolicy", q["RedrivePolicy"], map[string]any{
		"deadLetterTargetArn": getAtt("IngestDLQ", "Arn"),
		"maxReceiveCount":     5,
	})
	return p
}

// checkTriggerVisibility holds every queue that triggers a function to Lambda's advice: a
// VisibilityTimeout of at least six times the function's Timeout, so a batch still in work is not
// handed out again.
func checkTriggerVisibility(tpl *samtemplate.Template) []string {
	var p problems
	triggers := 0
	for _, fn := range functionIDs {
		props := function(tpl, fn)
		events, _ := props["Events"].(map[string]any)
		for name, e := range events {
			ev, _ := e.(map[string]any)
			if ev["Type"] != "SQS" {
				continue
			}
			triggers++
			arn, _ := dig(ev, "Properties", "Queue").(map[string]any)
			ga := asList(arn["Fn::GetAtt"])
			if len(ga) != 2 {
				p.addf("%s.Events.%s: Queue is not a queue of the stack (!GetAtt Queue.Arn)", fn, name)
				continue
			}
			queue, _ := ga[0].(string)
			timeout, _ := number(tpl, props["Timeout"])
			visibility, _ := number(tpl, tpl.Resources[queue].Properties["VisibilityTimeout"])
			if timeout == 0 || visibility < 6*timeout {
				p.addf("%s VisibilityTimeout = %d s, want >= 6 x %s Timeout (%d s)", queue, visibility, fn, timeout)
			}
		}
	}
	if triggers == 0 {
		p.addf("no function has an SQS trigger")
	}
	return p
}

func checkQueues(tpl *samtemplate.Template) []string {
	var p problems
	queues := tpl.OfType("AWS::SQS::Queue")
	p.want("queues", queues, []string{"ConflictQueue", "EmitterDLQ", "IngestDLQ", "IngestQueue", "ResponderDLQ", "ResponderQueue"})
	for _, id := range queues {
		q := tpl.Resources[id].Properties
		if q["SqsManagedSseEnabled"] != true && q["KmsMasterKeyId"] == nil {
			p.addf("queue %s is not encrypted at rest", id)
		}
		// FIFO for the ingest path (order per entity), and for the conflicts that go back to it;
		// EventBridge DLQs and Lambda on-failure destinations must be standard queues.
		p.want(id+" FifoQueue", q["FifoQueue"] == true, id == "IngestQueue" || id == "IngestDLQ" || id == "ConflictQueue")
		if strings.HasSuffix(id, "DLQ") || id == "ConflictQueue" {
			p.want(id+" MessageRetentionPeriod (14 days, the most SQS keeps)", q["MessageRetentionPeriod"], 1209600)
		}
		if !deniesInsecureTransport(tpl, "AWS::SQS::QueuePolicy", "Queues", ref(id), getAtt(id, "Arn")) {
			p.addf("no queue policy of %s denies requests without TLS", id)
		}
		checkDLQRetention(tpl, id, &p)
	}
	return p
}

// minDeadLetterDays is how long a dead letter must wait in its DLQ at the least, for an operator
// to find and redrive it.
const minDeadLetterDays = 7

// checkDLQRetention: a standard queue's DLQ keeps a message's first enqueue time (a FIFO DLQ
// starts it anew), so a message that waited long in its source queue expires soon after it
// moves. The source must keep messages minDeadLetterDays less than its DLQ does.
func checkDLQRetention(tpl *samtemplate.Template, id string, p *problems) {
	q := tpl.Resources[id].Properties
	redrive, _ := q["RedrivePolicy"].(map[string]any)
	target, _ := redrive["deadLetterTargetArn"].(map[string]any)
	att, _ := target["Fn::GetAtt"].([]any)
	if len(att) != 2 || q["FifoQueue"] == true {
		return
	}
	dlq, _ := att[0].(string)
	kept, ok1 := number(tpl, q["MessageRetentionPeriod"])
	dlqKept, ok2 := number(tpl, tpl.Resources[dlq].Properties["MessageRetentionPeriod"])
	if !ok1 || !ok2 || dlqKept-kept < minDeadLetterDays*86400 {
		p.addf("%s keeps messages %v s and its DLQ %s %v s: a dead letter needs at least %d days in the DLQ, which counts from the first enqueue",
			id, q["MessageRetentionPeriod"], dlq, tpl.Resources[dlq].Properties["MessageRetentionPeriod"], minDeadLetterDays)
	}
}

// deniesInsecureTransport reports whether a policy resource of type typ attached (through
// attachKey) to target has a Deny on aws:SecureTransport false covering every one of resources.
func deniesInsecureTransport(tpl *samtemplate.Template, typ, attachKey string, target any, resources ...any) bool {
	for _, id := range tpl.OfType(typ) {
		props := tpl.Resources[id].Properties
		attached := props[attachKey]
		if !reflect.DeepEqual(attached, target) && !slices.ContainsFunc(asList(attached), func(v any) bool { return reflect.DeepEqual(v, target) }) {
			continue
		}
		for _, stmt := range statements(dig(props, "PolicyDocument", "Statement")) {
			if stmt["Effect"] != "Deny" || stmt["Principal"] != "*" || dig(stmt, "Condition", "Bool", "aws:SecureTransport") != "false" {
				continue
			}
			covered := asList(stmt["Resource"])
			if covered == nil {
				covered = []any{stmt["Resource"]}
			}
			if !slices.ContainsFunc(resources, func(r any) bool {
				return !slices.ContainsFunc(covered, func(c any) bool { return reflect.DeepEqual(c, r) })
			}) {
				return true
			}
		}
	}
	return false
}

func checkLakeBucket(tpl *samtemplate.Template) []string {
	var p problems
	b := tpl.Resources["LakeBucket"].Properties
	algo := dig(b, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm")
	if algo != "AES256" && algo != "aws:kms" {
		p.addf("LakeBucket SSEAlgorithm = %v, want AES256 or aws:kms", algo)
	}
	p.want("LakeBucket PublicAccessBlockConfiguration", b["PublicAccessBlockConfiguration"], map[string]any{
		"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
	})
	p.want("LakeBucket ObjectOwnership", dig(b, "OwnershipControls", "Rules", 0, "ObjectOwnership"), "BucketOwnerEnforced")
	expires := false
	for _, rule := range statements(dig(b, "LifecycleConfiguration", "Rules")) {
		if rule["Prefix"] == "errors/" && rule["Status"] == "Enabled" && reflect.DeepEqual(rule["ExpirationInDays"], ref("ErrorRetentionDays")) {
			expires = true
		}
	}
	if !expires {
		p.addf("LakeBucket has no enabled lifecycle rule expiring errors/ after ErrorRetentionDays")
	}
	if !deniesInsecureTransport(tpl, "AWS::S3::BucketPolicy", "Bucket", ref("LakeBucket"),
		getAtt("LakeBucket", "Arn"), map[string]any{"Fn::Sub": "${LakeBucket.Arn}/*"}) {
		p.addf("no bucket policy of LakeBucket denies requests without TLS to the bucket and its objects")
	}
	return p
}

func checkTables(tpl *samtemplate.Template) []string {
	var p problems
	tables := tpl.OfType("AWS::DynamoDB::Table")
	p.want("tables", tables, []string{"EventStoreTable", "ProjectionTable"})
	key := []any{
		map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
		map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
	}
	attrs := []any{
		map[string]any{"AttributeName": "pk", "AttributeType": "S"},
		map[string]any{"AttributeName": "sk", "AttributeType": "S"},
	}
	for _, id := range tables {
		t := tpl.Resources[id].Properties
		p.want(id+" KeySchema", t["KeySchema"], key)
		p.want(id+" AttributeDefinitions", t["AttributeDefinitions"], attrs)
		p.want(id+" BillingMode", t["BillingMode"], "PAY_PER_REQUEST")
		p.want(id+" SSESpecification.SSEEnabled", dig(t, "SSESpecification", "SSEEnabled"), true)
		p.want(id+" PointInTimeRecoveryEnabled", dig(t, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"), true)
	}
	p.want("EventStoreTable StreamViewType", dig(tpl.Resources["EventStoreTable"].Properties, "StreamSpecification", "StreamViewType"), "NEW_IMAGE")
	return p
}

func checkDeliveryStream(tpl *samtemplate.Template) []string {
	var p problems
	d := tpl.Resources["IngestDeliveryStream"].Properties
	s3 := dig(d, "ExtendedS3DestinationConfiguration")
	p.want("IngestDeliveryStream DeliveryStreamType", d["DeliveryStreamType"], "DirectPut")
	p.want("IngestDeliveryStream encryption KeyType", dig(d, "DeliveryStreamEncryptionConfigurationInput", "KeyType"), "AWS_OWNED_CMK")
	p.want("IngestDeliveryStream BucketARN", dig(s3, "BucketARN"), getAtt("LakeBucket", "Arn"))
	p.want("IngestDeliveryStream RoleARN", dig(s3, "RoleARN"), getAtt("IngestDeliveryStreamRole", "Arn"))
	p.want("IngestDeliveryStream CompressionFormat", dig(s3, "CompressionFormat"), "GZIP")
	if prefix, _ := dig(s3, "Prefix").(string); !strings.HasPrefix(prefix, "records/") || !strings.Contains(prefix, "!{timestamp:") {
		p.addf("IngestDeliveryStream Prefix = %q, want records/ partitioned by date", prefix)
	}
	if prefix, _ := dig(s3, "ErrorOutputPrefix").(string); !strings.HasPrefix(prefix, "errors/!{firehose:error-output-type}/") {
		p.addf("IngestDeliveryStream ErrorOutputPrefix = %q, want errors/!{firehose:error-output-type}/…", prefix)
	}
	p.want("IngestDeliveryStream CloudWatchLoggingOptions.Enabled", dig(s3, "CloudWatchLoggingOptions", "Enabled"), true)
	p.want("IngestDeliveryStream processing enabled", dig(s3, "ProcessingConfiguration", "Enabled"), true)
	params := map[string]any{}
	for _, kv := range statements(dig(s3, "ProcessingConfiguration", "Processors", 0, "Parameters")) {
		params[fmt.Sprint(kv["ParameterName"])] = kv["ParameterValue"]
	}
	p.want("IngestDeliveryStream processor type", dig(s3, "ProcessingConfiguration", "Processors", 0, "Type"), "Lambda")
	p.want("IngestDeliveryStream processor LambdaArn", params["LambdaArn"], getAtt("TransformerFunction", "Arn"))
	for _, name := range []string{"BufferSizeInMBs", "BufferIntervalInSeconds", "NumberOfRetries"} {
		if _, ok := number(tpl, params[name]); !ok {
			p.addf("IngestDeliveryStream processor parameter %s = %v, want a number", name, params[name])
		}
	}
	return p
}

func checkStorerMapping(tpl *samtemplate.Template) []string {
	var p problems
	ev := dig(function(tpl, "EventStorerFunction"), "Events", "IngestQueue")
	p.want("EventStorerFunction Events.IngestQueue.Type", dig(ev, "Type"), "SQS")
	p.want("EventStorerFunction Events.IngestQueue", dig(ev, "Properties"), map[string]any{
		"Queue":                 getAtt("IngestQueue", "Arn"),
		"BatchSize":             10,
		"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
	})
	return p
}

func checkEmitterMapping(tpl *samtemplate.Template) []string {
	var p problems
	ev := dig(function(tpl, "EventEmitterFunction"), "Events", "EventStoreStream")
	props, _ := dig(ev, "Properties").(map[string]any)
	p.want("EventEmitterFunction Events.EventStoreStream.Type", dig(ev, "Type"), "DynamoDB")
	p.want("EventStoreStream Stream", props["Stream"], getAtt("EventStoreTable", "StreamArn"))
	p.want("EventStoreStream StartingPosition", props["StartingPosition"], "TRIM_HORIZON")
	p.want("EventStoreStream BatchSize", props["BatchSize"], 100)
	p.want("EventStoreStream BisectBatchOnFunctionError", props["BisectBatchOnFunctionError"], true)
	p.want("EventStoreStream FunctionResponseTypes", props["FunctionResponseTypes"], []any{"ReportBatchItemFailures"})
	p.want("EventStoreStream OnFailure", dig(props, "DestinationConfig", "OnFailure", "Destination"), getAtt("EmitterDLQ", "Arn"))
	if w, ok := props["MaximumBatchingWindowInSeconds"].(int); !ok || w < 1 || w > 5 {
		p.addf("EventStoreStream MaximumBatchingWindowInSeconds = %v, want a short window (1..5 s)", props["MaximumBatchingWindowInSeconds"])
	}
	if n, ok := props["MaximumRetryAttempts"].(int); !ok || n < 0 || n > 100 {
		p.addf("EventStoreStream MaximumRetryAttempts = %v, want finite", props["MaximumRetryAttempts"])
	}
	if n, ok := props["MaximumRecordAgeInSeconds"].(int); !ok || n < 60 || n > 604800 {
		p.addf("EventStoreStream MaximumRecordAgeInSeconds = %v, want finite (60..604800)", props["MaximumRecordAgeInSeconds"])
	}
	var filters []any
	for _, f := range statements(dig(props, "FilterCriteria", "Filters")) {
		var pattern any
		if err := json.Unmarshal([]byte(fmt.Sprint(f["Pattern"])), &pattern); err != nil {
			p.addf("EventStoreStream filter %q: %v", f["Pattern"], err)
		}
		filters = append(filters, pattern)
	}
	p.want("EventStoreStream filters", filters, []any{map[string]any{"eventName": []any{"INSERT"}}})
	return p
}

func checkResponder(tpl *samtemplate.Template) []string {
	var p problems
	f := function(tpl, "EventResponderFunction")
	ev := dig(f, "Events", "DataInserted")
	props, _ := dig(ev, "Properties").(map[string]any)
	p.want("EventResponderFunction Events.DataInserted.Type", dig(ev, "Type"), "SQS")
	p.want("DataInserted Queue", props["Queue"], getAtt("ResponderQueue", "Arn"))
	p.want("DataInserted FunctionResponseTypes", props["FunctionResponseTypes"], []any{"ReportBatchItemFailures"})
	p.want("ResponderQueue DLQ", dig(tpl.Resources["ResponderQueue"].Properties, "RedrivePolicy", "deadLetterTargetArn"), getAtt("ResponderDLQ", "Arn"))
	p.want("EventResponderFunction EventInvokeConfig (nothing invokes it asynchronously)", f["EventInvokeConfig"], nil)

	rule := tpl.Resources["DataInsertedRule"]
	p.want("DataInsertedRule Type", rule.Type, "AWS::Events::Rule")
	p.want("DataInsertedRule EventBusName", rule.Properties["EventBusName"], ref("EventBus"))
	p.want("DataInsertedRule EventPattern", rule.Properties["EventPattern"], map[string]any{
		"source":      []any{ref("EventSource")},
		"detail-type": []any{record.DetailType},
	})
	targets := statements(rule.Properties["Targets"])
	if len(targets) != 1 {
		p.addf("DataInsertedRule has %d targets, want ResponderQueue only", len(targets))
		return p
	}
	t := targets[0]
	p.want("DataInsertedRule target", t["Arn"], getAtt("ResponderQueue", "Arn"))
	p.want("DataInsertedRule DeadLetterConfig.Arn", dig(t, "DeadLetterConfig", "Arn"), getAtt("ResponderDLQ", "Arn"))
	for _, k := range []string{"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} {
		if _, ok := dig(t, "RetryPolicy", k).(int); !ok {
			p.addf("DataInsertedRule RetryPolicy.%s = %v, want a number", k, dig(t, "RetryPolicy", k))
		}
	}

	// EventBridge itself sends the deliveries and the dead letters: each queue must let it, for
	// this rule only.
	for _, q := range []string{"ResponderQueue", "ResponderDLQ"} {
		allowed := false
		for _, stmt := range statements(dig(tpl.Resources[q+"Policy"].Properties, "PolicyDocument", "Statement")) {
			if stmt["Effect"] == "Allow" && dig(stmt, "Principal", "Service") == "events.amazonaws.com" && stmt["Action"] == "sqs:SendMessage" &&
				reflect.DeepEqual(stmt["Resource"], getAtt(q, "Arn")) &&
				reflect.DeepEqual(dig(stmt, "Condition", "ArnEquals", "aws:SourceArn"), getAtt("DataInsertedRule", "Arn")) {
				allowed = true
			}
		}
		if !allowed {
			p.addf("%sPolicy does not let events.amazonaws.com send the DataInserted rule's messages", q)
		}
	}
	return p
}

func checkAPI(tpl *samtemplate.Template) []string {
	var p problems
	api := tpl.Resources["RecordsApi"]
	p.want("RecordsApi Type", api.Type, "AWS::Serverless::Api")
	p.want("RecordsApi StageName", api.Properties["StageName"], "v1")
	p.want("RecordsApi TracingEnabled", api.Properties["TracingEnabled"], true)
	// SAM resolves a parameter Ref in DefaultAuthorizer but drops an Fn::If there without a word,
	// leaving the API open: only a plain value or a Ref whose default is AWS_IAM will do.
	if auth := resolve(tpl, dig(api.Properties, "Auth", "DefaultAuthorizer")); auth != "AWS_IAM" {
		p.addf("RecordsApi Auth.DefaultAuthorizer resolves to %s by default, want AWS_IAM", show(auth))
	}
	if arn := dig(api.Properties, "AccessLogSetting", "DestinationArn", "Fn::GetAtt"); arn == nil ||
		tpl.Resources[fmt.Sprint(dig(arn, 0))].Type != "AWS::Logs::LogGroup" {
		p.addf("RecordsApi AccessLogSetting.DestinationArn = %s, want a log group of the template", show(dig(api.Properties, "AccessLogSetting", "DestinationArn")))
	}
	var format any
	if err := json.Unmarshal([]byte(fmt.Sprint(dig(api.Properties, "AccessLogSetting", "Format"))), &format); err != nil {
		p.addf("RecordsApi access log format is not JSON: %v", err)
	}
	for _, k := range []string{"ThrottlingRateLimit", "ThrottlingBurstLimit"} {
		if _, ok := number(tpl, dig(api.Properties, "MethodSettings", 0, k)); !ok {
			p.addf("RecordsApi MethodSettings[0].%s = %v, want a number", k, dig(api.Properties, "MethodSettings", 0, k))
		}
	}
	events := dig(function(tpl, "RecordsApiFunction"), "Events")
	for name, path := range map[string]string{"ListRecords": "/records/{type}", "GetRecord": "/records/{type}/{key}"} {
		p.want("RecordsApiFunction Events."+name, dig(events, name), map[string]any{
			"Type":       "Api",
			"Properties": map[string]any{"RestApiId": ref("RecordsApi"), "Path": path, "Method": "get"},
		})
	}
	return p
}

// checkApiGatewayAccount: the account's API Gateway CloudWatch role, shared by every REST API of
// the account and region, is set by default but not when CreateApiGatewayAccount is "false"
// (the account has one already); its role outlives the stack, so that the setting, which does
// too, never names a deleted role; and the API waits for the setting when the stack makes it.
func checkApiGatewayAccount(tpl *samtemplate.Template) []string {
	var p problems
	param := tpl.Parameters["CreateApiGatewayAccount"]
	p.want("CreateApiGatewayAccount Default", param["Default"], "true")
	p.want("CreateApiGatewayAccount AllowedValues", param["AllowedValues"], []any{"true", "false"})
	const cond = "CreatesApiGatewayAccount"
	p.want("Conditions."+cond, tpl.Conditions[cond], map[string]any{"Fn::Equals": []any{ref("CreateApiGatewayAccount"), "true"}})
	account, role := tpl.Resources["ApiGatewayAccount"], tpl.Resources["ApiGatewayCloudWatchRole"]
	p.want("ApiGatewayAccount Type", account.Type, "AWS::ApiGateway::Account")
	p.want("ApiGatewayAccount Condition", account.Condition, cond)
	p.want("ApiGatewayAccount CloudWatchRoleArn", account.Properties["CloudWatchRoleArn"], getAtt("ApiGatewayCloudWatchRole", "Arn"))
	p.want("ApiGatewayCloudWatchRole Condition", role.Condition, cond)
	p.want("ApiGatewayCloudWatchRole DeletionPolicy", role.DeletionPolicy, "Retain")
	p.want("ApiGatewayCloudWatchRole UpdateReplacePolicy", role.UpdateReplacePolicy, "Retain")
	// The API waits on a handle that refers to the setting only when it exists.
	waits := slices.ContainsFunc(listOf(tpl.Resources["RecordsApi"].DependsOn), func(d any) bool {
		h := tpl.Resources[fmt.Sprint(d)]
		return h.Condition == "" && slices.ContainsFunc(slices.Collect(maps.Values(h.Metadata)), func(v any) bool {
			return reflect.DeepEqual(v, map[string]any{"Fn::If": []any{cond, ref("ApiGatewayAccount"), ""}})
		})
	})
	if !waits {
		p.addf("RecordsApi DependsOn %s, want a resource whose Metadata refers to ApiGatewayAccount under Fn::If %s", show(tpl.Resources["RecordsApi"].DependsOn), cond)
	}
	return p
}

// checkDependsOn: a DependsOn names resources of the template that exist whenever the resource
// that depends on them does; CloudFormation refuses a DependsOn on a resource whose condition
// is false.
func checkDependsOn(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[id]
		for _, d := range listOf(r.DependsOn) {
			other, ok := tpl.Resources[fmt.Sprint(d)]
			switch {
			case !ok:
				p.addf("%s DependsOn %v, which is not a resource of the template", id, d)
			case other.Condition != "" && other.Condition != r.Condition:
				p.addf("%s DependsOn %v, which exists only under condition %s", id, d, other.Condition)
			}
		}
	}
	return p
}

func checkLayer(tpl *samtemplate.Template) []string {
	var p problems
	l := tpl.Resources["ContractsLayer"]
	p.want("ContractsLayer Type", l.Type, "AWS::Serverless::LayerVersion")
	p.want("ContractsLayer Metadata.BuildMethod", l.Metadata["BuildMethod"], "makefile")
	// sam build uses the host's architecture for a layer that does not state one.
	p.want("ContractsLayer Metadata.BuildArchitecture", l.Metadata["BuildArchitecture"], "arm64")
	p.want("ContractsLayer ContentUri", l.Properties["ContentUri"], ".")
	p.want("ContractsLayer CompatibleRuntimes", l.Properties["CompatibleRuntimes"], []any{"provided.al2023"})
	p.want("ContractsLayer CompatibleArchitectures", l.Properties["CompatibleArchitectures"], []any{"arm64"})
	p.want("TransformerFunction Layers", function(tpl, "TransformerFunction")["Layers"], []any{ref("ContractsLayer")})
	return p
}

// checkParameters: every parameter has a default, so `sam deploy --guided` can be answered with
// Enter throughout.
func checkParameters(tpl *samtemplate.Template) []string {
	var p problems
	for name, param := range tpl.Parameters {
		if _, ok := param["Default"]; !ok {
			p.addf("parameter %s has no Default", name)
		}
	}
	return p
}

func checkOutputs(tpl *samtemplate.Template) []string {
	want := map[string]any{
		"IngestDeliveryStreamName": ref("IngestDeliveryStream"),
		"IngestDeliveryStreamArn":  getAtt("IngestDeliveryStream", "Arn"),
		"LakeBucketName":           ref("LakeBucket"),
		"EventStoreTableName":      ref("EventStoreTable"),
		"EventStoreTableArn":       getAtt("EventStoreTable", "Arn"),
		"EventStoreStreamArn":      getAtt("EventStoreTable", "StreamArn"),
		"ProjectionTableName":      ref("ProjectionTable"),
		"ProjectionTableArn":       getAtt("ProjectionTable", "Arn"),
		"EventBusName":             ref("EventBus"),
		"EventBusArn":              getAtt("EventBus", "Arn"),
		"RecordsApiUrl":            map[string]any{"Fn::Sub": "https://${RecordsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1"},
	}
	for _, id := range []string{"ChangeStream", "ChangeDeliveryStream"} {
		want[id+"Name"] = ref(id)
		want[id+"Arn"] = getAtt(id, "Arn")
	}
	for _, id := range []string{"LakeDatabase", "LakeRecordsTable", "LakeChangesTable"} {
		want[id+"Name"] = ref(id)
	}
	for _, q := range []string{"IngestQueue", "IngestDLQ", "EmitterDLQ", "ResponderDLQ", "ConflictQueue"} {
		want[q+"Url"] = ref(q)
		want[q+"Arn"] = getAtt(q, "Arn")
	}
	for _, fn := range functionIDs {
		want[fn+"Name"] = ref(fn)
	}
	var p problems
	for name, value := range want {
		p.want("output "+name, tpl.Outputs[name]["Value"], value)
	}
	return p
}

// checkChangeArchive: the event store's changes reach the lake through an encrypted on-demand
// Kinesis stream and a Kinesis-sourced Firehose stream whose processor is ChangeTransformerFunction,
// with errors kept under errors/ and a role that can touch nothing else.
func checkChangeArchive(tpl *samtemplate.Template) []string {
	var p problems
	ks := tpl.Resources["ChangeStream"]
	p.want("ChangeStream Type", ks.Type, "AWS::Kinesis::Stream")
	p.want("ChangeStream StreamMode", dig(ks.Properties, "StreamModeDetails", "StreamMode"), "ON_DEMAND")
	p.want("ChangeStream StreamEncryption", ks.Properties["StreamEncryption"], map[string]any{"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"})
	p.want("EventStoreTable KinesisStreamSpecification", tpl.Resources["EventStoreTable"].Properties["KinesisStreamSpecification"], map[string]any{
		"StreamArn": getAtt("ChangeStream", "Arn"), "ApproximateCreationDateTimePrecision": "MILLISECOND",
	})

	d := tpl.Resources["ChangeDeliveryStream"].Properties
	s3 := dig(d, "ExtendedS3DestinationConfiguration")
	p.want("ChangeDeliveryStream DeliveryStreamType", d["DeliveryStreamType"], "KinesisStreamAsSource")
	p.want("ChangeDeliveryStream source", d["KinesisStreamSourceConfiguration"], map[string]any{
		"KinesisStreamARN": getAtt("ChangeStream", "Arn"), "RoleARN": getAtt("ChangeDeliveryStreamRole", "Arn"),
	})
	p.want("ChangeDeliveryStream BucketARN", dig(s3, "BucketARN"), getAtt("LakeBucket", "Arn"))
	p.want("ChangeDeliveryStream RoleARN", dig(s3, "RoleARN"), getAtt("ChangeDeliveryStreamRole", "Arn"))
	p.want("ChangeDeliveryStream CompressionFormat", dig(s3, "CompressionFormat"), "GZIP")
	p.want("ChangeDeliveryStream Prefix", dig(s3, "Prefix"), "changes/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/")
	if prefix, _ := dig(s3, "ErrorOutputPrefix").(string); !strings.HasPrefix(prefix, "errors/changes/!{firehose:error-output-type}/") {
		p.addf("ChangeDeliveryStream ErrorOutputPrefix = %q, want errors/changes/!{firehose:error-output-type}/… (under the lifecycle rule of errors/)", prefix)
	}
	p.want("ChangeDeliveryStream CloudWatchLoggingOptions.Enabled", dig(s3, "CloudWatchLoggingOptions", "Enabled"), true)
	p.want("ChangeDeliveryStream processing enabled", dig(s3, "ProcessingConfiguration", "Enabled"), true)
	p.want("ChangeDeliveryStream processor LambdaArn", dig(s3, "ProcessingConfiguration", "Processors", 0, "Parameters", 0),
		map[string]any{"ParameterName": "LambdaArn", "ParameterValue": getAtt("ChangeTransformerFunction", "Arn")})

	role := tpl.Resources["ChangeDeliveryStreamRole"].Properties
	p.want("ChangeDeliveryStreamRole trust", dig(role, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"), "firehose.amazonaws.com")
	allowed := []any{
		getAtt("ChangeStream", "Arn"), getAtt("LakeBucket", "Arn"), map[string]any{"Fn::Sub": "${LakeBucket.Arn}/*"},
		getAtt("ChangeTransformerFunction", "Arn"),
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${ChangeDeliveryStreamLogGroup}:log-stream:${ChangeDeliveryStreamLogStream}"},
	}
	for _, stmt := range statements(dig(role, "Policies", 0, "PolicyDocument", "Statement")) {
		if !slices.ContainsFunc(allowed, func(a any) bool { return reflect.DeepEqual(a, stmt["Resource"]) }) {
			p.addf("ChangeDeliveryStreamRole grants %s on %s, beyond the change stream, the lake, the change transformer and its log stream", show(stmt["Action"]), show(stmt["Resource"]))
		}
	}
	// The change transformer calls no AWS service: SAM's basic execution role is all it gets.
	f := function(tpl, "ChangeTransformerFunction")
	p.want("ChangeTransformerFunction Policies", f["Policies"], nil)
	p.want("ChangeTransformerFunction Environment", f["Environment"], nil)
	return p
}

// checkAthenaTables: the Glue tables read records/ and changes/ of the lake as JSON, with
// partition projection on year/month/day, so that Athena can query right after deploy.
func checkAthenaTables(tpl *samtemplate.Template) []string {
	var p problems
	p.want("LakeDatabase Type", tpl.Resources["LakeDatabase"].Type, "AWS::Glue::Database")
	columns := map[string][]any{
		"LakeRecordsTable": {"id", "type", "key", "time", "receivedat", "source", "data"},
		"LakeChangesTable": {"operation", "table", "keys", "newimage", "oldimage", "approximatecreationtime", "eventid"},
	}
	prefixes := map[string]string{"LakeRecordsTable": "records/", "LakeChangesTable": "changes/"}
	for id, prefix := range prefixes {
		t := tpl.Resources[id]
		in := dig(t.Properties, "TableInput")
		p.want(id+" Type", t.Type, "AWS::Glue::Table")
		p.want(id+" DatabaseName", dig(t.Properties, "DatabaseName"), ref("LakeDatabase"))
		p.want(id+" Location", dig(in, "StorageDescriptor", "Location"), map[string]any{"Fn::Sub": "s3://${LakeBucket}/" + prefix})
		p.want(id+" SerDe", dig(in, "StorageDescriptor", "SerdeInfo", "SerializationLibrary"), "org.openx.data.jsonserde.JsonSerDe")
		params, _ := dig(in, "Parameters").(map[string]any)
		p.want(id+" projection.enabled", params["projection.enabled"], "true")
		p.want(id+" storage.location.template", params["storage.location.template"],
			map[string]any{"Fn::Sub": "s3://${LakeBucket}/" + prefix + "year=${!year}/month=${!month}/day=${!day}/"})
		var parts []any
		for _, k := range statements(dig(in, "PartitionKeys")) {
			parts = append(parts, k["Name"])
			if params["projection."+fmt.Sprint(k["Name"])+".type"] == nil {
				p.addf("%s partition %v has no projection type", id, k["Name"])
			}
		}
		p.want(id+" partition keys", parts, []any{"year", "month", "day"})
		var cols []any
		for _, c := range statements(dig(in, "StorageDescriptor", "Columns")) {
			cols = append(cols, c["Name"])
		}
		p.want(id+" columns", cols, columns[id])
	}
	return p
}
