// Package stack is the local runner's stand-in for CloudFormation: it reads template.yaml, gives
// every resource a physical name as CloudFormation would, resolves intrinsic functions to local
// values, and creates in moto_server the resources that moto can hold (buckets, queues, tables,
// buses, rules, streams). Nothing about the resources is restated in Go: what is created, and
// with which attributes, comes from the template.
package stack

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

const (
	region    = spec.Region
	account   = spec.Account
	stackName = spec.StackName
)

// stackID is fixed, so that a stack provisioned twice has the same identity.
var stackID = "arn:aws:cloudformation:" + region + ":" + account + ":stack/" + stackName + "/" + uuidFor(stackName)

// Options say where the stack's local pieces are.
type Options struct {
	// BuildDir holds what `make build-<LogicalID> ARTIFACTS_DIR=<BuildDir>/<LogicalID>` built: a
	// function's bootstrap, a layer's /opt content.
	BuildDir string
	// Endpoint is the edge URL the SDK clients use; queue URLs are made with it.
	Endpoint string
	// APIURL is the local REST API (start-api); Outputs that name the API's execute-api URL
	// name this instead.
	APIURL string
	// Parameters override the template's parameter defaults.
	Parameters map[string]string
}

// Stack is the template resolved to local values. Its methods are safe for concurrent use.
type Stack struct {
	tmpl *samtemplate.Template
	opts Options

	mu  sync.Mutex // guards res, whose attributes grow while provisioning
	res *resolver

	types     map[string]string // logical ID → resource type, of the resources that exist
	functions map[string]spec.Function
	rules     []rule
	apiIDs    map[string]bool
}

// rule is an EventBridge rule the stack creates in moto.
type rule struct {
	spec.RuleTarget
	pattern string // JSON
	// targets are the rule's own targets when it is an AWS::Events::Rule resource (resolved);
	// a SAM EventBridgeRule event targets the delivery queue only.
	targets []any
}

var _ spec.Stack = (*Stack)(nil)
var _ spec.RuleTargets = (*Stack)(nil)

// New resolves the template's names and values. It creates nothing: Provision does.
func New(t *samtemplate.Template, opts Options) (*Stack, error) {
	s := &Stack{
		tmpl:   t,
		opts:   opts,
		types:  map[string]string{},
		apiIDs: map[string]bool{},
		res: &resolver{
			params:     map[string]any{},
			conditions: t.Conditions,
			evaluated:  map[string]bool{},
			refs:       map[string]any{},
			attrs:      map[string]map[string]any{},
		},
	}
	if err := s.parameters(); err != nil {
		return nil, err
	}
	// Evaluate every condition now, so that resolving later only reads.
	for _, name := range slices.Sorted(maps.Keys(t.Conditions)) {
		if _, err := s.res.condition(name); err != nil {
			return nil, err
		}
	}
	if err := s.names(); err != nil {
		return nil, err
	}
	if err := s.resolveFunctions(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) parameters() error {
	for name, p := range s.tmpl.Parameters {
		var v string
		if o, ok := s.opts.Parameters[name]; ok {
			v = o
		} else if d, ok := p["Default"]; ok {
			str, err := scalarString(d)
			if err != nil {
				return fmt.Errorf("parameter %s default: %w", name, err)
			}
			v = str
		} else {
			return fmt.Errorf("parameter %s has no default and no value was given", name)
		}
		if allowed, ok := p["AllowedValues"].([]any); ok && len(allowed) > 0 {
			found := false
			for _, a := range allowed {
				if as, _ := scalarString(a); as == v {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("parameter %s: %q is not one of %v", name, v, allowed)
			}
		}
		typ, _ := p["Type"].(string)
		if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			var list []any
			for _, e := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(e))
			}
			s.res.params[name] = list
			continue
		}
		s.res.params[name] = v
	}
	for name := range s.opts.Parameters {
		if _, ok := s.tmpl.Parameters[name]; !ok {
			return fmt.Errorf("parameter override %s: the template has no such parameter", name)
		}
	}
	return nil
}

// exists reports whether a resource's Condition (if any) holds.
func (s *Stack) exists(r samtemplate.Resource) (bool, error) {
	if r.Condition == "" {
		return true, nil
	}
	return s.res.condition(r.Condition)
}

// names gives every resource its physical name, its Ref value and the attributes that can be
// known before it exists.
func (s *Stack) names() error {
	var pending []string
	for _, id := range slices.Sorted(maps.Keys(s.tmpl.Resources)) {
		ok, err := s.exists(s.tmpl.Resources[id])
		if err != nil {
			return fmt.Errorf("resource %s: %w", id, err)
		}
		if ok {
			pending = append(pending, id)
		}
	}
	// A name may refer to another resource's (a log group named after its function): name in
	// rounds until every name that can be made is made.
	for len(pending) > 0 {
		var failed []string
		var errs []error
		for _, id := range pending {
			if err := s.name(id, s.tmpl.Resources[id]); err != nil {
				failed = append(failed, id)
				errs = append(errs, fmt.Errorf("resource %s: %w", id, err))
			}
		}
		if len(failed) == len(pending) {
			return errors.Join(errs...)
		}
		pending = failed
	}
	// SAM's implicit resources: a function's role when it names none, and a rule per
	// EventBridgeRule event.
	err := s.eachFunction(func(id string, props map[string]any) error {
		if _, ok := props["Role"]; !ok {
			role := id + "Role"
			if _, taken := s.types[role]; !taken {
				if err := s.name(role, samtemplate.Resource{Type: "AWS::IAM::Role"}); err != nil {
					return err
				}
			}
		}
		events, _ := props["Events"].(map[string]any)
		for _, ev := range slices.Sorted(maps.Keys(events)) {
			e, _ := events[ev].(map[string]any)
			switch e["Type"] {
			case "EventBridgeRule":
				if err := s.samRule(id, ev, e); err != nil {
					return fmt.Errorf("function %s event %s: %w", id, ev, err)
				}
			case "Api":
				if p, _ := e["Properties"].(map[string]any); p["RestApiId"] == nil {
					if _, taken := s.types["ServerlessRestApi"]; !taken {
						if err := s.name("ServerlessRestApi", samtemplate.Resource{Type: "AWS::Serverless::Api"}); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range s.tmpl.OfType("AWS::Events::Rule") {
		if _, ok := s.types[id]; !ok {
			continue
		}
		if err := s.explicitRule(id); err != nil {
			return fmt.Errorf("rule %s: %w", id, err)
		}
	}
	return nil
}

// nameProperty is the property in which a resource type takes an explicit physical name.
var nameProperty = map[string]string{
	"AWS::S3::Bucket":                      "BucketName",
	"AWS::SQS::Queue":                      "QueueName",
	"AWS::DynamoDB::Table":                 "TableName",
	"AWS::Events::EventBus":                "Name",
	"AWS::Events::Rule":                    "Name",
	"AWS::Kinesis::Stream":                 "Name",
	"AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
	"AWS::Serverless::Function":            "FunctionName",
	"AWS::Lambda::Function":                "FunctionName",
	"AWS::Serverless::LayerVersion":        "LayerName",
	"AWS::Lambda::LayerVersion":            "LayerName",
	"AWS::IAM::Role":                       "RoleName",
	"AWS::Logs::LogGroup":                  "LogGroupName",
	"AWS::Serverless::Api":                 "Name",
}

// maxName is the longest physical name a resource type takes.
var maxName = map[string]int{
	"AWS::S3::Bucket":                      63,
	"AWS::SQS::Queue":                      80,
	"AWS::DynamoDB::Table":                 255,
	"AWS::Events::EventBus":                256,
	"AWS::Events::Rule":                    64,
	"AWS::Kinesis::Stream":                 128,
	"AWS::KinesisFirehose::DeliveryStream": 64,
	"AWS::Serverless::Function":            64,
	"AWS::Lambda::Function":                64,
	"AWS::IAM::Role":                       64,
}

func (s *Stack) name(id string, r samtemplate.Resource) error {
	var name string
	if prop := nameProperty[r.Type]; prop != "" && r.Properties[prop] != nil {
		v, err := s.res.resolve(r.Properties[prop])
		if err != nil {
			return fmt.Errorf("%s: %w", prop, err)
		}
		if name, err = scalarString(v); err != nil {
			return fmt.Errorf("%s: %w", prop, err)
		}
	} else {
		max := maxName[r.Type]
		if max == 0 {
			max = 128
		}
		fifo := r.Type == "AWS::SQS::Queue" && truthy(r.Properties["FifoQueue"])
		if fifo {
			max -= len(".fifo")
		}
		name = PhysicalName(id, max)
		if r.Type == "AWS::S3::Bucket" {
			name = strings.ToLower(name)
		}
		if fifo {
			name += ".fifo"
		}
	}
	arn := func(service, resource string) string {
		return "arn:aws:" + service + ":" + region + ":" + account + ":" + resource
	}
	attrs := map[string]any{}
	var ref any = name
	switch r.Type {
	case "AWS::S3::Bucket":
		attrs["Arn"] = "arn:aws:s3:::" + name
		attrs["DomainName"] = name + ".s3.amazonaws.com"
		attrs["RegionalDomainName"] = name + ".s3." + region + ".amazonaws.com"
		attrs["DualStackDomainName"] = name + ".s3.dualstack." + region + ".amazonaws.com"
		attrs["WebsiteURL"] = "http://" + name + ".s3-website-" + region + ".amazonaws.com"
	case "AWS::SQS::Queue":
		url := strings.TrimRight(s.opts.Endpoint, "/") + "/" + account + "/" + name
		ref = url
		attrs["Arn"] = arn("sqs", name)
		attrs["QueueName"] = name
		attrs["QueueUrl"] = url
	case "AWS::DynamoDB::Table":
		attrs["Arn"] = arn("dynamodb", "table/"+name)
		// StreamArn is moto's to tell: Provision adds it.
	case "AWS::Events::EventBus":
		attrs["Arn"] = arn("events", "event-bus/"+name)
		attrs["Name"] = name
	case "AWS::Events::Rule":
		attrs["Arn"] = arn("events", "rule/"+name)
	case "AWS::Kinesis::Stream":
		attrs["Arn"] = arn("kinesis", "stream/"+name)
	case "AWS::KinesisFirehose::DeliveryStream":
		attrs["Arn"] = arn("firehose", "deliverystream/"+name)
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		attrs["Arn"] = arn("lambda", "function:"+name)
	case "AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion":
		ref = arn("lambda", "layer:"+name+":1")
	case "AWS::Serverless::Api", "AWS::ApiGateway::RestApi":
		apiID := strings.ToLower(suffix(id))[:10]
		ref = apiID
		attrs["RootResourceId"] = strings.ToLower(suffix(id + "/"))[:10]
		s.apiIDs[apiID] = true
	case "AWS::IAM::Role":
		attrs["Arn"] = "arn:aws:iam::" + account + ":role/" + name
		attrs["RoleId"] = "AROA" + suffix(id)
	case "AWS::IAM::ManagedPolicy":
		ref = "arn:aws:iam::" + account + ":policy/" + name
	case "AWS::Logs::LogGroup":
		attrs["Arn"] = arn("logs", "log-group:"+name+":*")
	case "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::IAM::Policy":
		ref = suffix(id)
	}
	s.types[id] = r.Type
	s.res.refs[id] = ref
	s.res.attrs[id] = attrs
	return nil
}

// PhysicalName is the name CloudFormation-style naming gives a resource without an explicit
// name: "<stack>-<LogicalID>-<suffix>", the logical ID cut short to fit max. The suffix is
// derived from the logical ID, so that the same template gets the same names on every start and
// a command pointed at a running runner finds its resources.
func PhysicalName(logicalID string, max int) string {
	sfx := suffix(logicalID)
	base := stackName + "-" + logicalID
	if room := max - len(sfx) - 1; len(base) > room {
		base = base[:room]
	}
	return base + "-" + sfx
}

// suffix is 12 characters from [A-Z0-9], like CloudFormation's, but deterministic.
func suffix(key string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	h := sha256.Sum256([]byte(stackName + "/" + key))
	b := make([]byte, 12)
	for i := range b {
		b[i] = alphabet[int(h[i])%len(alphabet)]
	}
	return string(b)
}

func uuidFor(key string) string {
	h := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	}
	return false
}

// samRule names the rule SAM makes for an EventBridgeRule event and the runner's delivery queue
// that stands for its function target.
func (s *Stack) samRule(fnID, event string, e map[string]any) error {
	props, _ := e["Properties"].(map[string]any)
	ruleID := fnID + event
	res := samtemplate.Resource{Type: "AWS::Events::Rule", Properties: map[string]any{}}
	if props["RuleName"] != nil {
		res.Properties["Name"] = props["RuleName"]
	}
	if err := s.name(ruleID, res); err != nil {
		return err
	}
	bus := "default"
	if props["EventBusName"] != nil {
		v, err := s.res.resolve(props["EventBusName"])
		if err != nil {
			return fmt.Errorf("EventBusName: %w", err)
		}
		if bus, err = scalarString(v); err != nil {
			return fmt.Errorf("EventBusName: %w", err)
		}
	}
	pattern, err := s.res.resolve(props["Pattern"])
	if err != nil {
		return fmt.Errorf("pattern: %w", err)
	}
	return s.addRule(ruleID, fnID, event, bus, pattern, nil)
}

// explicitRule names an AWS::Events::Rule resource's delivery queue when one of its targets is
// a function of the stack.
func (s *Stack) explicitRule(id string) error {
	props := s.tmpl.Resources[id].Properties
	resolved, err := s.res.resolve(props)
	if err != nil {
		return err
	}
	p := resolved.(map[string]any)
	bus := "default"
	if b, ok := p["EventBusName"].(string); ok {
		// EventBusName may be a name or an ARN.
		bus = b[strings.LastIndex(b, "/")+1:]
	}
	targets, _ := p["Targets"].([]any)
	fnID := ""
	var others []any
	for _, t := range targets {
		tm, _ := t.(map[string]any)
		if f, ok := s.functionByARN(fmt.Sprint(tm["Arn"])); ok {
			fnID = f
			continue
		}
		others = append(others, t)
	}
	if p["EventPattern"] == nil {
		return nil // a schedule: nothing to match locally
	}
	return s.addRule(id, fnID, "", bus, p["EventPattern"], others)
}

func (s *Stack) addRule(ruleID, fnID, event, bus string, pattern any, targets []any) error {
	pat, err := json.Marshal(pattern)
	if err != nil {
		return fmt.Errorf("pattern: %w", err)
	}
	if bus == "" {
		bus = "default"
	}
	name := s.res.refs[ruleID].(string)
	ruleARN := "arn:aws:events:" + region + ":" + account + ":rule/" + name
	if bus != "default" {
		// CloudFormation's Ref of a rule on a custom bus is "bus|name".
		s.res.refs[ruleID] = bus + "|" + name
		ruleARN = "arn:aws:events:" + region + ":" + account + ":rule/" + bus + "/" + name
	}
	s.res.attrs[ruleID]["Arn"] = ruleARN
	r := rule{
		RuleTarget: spec.RuleTarget{FunctionID: fnID, EventName: event, RuleName: name, RuleARN: ruleARN, BusName: bus},
		pattern:    string(pat),
		targets:    targets,
	}
	if fnID != "" {
		q := PhysicalName(ruleID+"Delivery", 80)
		r.QueueURL = strings.TrimRight(s.opts.Endpoint, "/") + "/" + account + "/" + q
		r.QueueARN = "arn:aws:sqs:" + region + ":" + account + ":" + q
	}
	s.rules = append(s.rules, r)
	return nil
}

func (s *Stack) functionByARN(arn string) (string, bool) {
	for id, typ := range s.types {
		if typ != "AWS::Serverless::Function" && typ != "AWS::Lambda::Function" {
			continue
		}
		name, _ := s.res.refs[id].(string)
		if arn == s.res.attrs[id]["Arn"] || arn == name || arn == id {
			return id, true
		}
	}
	return "", false
}

// resolveFunctions builds spec.Function for every AWS::Serverless::Function.
func (s *Stack) resolveFunctions() error {
	s.functions = map[string]spec.Function{}
	return s.eachFunction(func(id string, props map[string]any) error {
		f := spec.Function{
			LogicalID: id,
			Name:      s.res.refs[id].(string),
			ARN:       s.res.attrs[id]["Arn"].(string),
			Bootstrap: filepath.Join(s.opts.BuildDir, id, "bootstrap"),
			Env:       map[string]string{},
			Timeout:   3 * time.Second,
			MemoryMB:  128,
			Layers:    map[string]string{},
		}
		if env, ok := props["Environment"].(map[string]any); ok {
			vars, err := s.res.resolve(env["Variables"])
			if err != nil {
				return fmt.Errorf("function %s Environment: %w", id, err)
			}
			vm, _ := vars.(map[string]any)
			for k, v := range vm {
				str, err := scalarString(v)
				if err != nil {
					return fmt.Errorf("function %s Environment %s: %w", id, k, err)
				}
				f.Env[k] = str
			}
		}
		if props["Timeout"] != nil {
			n, err := s.number(props["Timeout"])
			if err != nil {
				return fmt.Errorf("function %s Timeout: %w", id, err)
			}
			f.Timeout = time.Duration(n) * time.Second
		}
		if props["MemorySize"] != nil {
			n, err := s.number(props["MemorySize"])
			if err != nil {
				return fmt.Errorf("function %s MemorySize: %w", id, err)
			}
			f.MemoryMB = n
		}
		layers, _ := props["Layers"].([]any)
		for _, l := range layers {
			if ref, ok := l.(map[string]any)["Ref"].(string); ok {
				if typ := s.types[ref]; typ == "AWS::Serverless::LayerVersion" || typ == "AWS::Lambda::LayerVersion" {
					f.Layers[ref] = filepath.Join(s.opts.BuildDir, ref)
				}
			}
		}
		s.functions[id] = f
		return nil
	})
}

// eachFunction calls fn with each AWS::Serverless::Function the stack creates and its
// properties, Globals applied, until fn fails.
func (s *Stack) eachFunction(fn func(id string, props map[string]any) error) error {
	for _, id := range s.tmpl.OfType("AWS::Serverless::Function") {
		if _, ok := s.types[id]; !ok {
			continue
		}
		props, err := s.tmpl.Function(id)
		if err != nil {
			return err
		}
		if err := fn(id, props); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) number(v any) (int, error) {
	r, err := s.res.resolve(v)
	if err != nil {
		return 0, err
	}
	str, err := scalarString(r)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", str)
	}
	return int(f), nil
}

// Template is template.yaml as read.
func (s *Stack) Template() *samtemplate.Template { return s.tmpl }

// Resolve replaces intrinsic functions in v with the local stack's values.
func (s *Stack) Resolve(v any) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res.resolve(v)
}

// Functions are the template's functions by logical ID.
func (s *Stack) Functions() map[string]spec.Function { return maps.Clone(s.functions) }

// FunctionByARN finds a function by its ARN, name or logical ID (a qualifier is ignored).
func (s *Stack) FunctionByARN(arn string) (spec.Function, bool) {
	// arn:aws:lambda:region:account:function:name[:qualifier]
	if parts := strings.Split(arn, ":"); len(parts) == 8 && parts[5] == "function" {
		arn = strings.Join(parts[:7], ":")
	}
	for _, f := range s.functions {
		if arn == f.ARN || arn == f.Name || arn == f.LogicalID {
			return f, true
		}
	}
	return spec.Function{}, false
}

// Endpoint is the edge URL that SDK clients use.
func (s *Stack) Endpoint() string { return s.opts.Endpoint }

// RuleTargets lists the rules that deliver to functions, with their delivery queues.
func (s *Stack) RuleTargets() []spec.RuleTarget {
	var out []spec.RuleTarget
	for _, r := range s.rules {
		if r.FunctionID != "" {
			out = append(out, r.RuleTarget)
		}
	}
	return out
}

// PhysicalID is what Ref gives for a resource: its name, or a queue's URL.
func (s *Stack) PhysicalID(logicalID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.res.refs[logicalID].(string)
	return v, ok
}

// QueueURL gives the URL of a queue of the stack, or of a rule's delivery queue, by its ARN.
func (s *Stack) QueueURL(arn string) (string, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return "", false
	}
	return strings.TrimRight(s.opts.Endpoint, "/") + "/" + parts[4] + "/" + parts[5], true
}

// Output is one of the stack's Outputs, resolved.
type Output struct {
	Key, Value, Description, ExportName string
}

// apiURL matches the URL an Output builds for an API Gateway stage.
var apiURL = regexp.MustCompile(`https://([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com/[A-Za-z0-9_-]+`)

// Outputs are the template's Outputs with local values, sorted by key. An execute-api URL of the
// stack's API becomes the local API's URL.
func (s *Stack) Outputs() ([]Output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Output
	for _, key := range slices.Sorted(maps.Keys(s.tmpl.Outputs)) {
		o := s.tmpl.Outputs[key]
		if c, ok := o["Condition"].(string); ok {
			holds, err := s.res.condition(c)
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", key, err)
			}
			if !holds {
				continue
			}
		}
		v, err := s.res.resolve(o["Value"])
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", key, err)
		}
		value, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", key, err)
		}
		if s.opts.APIURL != "" {
			value = apiURL.ReplaceAllStringFunc(value, func(m string) string {
				if s.apiIDs[apiURL.FindStringSubmatch(m)[1]] {
					return strings.TrimRight(s.opts.APIURL, "/")
				}
				return m
			})
		}
		desc, _ := o["Description"].(string)
		item := Output{Key: key, Value: value, Description: desc}
		if exp, ok := o["Export"].(map[string]any); ok && exp["Name"] != nil {
			n, err := s.res.resolve(exp["Name"])
			if err != nil {
				return nil, fmt.Errorf("output %s export: %w", key, err)
			}
			item.ExportName, _ = scalarString(n)
		}
		out = append(out, item)
	}
	return out, nil
}

// ParameterValues are the parameters the stack was made with, list parameters joined by commas.
func (s *Stack) ParameterValues() map[string]string {
	out := map[string]string{}
	for k, v := range s.res.params {
		if list, ok := v.([]any); ok {
			strs := make([]string, len(list))
			for i, e := range list {
				strs[i] = fmt.Sprint(e)
			}
			out[k] = strings.Join(strs, ",")
			continue
		}
		out[k] = fmt.Sprint(v)
	}
	return out
}

// StackID is the local stack's ARN.
func (s *Stack) StackID() string { return stackID }
