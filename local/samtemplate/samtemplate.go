// Package samtemplate reads template.yaml as plain data: the short-form intrinsic functions
// (!Ref, !GetAtt, !Sub, …) become their long form ({"Ref": …}, {"Fn::GetAtt": […]}), and a
// function's properties are merged with the template's Globals as SAM merges them. The template
// tests and the local runner both read the template through it, so that nothing about the
// resources is restated in Go.
package samtemplate

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a SAM template as data.
type Template struct {
	Parameters map[string]map[string]any
	Conditions map[string]any
	Globals    map[string]map[string]any
	Resources  map[string]Resource
	Outputs    map[string]map[string]any
}

// Resource is one entry of Resources.
type Resource struct {
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string
	DependsOn  any
	// DeletionPolicy and UpdateReplacePolicy are what CloudFormation does with the resource
	// when the stack is deleted or the resource replaced ("" is CloudFormation's default).
	DeletionPolicy      string
	UpdateReplacePolicy string
}

// Load reads and decodes the template at path.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the template the operator names is the file to read
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse decodes a template from YAML (or JSON, which is YAML).
func Parse(b []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty template")
	}
	v, err := decode(doc.Content[0])
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template is not a mapping")
	}
	t := &Template{
		Parameters: mapOfMaps(root["Parameters"]),
		Globals:    mapOfMaps(root["Globals"]),
		Outputs:    mapOfMaps(root["Outputs"]),
		Resources:  map[string]Resource{},
	}
	t.Conditions, _ = root["Conditions"].(map[string]any)
	for id, raw := range asMap(root["Resources"]) {
		m := asMap(raw)
		r := Resource{Properties: asMap(m["Properties"]), Metadata: asMap(m["Metadata"]), DependsOn: m["DependsOn"]}
		r.Type, _ = m["Type"].(string)
		r.Condition, _ = m["Condition"].(string)
		r.DeletionPolicy, _ = m["DeletionPolicy"].(string)
		r.UpdateReplacePolicy, _ = m["UpdateReplacePolicy"].(string)
		t.Resources[id] = r
	}
	return t, nil
}

// OfType returns the logical IDs of the resources of type typ, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Function returns the properties of the AWS::Serverless::Function id merged with
// Globals.Function: maps merge key by key (the function's value wins), anything else is
// replaced by the function's value.
func (t *Template) Function(id string) (map[string]any, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != "AWS::Serverless::Function" {
		return nil, fmt.Errorf("no AWS::Serverless::Function %q in the template", id)
	}
	return mergeGlobals(t.Globals["Function"], r.Properties), nil
}

// Event returns the Properties of the function's event source named event, as written (intrinsic
// functions unresolved).
func (t *Template) Event(function, event string) (map[string]any, error) {
	fn, err := t.Function(function)
	if err != nil {
		return nil, err
	}
	evs, _ := fn["Events"].(map[string]any)
	ev, ok := evs[event].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s has no event %q in the template", function, event)
	}
	props, _ := ev["Properties"].(map[string]any)
	return props, nil
}

func mergeGlobals(global, own map[string]any) map[string]any {
	out := maps.Clone(global)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range own {
		gm, gok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if gok && ook {
			out[k] = mergeGlobals(gm, om)
			continue
		}
		out[k] = v
	}
	return out
}

func decode(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return decode(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := decode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := decode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		v = scalar(n)
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return int(i)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
		return strings.EqualFold(n.Value, "yes") || strings.EqualFold(n.Value, "on")
	case "!!null":
		return nil
	}
	return n.Value
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func mapOfMaps(v any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for k, x := range asMap(v) {
		out[k] = asMap(x)
	}
	return out
}

// Int reads a number the template may hold as an int, a float or a string (a resolved Ref to a
// Number parameter is a string), or def when v is none of them.
func Int(v any, def int) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return n
		}
	}
	return def
}
