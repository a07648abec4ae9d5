package template

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

// The security invariants of the template, apart from the design checks in template_test.go so
// that CI names a security regression as one: every IAM grant is scoped to resources of the stack
// (X-Ray, whose API has no resource to name, is the one exception), every store is encrypted at
// rest, every queue and bucket refuses requests without TLS, and nothing is open to the public.
var securityChecks = map[string]templateCheck{
	"IAM scoped":         checkIAMScoped,
	"encrypted at rest":  checkEncryptedAtRest,
	"TLS only":           checkTLSOnly,
	"no public access":   checkNoPublicAccess,
	"managed policies":   checkManagedPolicies,
	"policy templates":   checkPolicyTemplates,
	"trust policies":     checkTrustPolicies,
	"resource policies":  checkResourcePolicies,
	"function endpoints": checkFunctionEndpoints,
	"SAM event grants":   checkEventGrants,
}

func TestTemplateIsSecure(t *testing.T) {
	t.Parallel()
	runChecks(t, securityChecks)
}

// TestSecurityChecksCatchBreakage breaks a parsed copy of the template in each way a check
// exists for and expects that check to report more than before; and makes the grants the checks
// must let through (X-Ray on "*", a deny on "*") and expects no new report.
func TestSecurityChecksCatchBreakage(t *testing.T) {
	t.Parallel()
	statement := func(effect string, action, resource any) map[string]any {
		return map[string]any{"Effect": effect, "Action": action, "Resource": resource}
	}
	addPolicy := func(tp *samtemplate.Template, fn string, policy any) {
		p := tp.Resources[fn].Properties
		p["Policies"] = append(asList(p["Policies"]), policy)
	}
	// roleStatement is statement i of the first inline policy of a role.
	roleStatement := func(tp *samtemplate.Template, role string, i int) map[string]any {
		return dig(tp.Resources[role].Properties, "Policies", 0, "PolicyDocument", "Statement", i).(map[string]any)
	}
	firstStatement := func(tp *samtemplate.Template, id string) map[string]any {
		return dig(tp.Resources[id].Properties, "PolicyDocument", "Statement", 0).(map[string]any)
	}
	tests := []struct {
		name   string
		check  string
		quiet  bool // the change is allowed: the check must report nothing more
		mutate func(*samtemplate.Template)
	}{
		// IAM grants.
		{"function statement on every resource", "IAM scoped", false, func(tp *samtemplate.Template) {
			roleStatement(tp, "EventStorerFunctionRole", 1)["Resource"] = "*"
		}},
		{"function statement with every DynamoDB action", "IAM scoped", false, func(tp *samtemplate.Template) {
			roleStatement(tp, "EventResponderFunctionRole", 0)["Action"] = "dynamodb:*"
		}},
		{"function statement with every action", "IAM scoped", false, func(tp *samtemplate.Template) {
			roleStatement(tp, "EventStorerFunctionRole", 1)["Action"] = []any{"*"}
		}},
		{"statement granting all but one action", "IAM scoped", false, func(tp *samtemplate.Template) {
			stmt := roleStatement(tp, "EventStorerFunctionRole", 1)
			delete(stmt, "Action")
			stmt["NotAction"] = "iam:*"
		}},
		{"statement on all but one resource", "IAM scoped", false, func(tp *samtemplate.Template) {
			stmt := roleStatement(tp, "EventStorerFunctionRole", 1)
			stmt["NotResource"] = stmt["Resource"]
			delete(stmt, "Resource")
		}},
		{"role statement on every resource", "IAM scoped", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["IngestDeliveryStreamRole"].Properties, "Policies", 0, "PolicyDocument", "Statement", 0).(map[string]any)["Resource"] = "*"
		}},
		{"a standalone policy on every resource", "IAM scoped", false, func(tp *samtemplate.Template) {
			tp.Resources["ExtraPolicy"] = samtemplate.Resource{Type: "AWS::IAM::Policy", Properties: map[string]any{
				"PolicyName":     "Extra",
				"Roles":          []any{ref("IngestDeliveryStreamRole")},
				"PolicyDocument": map[string]any{"Statement": statement("Allow", "s3:GetObject", "*")},
			}}
		}},
		{"X-Ray on every resource is allowed", "IAM scoped", true, func(tp *samtemplate.Template) {
			addPolicy(tp, "EventStorerFunction", map[string]any{"Statement": []any{
				statement("Allow", []any{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*"),
			}})
		}},
		{"a deny on every resource is allowed", "IAM scoped", true, func(tp *samtemplate.Template) {
			addPolicy(tp, "EventStorerFunction", map[string]any{"Statement": []any{statement("Deny", "dynamodb:*", "*")}})
		}},
		{"policy template on every queue", "policy templates", false, func(tp *samtemplate.Template) {
			tp.Resources["TransformerFunction"].Properties["Policies"] = []any{map[string]any{"SQSSendMessagePolicy": map[string]any{"QueueName": "*"}}}
		}},
		{"policy template on a parameter", "policy templates", false, func(tp *samtemplate.Template) {
			addPolicy(tp, "RecordsApiFunction", map[string]any{"DynamoDBReadPolicy": map[string]any{"TableName": ref("EventSource")}})
		}},
		{"policy template that grants on every resource", "policy templates", false, func(tp *samtemplate.Template) {
			addPolicy(tp, "EventEmitterFunction", map[string]any{"CloudWatchPutMetricPolicy": map[string]any{}})
		}},
		{"policy template the check does not know", "policy templates", false, func(tp *samtemplate.Template) {
			addPolicy(tp, "EventEmitterFunction", map[string]any{"SESCrudPolicy": map[string]any{"IdentityName": "x"}})
		}},
		{"another table's policy template is fine", "policy templates", true, func(tp *samtemplate.Template) {
			addPolicy(tp, "RecordsApiFunction", map[string]any{"DynamoDBReadPolicy": map[string]any{"TableName": ref("EventStoreTable")}})
		}},
		{"full-access managed policy on a function", "managed policies", false, func(tp *samtemplate.Template) {
			addPolicy(tp, "RecordsApiFunction", "AmazonDynamoDBFullAccess")
		}},
		{"administrator role", "managed policies", false, func(tp *samtemplate.Template) {
			role := tp.Resources["IngestDeliveryStreamRole"].Properties
			role["ManagedPolicyArns"] = append(asList(role["ManagedPolicyArns"]), "arn:aws:iam::aws:policy/AdministratorAccess")
		}},
		{"role anyone may assume", "trust policies", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["IngestDeliveryStreamRole"].Properties, "AssumeRolePolicyDocument", "Statement", 0).(map[string]any)["Principal"] = map[string]any{"AWS": "*"}
		}},
		{"queue policy granting every SQS action", "resource policies", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["ResponderDLQPolicy"].Properties, "PolicyDocument", "Statement", 1).(map[string]any)["Action"] = "sqs:*"
		}},
		{"SQS trigger on a queue named by parameter", "SAM event grants", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["EventStorerFunction"].Properties, "Events", "IngestQueue", "Properties").(map[string]any)["Queue"] = ref("EventSource")
		}},
		{"stream failures sent to any queue", "SAM event grants", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["EventEmitterFunction"].Properties, "Events", "EventStoreStream", "Properties", "DestinationConfig", "OnFailure").(map[string]any)["Destination"] = "arn:aws:sqs:us-east-1:123456789012:*"
		}},
		{"SQS trigger on a queue outside the stack", "SAM event grants", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["EventResponderFunction"].Properties, "Events", "DataInserted", "Properties").(map[string]any)["Queue"] = "arn:aws:sqs:us-east-1:111122223333:elsewhere"
		}},
		{"async failures sent outside the stack", "SAM event grants", false, func(tp *samtemplate.Template) {
			tp.Resources["EventResponderFunction"].Properties["EventInvokeConfig"] = map[string]any{"DestinationConfig": map[string]any{
				"OnFailure": map[string]any{"Type": "SQS", "Destination": "arn:aws:sqs:us-east-1:111122223333:elsewhere"}}}
		}},
		{"rule trigger on a bus named by parameter", "SAM event grants", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["EventResponderFunction"].Properties, "Events").(map[string]any)["Direct"] = map[string]any{"Type": "EventBridgeRule",
				"Properties": map[string]any{"EventBusName": ref("EventSource"), "Pattern": map[string]any{"source": []any{"x"}}}}
		}},
		{"rule trigger on the default bus is fine", "SAM event grants", true, func(tp *samtemplate.Template) {
			dig(tp.Resources["EventResponderFunction"].Properties, "Events").(map[string]any)["Direct"] = map[string]any{"Type": "EventBridgeRule",
				"Properties": map[string]any{"Pattern": map[string]any{"source": []any{"x"}}}}
		}},
		{"rule deliveries from any rule", "resource policies", false, func(tp *samtemplate.Template) {
			delete(dig(tp.Resources["ResponderQueuePolicy"].Properties, "PolicyDocument", "Statement", 1).(map[string]any), "Condition")
		}},
		// Encryption at rest.
		{"queue without encryption", "encrypted at rest", false, func(tp *samtemplate.Template) {
			delete(tp.Resources["IngestDLQ"].Properties, "SqsManagedSseEnabled")
		}},
		{"queue encryption switched off", "encrypted at rest", false, func(tp *samtemplate.Template) {
			tp.Resources["IngestQueue"].Properties["SqsManagedSseEnabled"] = false
		}},
		{"bucket without default encryption", "encrypted at rest", false, func(tp *samtemplate.Template) {
			delete(tp.Resources["LakeBucket"].Properties, "BucketEncryption")
		}},
		{"table without SSE", "encrypted at rest", false, func(tp *samtemplate.Template) {
			tp.Resources["EventStoreTable"].Properties["SSESpecification"] = map[string]any{"SSEEnabled": false}
		}},
		{"delivery stream without SSE", "encrypted at rest", false, func(tp *samtemplate.Template) {
			delete(tp.Resources["IngestDeliveryStream"].Properties, "DeliveryStreamEncryptionConfigurationInput")
		}},
		{"Kinesis stream without encryption", "encrypted at rest", false, func(tp *samtemplate.Template) {
			tp.Resources["PlainStream"] = samtemplate.Resource{Type: "AWS::Kinesis::Stream", Properties: map[string]any{"ShardCount": 1}}
		}},
		{"Kinesis-sourced delivery stream from a plain stream", "encrypted at rest", false, func(tp *samtemplate.Template) {
			tp.Resources["PlainStream"] = samtemplate.Resource{Type: "AWS::Kinesis::Stream", Properties: map[string]any{
				"StreamEncryption": map[string]any{"EncryptionType": "NONE"},
			}}
			tp.Resources["PlainDelivery"] = samtemplate.Resource{Type: "AWS::KinesisFirehose::DeliveryStream", Properties: map[string]any{
				"DeliveryStreamType":               "KinesisStreamAsSource",
				"KinesisStreamSourceConfiguration": map[string]any{"KinesisStreamARN": getAtt("PlainStream", "Arn")},
			}}
		}},
		{"topic without encryption", "encrypted at rest", false, func(tp *samtemplate.Template) {
			tp.Resources["PlainTopic"] = samtemplate.Resource{Type: "AWS::SNS::Topic", Properties: map[string]any{}}
		}},
		// TLS.
		{"queue policy dropped", "TLS only", false, func(tp *samtemplate.Template) {
			delete(tp.Resources, "IngestQueuePolicy")
		}},
		{"TLS deny on one action only", "TLS only", false, func(tp *samtemplate.Template) {
			firstStatement(tp, "ResponderDLQPolicy")["Action"] = "sqs:SendMessage"
		}},
		{"TLS deny on the bucket but not its objects", "TLS only", false, func(tp *samtemplate.Template) {
			firstStatement(tp, "LakeBucketPolicy")["Resource"] = getAtt("LakeBucket", "Arn")
		}},
		{"TLS deny turned around", "TLS only", false, func(tp *samtemplate.Template) {
			dig(firstStatement(tp, "LakeBucketPolicy"), "Condition", "Bool").(map[string]any)["aws:SecureTransport"] = "true"
		}},
		{"a second bucket without a policy", "TLS only", false, func(tp *samtemplate.Template) {
			tp.Resources["OtherBucket"] = samtemplate.Resource{Type: "AWS::S3::Bucket", Properties: map[string]any{}}
		}},
		// Public access.
		{"bucket policy may be made public", "no public access", false, func(tp *samtemplate.Template) {
			dig(tp.Resources["LakeBucket"].Properties, "PublicAccessBlockConfiguration").(map[string]any)["BlockPublicPolicy"] = false
		}},
		{"bucket without a public access block", "no public access", false, func(tp *samtemplate.Template) {
			delete(tp.Resources["LakeBucket"].Properties, "PublicAccessBlockConfiguration")
		}},
		{"queue open to everyone", "no public access", false, func(tp *samtemplate.Template) {
			doc := dig(tp.Resources["ResponderDLQPolicy"].Properties, "PolicyDocument").(map[string]any)
			doc["Statement"] = append(asList(doc["Statement"]), map[string]any{
				"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": getAtt("ResponderDLQ", "Arn"),
			})
		}},
		{"bucket readable by any account", "no public access", false, func(tp *samtemplate.Template) {
			doc := dig(tp.Resources["LakeBucketPolicy"].Properties, "PolicyDocument").(map[string]any)
			doc["Statement"] = append(asList(doc["Statement"]), map[string]any{
				"Effect": "Allow", "Principal": map[string]any{"AWS": []any{"arn:aws:iam::111122223333:root", "*"}},
				"Action": "s3:GetObject", "Resource": map[string]any{"Fn::Sub": "${LakeBucket.Arn}/*"},
			})
		}},
		{"function anyone may invoke", "function endpoints", false, func(tp *samtemplate.Template) {
			tp.Resources["OpenInvoke"] = samtemplate.Resource{Type: "AWS::Lambda::Permission", Properties: map[string]any{
				"Action": "lambda:InvokeFunction", "FunctionName": ref("RecordsApiFunction"), "Principal": "*",
			}}
		}},
		{"function URL without auth", "function endpoints", false, func(tp *samtemplate.Template) {
			tp.Resources["RecordsApiFunction"].Properties["FunctionUrlConfig"] = map[string]any{"AuthType": "NONE"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			breakCheck(t, securityChecks, tt.check, tt.quiet, tt.mutate)
		})
	}
}

// grant is one IAM statement of the template, with where it comes from.
type grant struct {
	where string
	stmt  map[string]any
}

// identityGrants are the statements that grant a role or function permissions: the functions'
// inline statements and expanded SAM policy templates, the roles' inline policies, and
// standalone policies.
func identityGrants(tpl *samtemplate.Template) []grant {
	var out []grant
	for _, id := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[id]
		switch r.Type {
		case "AWS::Serverless::Function":
			for i, pol := range listOf(function(tpl, id)["Policies"]) {
				m, ok := pol.(map[string]any)
				if !ok {
					continue // a managed policy: checkManagedPolicies
				}
				if _, inline := m["Statement"]; inline {
					for _, s := range statementList(m["Statement"]) {
						out = append(out, grant{fmt.Sprintf("%s Policies[%d]", id, i), s})
					}
					continue
				}
				for name, params := range m {
					for _, s := range expandPolicyTemplate(name, params) {
						out = append(out, grant{fmt.Sprintf("%s Policies[%d] %s", id, i, name), s})
					}
				}
			}
		case "AWS::IAM::Role":
			for _, pol := range asList(r.Properties["Policies"]) {
				for _, s := range statementList(dig(pol, "PolicyDocument", "Statement")) {
					out = append(out, grant{fmt.Sprintf("%s policy %v", id, dig(pol, "PolicyName")), s})
				}
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
			for _, s := range statementList(dig(r.Properties, "PolicyDocument", "Statement")) {
				out = append(out, grant{id, s})
			}
		}
	}
	return out
}

// resourcePolicyTypes are the resource policies of the template and the property naming what
// each is attached to.
var resourcePolicyTypes = map[string]string{
	"AWS::SQS::QueuePolicy":       "Queues",
	"AWS::S3::BucketPolicy":       "Bucket",
	"AWS::SNS::TopicPolicy":       "Topics",
	"AWS::Events::EventBusPolicy": "EventBusName",
}

func resourceGrants(tpl *samtemplate.Template) []grant {
	var out []grant
	for _, id := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[id]
		if _, ok := resourcePolicyTypes[r.Type]; !ok {
			continue
		}
		for _, s := range statementList(dig(r.Properties, "PolicyDocument", "Statement")) {
			out = append(out, grant{id, s})
		}
	}
	return out
}

// checkIAMScoped: no Allow grants every action of a service or every resource (X-Ray excepted),
// and none is written as NotAction or NotResource, which grant everything but what they name.
func checkIAMScoped(tpl *samtemplate.Template) []string {
	var p problems
	for _, g := range identityGrants(tpl) {
		if g.stmt["Effect"] != "Allow" {
			continue
		}
		if g.stmt["NotAction"] != nil || g.stmt["NotResource"] != nil {
			p.addf("%s: an Allow with NotAction or NotResource grants everything but what it names", g.where)
		}
		actions := listOf(g.stmt["Action"])
		for _, a := range actions {
			if wholeService(a) {
				p.addf("%s: Action %s grants every action", g.where, show(a))
			}
		}
		resources := listOf(g.stmt["Resource"])
		if g.stmt["NotResource"] == nil && len(resources) == 0 {
			p.addf("%s: an Allow without Resource", g.where)
		}
		if slices.Contains(resources, any("*")) {
			for _, a := range actions {
				if s, _ := a.(string); !strings.HasPrefix(s, "xray:") || wholeService(a) {
					p.addf("%s: grants %s on Resource \"*\" (only X-Ray has no resource to name)", g.where, show(a))
				}
			}
		}
	}
	return p
}

// wholeService reports whether an action names every action ("*") or every action of a service
// ("s3:*").
func wholeService(action any) bool {
	s, _ := action.(string)
	return s == "*" || strings.HasSuffix(s, ":*")
}

// allowedManagedPolicies are the AWS managed policies the template may attach, and why each is
// acceptable although its statements are AWS's, not ours.
var allowedManagedPolicies = map[string]string{
	"AWSXrayWriteOnlyAccess": "X-Ray only, which has no resource to scope to (SAM attaches it for Tracing: Active)",
	// AWS::ApiGateway::Account sets one CloudWatch role for every REST API of the account and
	// region, and API Gateway names the execution log groups itself: a role scoped to this
	// stack's log groups would break the logging of every other API in the account.
	"AmazonAPIGatewayPushToCloudWatchLogs": "API Gateway's account-wide logging role",
}

// checkManagedPolicies: managed policies named on a function or a role are on the allow list.
func checkManagedPolicies(tpl *samtemplate.Template) []string {
	var p problems
	allowed := func(where string, name any) {
		s := fmt.Sprint(name)
		if sub, ok := dig(name, "Fn::Sub").(string); ok {
			s = sub
		}
		short := s[strings.LastIndex(s, "/")+1:]
		if _, ok := allowedManagedPolicies[short]; !ok {
			p.addf("%s attaches managed policy %s, which is not on the allow list of security_test.go", where, show(name))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(tpl.Resources)) {
		r := tpl.Resources[id]
		switch r.Type {
		case "AWS::Serverless::Function":
			for _, pol := range listOf(function(tpl, id)["Policies"]) {
				if _, isMap := pol.(map[string]any); !isMap {
					allowed(id, pol)
				}
			}
		case "AWS::IAM::Role":
			for _, arn := range asList(r.Properties["ManagedPolicyArns"]) {
				if pol, ok := dig(arn, "Ref").(string); ok && tpl.Resources[pol].Type == "AWS::IAM::ManagedPolicy" {
					continue // the stack's own: its statements are among identityGrants
				}
				allowed(id, arn)
			}
		}
	}
	return p
}

// checkPolicyTemplates: each SAM policy template is one the check can expand, and each of its
// parameters names one resource of the stack (a Ref or GetAtt of a template resource, or a plain
// name without wildcards), so that the expansion is scoped to that resource.
func checkPolicyTemplates(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		for i, pol := range listOf(function(tpl, id)["Policies"]) {
			m, ok := pol.(map[string]any)
			if !ok || m["Statement"] != nil {
				continue
			}
			for name, params := range m {
				where := fmt.Sprintf("%s Policies[%d] %s", id, i, name)
				stmts := expandPolicyTemplate(name, params)
				if stmts == nil {
					p.addf("%s: a SAM policy template security_test.go cannot expand; add what it grants to samPolicyTemplates", where)
					continue
				}
				pm, _ := params.(map[string]any)
				for k, v := range pm {
					if !namesOneResource(tpl, v) {
						p.addf("%s: %s = %s does not name one resource of the stack", where, k, show(v))
					}
				}
				for _, s := range stmts {
					if slices.Contains(listOf(s["Resource"]), any("*")) {
						p.addf("%s: grants %s on Resource \"*\"", where, show(s["Action"]))
					}
				}
			}
		}
	}
	return p
}

// namesOneResource reports whether a policy template parameter is a reference to a resource of
// the template or a literal name without wildcards.
func namesOneResource(tpl *samtemplate.Template, v any) bool {
	switch x := v.(type) {
	case string:
		return x != "" && !strings.Contains(x, "*")
	case map[string]any:
		if id, ok := x["Ref"].(string); ok {
			_, isResource := tpl.Resources[id]
			return isResource
		}
		if att := asList(x["Fn::GetAtt"]); len(att) == 2 {
			_, isResource := tpl.Resources[fmt.Sprint(att[0])]
			return isResource
		}
	}
	return false
}

// samPolicyTemplates are the SAM policy templates the check knows, expanded as SAM's
// policy_templates.json defines them: the actions, and the resource ARNs with the parameters in
// ${…}. An ARN here that ends in * does so because SAM's template does (a table's indexes, a
// function's versions), not because it is unscoped.
var samPolicyTemplates = map[string][]map[string]any{
	"SQSSendMessagePolicy": {{"Action": []any{"sqs:SendMessage*"}, "Resource": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}"}},
	"SQSPollerPolicy": {{"Action": []any{"sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch", "sqs:DeleteMessage", "sqs:DeleteMessageBatch", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
		"Resource": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}"}},
	"DynamoDBReadPolicy": {{"Action": []any{"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"},
		"Resource": []any{"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}", "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"}}},
	"DynamoDBWritePolicy": {{"Action": []any{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
		"Resource": []any{"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}", "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"}}},
	"DynamoDBCrudPolicy": {{"Action": []any{"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"},
		"Resource": []any{"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}", "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"}}},
	"DynamoDBStreamReadPolicy": {
		{"Action": []any{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}, "Resource": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/stream/${StreamName}"},
		{"Action": []any{"dynamodb:ListStreams"}, "Resource": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/stream/*"},
	},
	"EventBridgePutEventsPolicy": {{"Action": []any{"events:PutEvents"}, "Resource": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}},
	"KinesisStreamReadPolicy": {
		{"Action": []any{"kinesis:ListStreams", "kinesis:DescribeLimits"}, "Resource": "arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/*"},
		{"Action": []any{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator"}, "Resource": "arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/${StreamName}"},
	},
	"FirehoseWritePolicy": {{"Action": []any{"firehose:PutRecord", "firehose:PutRecordBatch"}, "Resource": "arn:${AWS::Partition}:firehose:${AWS::Region}:${AWS::AccountId}:deliverystream/${DeliveryStreamName}"}},
	"S3ReadPolicy": {{"Action": []any{"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectVersion", "s3:GetLifecycleConfiguration"},
		"Resource": []any{"arn:${AWS::Partition}:s3:::${BucketName}", "arn:${AWS::Partition}:s3:::${BucketName}/*"}}},
	"S3WritePolicy": {{"Action": []any{"s3:PutObject", "s3:PutObjectAcl", "s3:PutLifecycleConfiguration"},
		"Resource": []any{"arn:${AWS::Partition}:s3:::${BucketName}", "arn:${AWS::Partition}:s3:::${BucketName}/*"}}},
	"LambdaInvokePolicy":        {{"Action": []any{"lambda:InvokeFunction"}, "Resource": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}*"}},
	"CloudWatchPutMetricPolicy": {{"Action": []any{"cloudwatch:PutMetricData"}, "Resource": "*"}},
}

// expandPolicyTemplate returns the Allow statements a SAM policy template grants, its
// parameters written into the ARNs; nil for a template the check does not know.
func expandPolicyTemplate(name string, params any) []map[string]any {
	def, ok := samPolicyTemplates[name]
	if !ok {
		return nil
	}
	pm, _ := params.(map[string]any)
	fill := func(arn string) string {
		for k, v := range pm {
			s := fmt.Sprint(v)
			if id := dig(v, "Ref"); id != nil {
				s = fmt.Sprintf("${%v}", id)
			} else if att := asList(dig(v, "Fn::GetAtt")); len(att) == 2 {
				s = fmt.Sprintf("${%v.%v}", att[0], att[1])
			}
			arn = strings.ReplaceAll(arn, "${"+k+"}", s)
		}
		return arn
	}
	out := make([]map[string]any, len(def))
	for i, d := range def {
		var resources []any
		for _, r := range listOf(d["Resource"]) {
			if r == "*" {
				resources = append(resources, r)
			} else {
				resources = append(resources, fill(r.(string)))
			}
		}
		out[i] = map[string]any{"Effect": "Allow", "Action": d["Action"], "Resource": resources}
	}
	return out
}

// eventSourceProperties are the properties of SAM event sources from which SAM writes the
// function's poller or sender policy: each must name one resource of the stack, or SAM's grant
// reaches beyond it.
var eventSourceProperties = map[string][]string{
	"SQS":             {"Queue"},
	"DynamoDB":        {"Stream"},
	"Kinesis":         {"Stream"},
	"EventBridgeRule": {"EventBusName"},
}

// checkEventGrants: the permissions SAM derives from a function's triggers and failure
// destinations are scoped to resources of the stack, since SAM writes them from these
// properties.
func checkEventGrants(tpl *samtemplate.Template) []string {
	var p problems
	ofStack := func(where string, v any) {
		if !namesOneResource(tpl, v) || !isReference(v) {
			p.addf("%s = %s, want a Ref or GetAtt of a resource of the stack", where, show(v))
		}
	}
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		f := function(tpl, id)
		events, _ := f["Events"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(events)) {
			ev := events[name]
			typ, _ := dig(ev, "Type").(string)
			for _, prop := range eventSourceProperties[typ] {
				if v := dig(ev, "Properties", prop); v != nil || typ != "EventBridgeRule" {
					ofStack(fmt.Sprintf("%s Events.%s.%s", id, name, prop), v)
				}
			}
			if d := dig(ev, "Properties", "DestinationConfig", "OnFailure", "Destination"); d != nil {
				ofStack(fmt.Sprintf("%s Events.%s OnFailure.Destination", id, name), d)
			}
			if d := dig(ev, "Properties", "DeadLetterConfig", "Arn"); d != nil {
				ofStack(fmt.Sprintf("%s Events.%s DeadLetterConfig.Arn", id, name), d)
			}
		}
		for _, when := range []string{"OnFailure", "OnSuccess"} {
			if d := dig(f, "EventInvokeConfig", "DestinationConfig", when, "Destination"); d != nil {
				ofStack(fmt.Sprintf("%s EventInvokeConfig %s.Destination", id, when), d)
			}
		}
	}
	return p
}

// isReference reports whether v is a Ref or Fn::GetAtt.
func isReference(v any) bool {
	m, ok := v.(map[string]any)
	return ok && (m["Ref"] != nil || m["Fn::GetAtt"] != nil)
}

// checkTrustPolicies: a role can be assumed by AWS services only, never by any principal.
func checkTrustPolicies(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range tpl.OfType("AWS::IAM::Role") {
		for _, s := range statementList(dig(tpl.Resources[id].Properties, "AssumeRolePolicyDocument", "Statement")) {
			if s["Effect"] != "Allow" {
				continue
			}
			if principal, ok := s["Principal"].(map[string]any); !ok || len(principal) != 1 || principal["Service"] == nil {
				p.addf("%s can be assumed by %s, want AWS services only", id, show(s["Principal"]))
			}
		}
	}
	return p
}

// checkResourcePolicies: an Allow in a queue, bucket, topic or bus policy grants named actions,
// never a whole service.
func checkResourcePolicies(tpl *samtemplate.Template) []string {
	var p problems
	for _, g := range resourceGrants(tpl) {
		if g.stmt["Effect"] != "Allow" {
			continue
		}
		if g.stmt["NotAction"] != nil || g.stmt["NotPrincipal"] != nil {
			p.addf("%s: an Allow with NotAction or NotPrincipal grants everything but what it names", g.where)
		}
		for _, a := range listOf(g.stmt["Action"]) {
			if wholeService(a) {
				p.addf("%s: Action %s grants every action", g.where, show(a))
			}
		}
		// A service acts for every account that uses it: a grant to one must name the
		// resource or account it acts for, or another account's resource could use it.
		if dig(g.stmt, "Principal", "Service") != nil {
			cond := g.stmt["Condition"]
			if !hasConditionKey(cond, "aws:SourceArn") && !hasConditionKey(cond, "aws:SourceAccount") {
				p.addf("%s: a grant to service %s without an aws:SourceArn or aws:SourceAccount condition", g.where, show(dig(g.stmt, "Principal", "Service")))
			}
		}
	}
	return p
}

// hasConditionKey reports whether a policy Condition tests key under any operator.
func hasConditionKey(cond any, key string) bool {
	for _, keys := range asMap(cond) {
		if _, ok := asMap(keys)[key]; ok {
			return true
		}
	}
	return false
}

// checkEncryptedAtRest: every store of the template encrypts what it holds.
func checkEncryptedAtRest(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range tpl.OfType("AWS::S3::Bucket") {
		algo := dig(tpl.Resources[id].Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm")
		if algo != "AES256" && algo != "aws:kms" && algo != "aws:kms:dsse" {
			p.addf("bucket %s: default encryption %s, want AES256 or aws:kms", id, show(algo))
		}
	}
	for _, id := range tpl.OfType("AWS::DynamoDB::Table") {
		if dig(tpl.Resources[id].Properties, "SSESpecification", "SSEEnabled") != true {
			p.addf("table %s: SSESpecification.SSEEnabled is not true", id)
		}
	}
	for _, id := range tpl.OfType("AWS::SQS::Queue") {
		q := tpl.Resources[id].Properties
		if q["SqsManagedSseEnabled"] != true && q["KmsMasterKeyId"] == nil {
			p.addf("queue %s: neither SqsManagedSseEnabled nor KmsMasterKeyId", id)
		}
	}
	for _, id := range tpl.OfType("AWS::SNS::Topic") {
		if tpl.Resources[id].Properties["KmsMasterKeyId"] == nil {
			p.addf("topic %s: no KmsMasterKeyId", id)
		}
	}
	encryptedStream := map[string]bool{}
	for _, id := range tpl.OfType("AWS::Kinesis::Stream") {
		if dig(tpl.Resources[id].Properties, "StreamEncryption", "EncryptionType") == "KMS" && dig(tpl.Resources[id].Properties, "StreamEncryption", "KeyId") != nil {
			encryptedStream[id] = true
		} else {
			p.addf("Kinesis stream %s: StreamEncryption is not KMS with a key", id)
		}
	}
	for _, id := range tpl.OfType("AWS::KinesisFirehose::DeliveryStream") {
		d := tpl.Resources[id].Properties
		switch d["DeliveryStreamType"] {
		case "KinesisStreamAsSource":
			// Firehose takes no SSE setting for a Kinesis source: the records are encrypted in
			// the source stream, which must be.
			src := asList(dig(d, "KinesisStreamSourceConfiguration", "KinesisStreamARN", "Fn::GetAtt"))
			if len(src) != 2 || !encryptedStream[fmt.Sprint(src[0])] {
				p.addf("delivery stream %s reads %s, not an encrypted Kinesis stream of the template", id, show(dig(d, "KinesisStreamSourceConfiguration", "KinesisStreamARN")))
			}
		default:
			if kt := dig(d, "DeliveryStreamEncryptionConfigurationInput", "KeyType"); kt != "AWS_OWNED_CMK" && kt != "CUSTOMER_MANAGED_CMK" {
				p.addf("delivery stream %s: DeliveryStreamEncryptionConfigurationInput.KeyType %s, want server-side encryption", id, show(kt))
			}
		}
	}
	return p
}

// checkTLSOnly: every queue and bucket has a policy that denies every action to anyone without
// TLS, covering the bucket's objects too.
func checkTLSOnly(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range tpl.OfType("AWS::SQS::Queue") {
		if !deniesInsecureTransport(tpl, "AWS::SQS::QueuePolicy", "Queues", ref(id), getAtt(id, "Arn")) {
			p.addf("queue %s: no policy denies requests without TLS", id)
		}
	}
	for _, id := range tpl.OfType("AWS::S3::Bucket") {
		if !deniesInsecureTransport(tpl, "AWS::S3::BucketPolicy", "Bucket", ref(id),
			getAtt(id, "Arn"), map[string]any{"Fn::Sub": "${" + id + ".Arn}/*"}) {
			p.addf("bucket %s: no policy denies requests without TLS to the bucket and its objects", id)
		}
	}
	// deniesInsecureTransport looks at principal, condition and resources; the deny must also
	// cover every action, or a request without TLS could still make the actions it leaves out.
	for _, g := range resourceGrants(tpl) {
		if g.stmt["Effect"] == "Deny" && dig(g.stmt, "Condition", "Bool", "aws:SecureTransport") == "false" {
			for _, a := range listOf(g.stmt["Action"]) {
				if !wholeService(a) {
					p.addf("%s: the TLS deny covers %s only, want every action", g.where, show(a))
				}
			}
		}
	}
	return p
}

// checkNoPublicAccess: buckets block public access in all four ways, and no resource policy
// allows everyone.
func checkNoPublicAccess(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range tpl.OfType("AWS::S3::Bucket") {
		p.want("bucket "+id+" PublicAccessBlockConfiguration", tpl.Resources[id].Properties["PublicAccessBlockConfiguration"], map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		})
	}
	for _, g := range resourceGrants(tpl) {
		if g.stmt["Effect"] == "Allow" && anyone(g.stmt["Principal"]) {
			p.addf("%s: allows %s to anyone", g.where, show(g.stmt["Action"]))
		}
	}
	return p
}

// checkFunctionEndpoints: no function can be invoked by anyone, through a permission or a
// function URL without IAM auth.
func checkFunctionEndpoints(tpl *samtemplate.Template) []string {
	var p problems
	for _, id := range tpl.OfType("AWS::Lambda::Permission") {
		if anyone(tpl.Resources[id].Properties["Principal"]) {
			p.addf("permission %s lets anyone invoke %s", id, show(tpl.Resources[id].Properties["FunctionName"]))
		}
	}
	for _, id := range tpl.OfType("AWS::Lambda::Url") {
		if tpl.Resources[id].Properties["AuthType"] != "AWS_IAM" {
			p.addf("function URL %s: AuthType %s, want AWS_IAM", id, show(tpl.Resources[id].Properties["AuthType"]))
		}
	}
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		if u := function(tpl, id)["FunctionUrlConfig"]; u != nil && dig(u, "AuthType") != "AWS_IAM" {
			p.addf("%s FunctionUrlConfig.AuthType %s, want AWS_IAM", id, show(dig(u, "AuthType")))
		}
	}
	return p
}

// anyone reports whether a policy principal is everyone: "*", or "*" among the AWS principals.
func anyone(principal any) bool {
	if principal == "*" {
		return true
	}
	return slices.Contains(listOf(dig(principal, "AWS")), any("*"))
}

// listOf is v as a list: v itself when it is one, else a one-element list, nil for nil.
func listOf(v any) []any {
	if v == nil {
		return nil
	}
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// statementList reads a policy's Statement, which IAM allows as one statement or a list.
func statementList(v any) []map[string]any {
	if m, ok := v.(map[string]any); ok {
		return []map[string]any{m}
	}
	return statements(v)
}
