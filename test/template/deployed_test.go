package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

// The checks in this file read the template CloudFormation is given after the SAM transform,
// not template.yaml: SAM adds roles and managed policies of its own (an event source's poller
// policy on every queue or stream of the account, the basic execution role on every log group),
// and only the transformed template shows them.

// functionGrants are the permissions each function's role may have, as "action resource", a
// resource written as renderResource writes it. Each is what the function calls, or what Lambda
// calls with the function's role (an event source's poller, a failure destination); every
// function also writes its own log group and its traces (commonGrants).
var functionGrants = map[string][]string{
	"TransformerFunction": {
		"sqs:SendMessage IngestQueue.Arn",
		"firehose:PutRecordBatch IngestDeliveryStream.Arn",
	},
	"EventStorerFunction": {
		"sqs:ReceiveMessage IngestQueue.Arn",
		"sqs:DeleteMessage IngestQueue.Arn",
		"sqs:GetQueueAttributes IngestQueue.Arn",
		"dynamodb:BatchGetItem EventStoreTable.Arn",
		"dynamodb:BatchWriteItem EventStoreTable.Arn",
		"sqs:SendMessage ConflictQueue.Arn",
	},
	"EventEmitterFunction": {
		"dynamodb:DescribeStream EventStoreTable.StreamArn",
		"dynamodb:GetRecords EventStoreTable.StreamArn",
		"dynamodb:GetShardIterator EventStoreTable.StreamArn",
		"dynamodb:ListStreams ${EventStoreTable.Arn}/stream/*",
		"sqs:SendMessage EmitterDLQ.Arn",
		"events:PutEvents EventBus.Arn",
	},
	"EventResponderFunction": {
		"dynamodb:PutItem ProjectionTable.Arn",
		"sqs:ReceiveMessage ResponderQueue.Arn",
		"sqs:DeleteMessage ResponderQueue.Arn",
		"sqs:ChangeMessageVisibility ResponderQueue.Arn",
		"sqs:GetQueueAttributes ResponderQueue.Arn",
	},
	"RecordsApiFunction": {
		"dynamodb:GetItem ProjectionTable.Arn",
		"dynamodb:Query ProjectionTable.Arn",
	},
	"ChangeTransformerFunction": {},
}

// tracingActions are the X-Ray calls of an instrumented function; X-Ray's API has no resource
// to name, so they are the one grant allowed on "*".
var tracingActions = []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

func commonGrants(fn string) []string {
	g := []string{
		"logs:CreateLogStream " + fn + "LogGroup.Arn",
		"logs:PutLogEvents " + fn + "LogGroup.Arn",
	}
	for _, a := range tracingActions {
		g = append(g, a+" *")
	}
	return g
}

// awsManagedTracingPolicies are the AWS managed policies a function's role may carry: X-Ray's.
var awsManagedTracingPolicies = []string{"AWSXRayDaemonWriteAccess", "AWSXrayWriteOnlyAccess"}

// accountLoggingPolicy is the one AWS managed policy on a role that is not a function's: the
// role of AWS::ApiGateway::Account, which API Gateway uses for every REST API of the account
// and region and whose execution log groups it names itself, so it cannot be scoped to this
// stack (security_test.go, allowedManagedPolicies).
const accountLoggingPolicy = "AmazonAPIGatewayPushToCloudWatchLogs"

// TestDeployedRoles checks the roles the transformed template creates: each function has its
// own, with exactly the grants of functionGrants, no AWS managed policy but X-Ray's, and nothing
// on Resource "*" but X-Ray.
func TestDeployedRoles(t *testing.T) {
	t.Parallel()
	for _, p := range checkDeployedRoles(transformed(t, loadTemplate(t))) {
		t.Error(p)
	}
}

// TestDeployedRoleChecksCatchBreakage breaks the template, or the transformed template, in the
// ways that widen what a function may do as deployed, and expects the checks to notice.
func TestDeployedRoleChecksCatchBreakage(t *testing.T) {
	t.Parallel()
	// Breakage SAM makes: each needs its own transform.
	beforeTransform := []struct {
		name   string
		want   string // in one of the problems reported
		mutate func(*samtemplate.Template)
	}{
		{"an SQS trigger on a function without a role", "DeadLetterReaderRole (the role of DeadLetterReader) has AWS managed policy AWSLambdaSQSQueueExecutionRole", func(tp *samtemplate.Template) {
			tp.Resources["DeadLetterReader"] = samtemplate.Resource{Type: "AWS::Serverless::Function", Metadata: map[string]any{"BuildMethod": "makefile"}, Properties: map[string]any{
				"CodeUri": ".",
				"Events": map[string]any{"Dead": map[string]any{"Type": "SQS", "Properties": map[string]any{
					"Queue": getAtt("IngestDLQ", "Arn"),
				}}},
			}}
		}},
		{"the storer's own role dropped", "has AWS managed policy AWSLambdaSQSQueueExecutionRole", func(tp *samtemplate.Template) {
			delete(tp.Resources["EventStorerFunction"].Properties, "Role")
			delete(tp.Resources, "EventStorerFunctionRole")
		}},
		{"a policy template beside the role", "grants dynamodb:Scan", func(tp *samtemplate.Template) {
			tp.Resources["RecordsApiFunction"].Properties["Policies"] = []any{map[string]any{"DynamoDBReadPolicy": map[string]any{"TableName": ref("EventStoreTable")}}}
			delete(tp.Resources["RecordsApiFunction"].Properties, "Role")
			delete(tp.Resources, "RecordsApiFunctionRole")
		}},
	}
	for _, tt := range beforeTransform {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := loadTemplate(t)
			tt.mutate(tpl)
			if p := checkDeployedRoles(transformed(t, tpl)); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("no problem says %q; problems %q", tt.want, p)
			}
		})
	}

	deployed := transformed(t, loadTemplate(t))
	if p := checkDeployedRoles(deployed); len(p) > 0 {
		t.Fatalf("the template itself fails the checks: %q", p)
	}
	inline := func(d *samtemplate.Template, role string, stmt int) map[string]any {
		return dig(d.Resources[role].Properties, "Policies", 0, "PolicyDocument", "Statement", stmt).(map[string]any)
	}
	afterTransform := []struct {
		name   string
		want   string
		mutate func(*samtemplate.Template)
	}{
		{"stream reads on every stream", `grants dynamodb:ListStreams on Resource "*"`, func(d *samtemplate.Template) {
			inline(d, "EventEmitterFunctionRole", 1)["Resource"] = "*"
		}},
		{"the API may scan", "grants dynamodb:Scan ProjectionTable.Arn", func(d *samtemplate.Template) {
			s := inline(d, "RecordsApiFunctionRole", 0)
			s["Action"] = append(listOf(s["Action"]), "dynamodb:Scan")
		}},
		{"the storer misses a poller action", "does not grant sqs:ReceiveMessage IngestQueue.Arn", func(d *samtemplate.Template) {
			s := inline(d, "EventStorerFunctionRole", 0)
			s["Action"] = listOf(s["Action"])[1:]
		}},
		{"the tracing policy grants more than X-Ray", `grants s3:GetObject on Resource "*"`, func(d *samtemplate.Template) {
			s := dig(d.Resources["FunctionTracingPolicy"].Properties, "PolicyDocument", "Statement", 0).(map[string]any)
			s["Action"] = append(listOf(s["Action"]), "s3:GetObject")
		}},
		{"a function writes another's log group", "grants logs:PutLogEvents EventStorerFunctionLogGroup.Arn", func(d *samtemplate.Template) {
			s := dig(d.Resources["EventResponderFunctionRolePolicy"].Properties, "PolicyDocument", "Statement", 0).(map[string]any)
			s["Resource"] = getAtt("EventStorerFunctionLogGroup", "Arn")
		}},
		{"two functions share a role", "share role TransformerFunctionRole", func(d *samtemplate.Template) {
			d.Resources["ChangeTransformerFunction"].Properties["Role"] = getAtt("TransformerFunctionRole", "Arn")
		}},
		{"basic execution role on a function's role", "has AWS managed policy AWSLambdaBasicExecutionRole", func(d *samtemplate.Template) {
			r := d.Resources["ChangeTransformerFunctionRole"].Properties
			r["ManagedPolicyArns"] = append(listOf(r["ManagedPolicyArns"]), "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
		}},
	}
	for _, tt := range afterTransform {
		t.Run(tt.name, func(t *testing.T) {
			d := reparse(t, deployed)
			tt.mutate(d)
			if p := checkDeployedRoles(d); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("no problem says %q; problems %q", tt.want, p)
			}
		})
	}
}

// transformed runs the SAM transform (samtransform.py, through cfn-lint's copy of
// aws-sam-translator) on tpl and returns the template CloudFormation would get.
func transformed(t *testing.T, tpl *samtemplate.Template) *samtemplate.Template {
	t.Helper()
	if err := exec.Command("python3", "-c", "import cfnlint, samtranslator").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 with cfn-lint and aws-sam-translator is needed (pip install cfn-lint): %v", err)
		}
		t.Skipf("python3 with cfn-lint and aws-sam-translator: %v", err)
	}
	in, err := json.Marshal(document(tpl))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "python3", "test/template/samtransform.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("SAM transform: %v\n%s", err, stderr.Bytes())
	}
	d, err := samtemplate.Parse(out)
	if err != nil {
		t.Fatalf("transformed template: %v", err)
	}
	return d
}

// reparse returns a deep copy of a template, to mutate.
func reparse(t *testing.T, tpl *samtemplate.Template) *samtemplate.Template {
	t.Helper()
	b, err := json.Marshal(document(tpl))
	if err != nil {
		t.Fatal(err)
	}
	d, err := samtemplate.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// document is a template as the JSON document it was read from.
func document(tpl *samtemplate.Template) map[string]any {
	resources := map[string]any{}
	for id, r := range tpl.Resources {
		m := map[string]any{"Type": r.Type}
		for k, v := range map[string]any{"Properties": r.Properties, "Metadata": r.Metadata, "DependsOn": r.DependsOn} {
			if v != nil && !(k != "DependsOn" && len(v.(map[string]any)) == 0) {
				m[k] = v
			}
		}
		for k, v := range map[string]string{"Condition": r.Condition, "DeletionPolicy": r.DeletionPolicy, "UpdateReplacePolicy": r.UpdateReplacePolicy} {
			if v != "" {
				m[k] = v
			}
		}
		resources[id] = m
	}
	doc := map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Transform":                "AWS::Serverless-2016-10-31",
		"Resources":                resources,
	}
	for k, v := range map[string]any{"Parameters": tpl.Parameters, "Conditions": tpl.Conditions, "Globals": tpl.Globals, "Outputs": tpl.Outputs} {
		if v != nil {
			doc[k] = v
		}
	}
	return doc
}

// renderResource writes a policy's Resource the way functionGrants names it: "X.Arn" for a
// GetAtt, "X" for a Ref, the text of a Sub.
func renderResource(v any) string {
	switch {
	case v == "*":
		return "*"
	case len(asList(dig(v, "Fn::GetAtt"))) == 2:
		att := asList(dig(v, "Fn::GetAtt"))
		return fmt.Sprintf("%v.%v", att[0], att[1])
	case dig(v, "Ref") != nil:
		return fmt.Sprint(dig(v, "Ref"))
	case dig(v, "Fn::Sub") != nil:
		if s, ok := dig(v, "Fn::Sub").(string); ok {
			return s
		}
	}
	return show(v)
}

// roleGrant is one allowed action on one resource, with the policy that grants it.
type roleGrant struct {
	grant, where string
}

// grantsOf returns every "action resource" a role's Allow statements grant: its inline
// policies, its customer managed policies, and the policies of the template attached to it.
// It reports the AWS managed policies on the role apart, since their statements are not in the
// template.
func grantsOf(d *samtemplate.Template, role string) (grants []roleGrant, awsManaged []string) {
	add := func(where string, doc any) {
		for _, s := range statementList(dig(doc, "Statement")) {
			if s["Effect"] != "Allow" {
				continue
			}
			resources := listOf(s["Resource"])
			if s["NotResource"] != nil {
				resources = []any{"everything but " + show(s["NotResource"])}
			}
			actions := listOf(s["Action"])
			if s["NotAction"] != nil {
				actions = []any{"everything but " + show(s["NotAction"])}
			}
			for _, a := range actions {
				for _, r := range resources {
					grants = append(grants, roleGrant{fmt.Sprintf("%v %s", a, renderResource(r)), where})
				}
			}
		}
	}
	props := d.Resources[role].Properties
	for _, pol := range asList(props["Policies"]) {
		add(fmt.Sprintf("%s policy %v", role, dig(pol, "PolicyName")), dig(pol, "PolicyDocument"))
	}
	for _, arn := range listOf(props["ManagedPolicyArns"]) {
		if id, ok := dig(arn, "Ref").(string); ok && d.Resources[id].Type == "AWS::IAM::ManagedPolicy" {
			add(id, dig(d.Resources[id].Properties, "PolicyDocument"))
			continue
		}
		awsManaged = append(awsManaged, managedPolicyName(arn))
	}
	for _, id := range slices.Sorted(maps.Keys(d.Resources)) {
		r := d.Resources[id]
		var attached bool
		switch r.Type {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			attached = slices.ContainsFunc(listOf(r.Properties["Roles"]), func(v any) bool { return dig(v, "Ref") == role })
		case "AWS::IAM::RolePolicy":
			attached = dig(r.Properties, "RoleName", "Ref") == role
		}
		if attached {
			add(id, dig(r.Properties, "PolicyDocument"))
		}
	}
	return grants, awsManaged
}

// managedPolicyName is the last part of a managed policy's ARN, however it is written.
func managedPolicyName(arn any) string {
	s := fmt.Sprint(arn)
	if sub, ok := dig(arn, "Fn::Sub").(string); ok {
		s = sub
	}
	return s[strings.LastIndex(s, "/")+1:]
}

func checkDeployedRoles(d *samtemplate.Template) []string {
	var p problems
	functions := d.OfType("AWS::Lambda::Function")
	p.want("functions as deployed", functions, slices.Sorted(maps.Keys(functionGrants)))
	roleOf := map[string]string{}
	for _, fn := range functions {
		att := asList(dig(d.Resources[fn].Properties, "Role", "Fn::GetAtt"))
		if len(att) != 2 || d.Resources[fmt.Sprint(att[0])].Type != "AWS::IAM::Role" {
			p.addf("%s Role = %s, want the Arn of a role of the template", fn, show(d.Resources[fn].Properties["Role"]))
			continue
		}
		role := fmt.Sprint(att[0])
		for other, r := range roleOf {
			if r == role {
				p.addf("%s and %s share role %s: each function's role grants its own resources only", other, fn, role)
			}
		}
		roleOf[fn] = role
		trust := statementList(dig(d.Resources[role].Properties, "AssumeRolePolicyDocument", "Statement"))
		if len(trust) != 1 || trust[0]["Effect"] != "Allow" || show(listOf(dig(trust[0], "Principal", "Service"))) != `["lambda.amazonaws.com"]` ||
			show(listOf(trust[0]["Action"])) != `["sts:AssumeRole"]` || len(trust[0]) != 3 {
			p.addf("%s trust = %s, want Lambda alone may assume it", role, show(trust))
		}

		grants, awsManaged := grantsOf(d, role)
		for _, name := range awsManaged {
			if !slices.Contains(awsManagedTracingPolicies, name) {
				p.addf("%s (the role of %s) has AWS managed policy %s, which grants beyond the function's own resources", role, fn, name)
			}
		}
		want := append(slices.Clone(functionGrants[fn]), commonGrants(fn)...)
		got := map[string]string{}
		for _, g := range grants {
			got[g.grant] = g.where
			if !slices.Contains(want, g.grant) {
				p.addf("%s grants %s (%s), which %s is not meant to have", role, g.grant, g.where, fn)
			}
		}
		for _, w := range want {
			if _, ok := got[w]; !ok {
				p.addf("%s does not grant %s, which %s needs", role, w, fn)
			}
		}
	}
	p = append(p, checkDeployedWildcards(d)...)
	return p
}

// checkDeployedWildcards: across every role and policy of the transformed template, the only
// grants on Resource "*" are X-Ray's, and the only AWS managed policies are X-Ray's and the
// API Gateway account role's.
func checkDeployedWildcards(d *samtemplate.Template) []string {
	var p problems
	accountRole := dig(d.Resources["ApiGatewayAccount"].Properties, "CloudWatchRoleArn", "Fn::GetAtt", 0)
	for _, id := range d.OfType("AWS::IAM::Role") {
		grants, awsManaged := grantsOf(d, id)
		for _, name := range awsManaged {
			if !slices.Contains(awsManagedTracingPolicies, name) && (name != accountLoggingPolicy || id != accountRole) {
				p.addf("%s has AWS managed policy %s", id, name)
			}
		}
		for _, g := range grants {
			action, resource, _ := strings.Cut(g.grant, " ")
			if resource == "*" && !slices.Contains(tracingActions, action) {
				p.addf("%s grants %s on Resource \"*\" (%s); only X-Ray has no resource to name", id, action, g.where)
			}
		}
	}
	return p
}
