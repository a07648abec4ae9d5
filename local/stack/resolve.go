package stack

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// noValue stands for AWS::NoValue while resolving: the map key or list element that holds it is
// dropped, as CloudFormation drops it.
type noValue struct{}

// resolver replaces intrinsic functions with local values. refs and attrs are filled by the
// stack before anything is resolved; attributes that only moto can tell (a table's StreamArn)
// are added once the resource exists.
type resolver struct {
	params     map[string]any            // parameter values: string, or []any for list types
	conditions map[string]any            // the template's Conditions, unevaluated
	evaluated  map[string]bool           // conditions already evaluated
	refs       map[string]any            // logical ID → what Ref returns
	attrs      map[string]map[string]any // logical ID → attribute → value
}

func (r *resolver) pseudo(name string) (any, bool) {
	switch name {
	case "AWS::Region":
		return region, true
	case "AWS::AccountId":
		return account, true
	case "AWS::StackName":
		return stackName, true
	case "AWS::StackId":
		return stackID, true
	case "AWS::Partition":
		return "aws", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::NotificationARNs":
		return []any{}, true
	case "AWS::NoValue":
		return noValue{}, true
	}
	return nil, false
}

// resolve returns v with every intrinsic function replaced.
func (r *resolver) resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					out, err := r.intrinsic(k, arg)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", k, err)
					}
					return out, nil
				}
			}
		}
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			val, err := r.resolve(x[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, drop := val.(noValue); !drop {
				out[k] = val
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			val, err := r.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if _, drop := val.(noValue); !drop {
				out = append(out, val)
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("want a name, got %v", arg)
		}
		return r.ref(name)
	case "Condition":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("want a condition name, got %v", arg)
		}
		return r.condition(name)
	case "Fn::GetAtt":
		var parts []string
		switch a := arg.(type) {
		case string:
			res, attr, _ := strings.Cut(a, ".")
			parts = []string{res, attr}
		case []any:
			resolved, err := r.resolve(a)
			if err != nil {
				return nil, err
			}
			for _, p := range resolved.([]any) {
				parts = append(parts, fmt.Sprint(p))
			}
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("want [resource, attribute], got %v", arg)
		}
		return r.getAtt(parts[0], parts[1])
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Join":
		args, err := r.args(arg, 2)
		if err != nil {
			return nil, err
		}
		list, ok := args[1].([]any)
		if !ok {
			return nil, fmt.Errorf("want a list to join, got %v", args[1])
		}
		strs := make([]string, 0, len(list))
		for _, e := range list {
			s, err := scalarString(e)
			if err != nil {
				return nil, err
			}
			strs = append(strs, s)
		}
		return strings.Join(strs, fmt.Sprint(args[0])), nil
	case "Fn::Select":
		args, err := r.args(arg, 2)
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(fmt.Sprint(args[0]))
		if err != nil {
			return nil, fmt.Errorf("index %v: %w", args[0], err)
		}
		list, ok := args[1].([]any)
		if !ok || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("index %d out of %v", i, args[1])
		}
		return list[i], nil
	case "Fn::Split":
		args, err := r.args(arg, 2)
		if err != nil {
			return nil, err
		}
		s, err := scalarString(args[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, fmt.Sprint(args[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::If":
		list, ok := arg.([]any)
		if !ok || len(list) != 3 {
			return nil, fmt.Errorf("want [condition, then, else], got %v", arg)
		}
		name, _ := list[0].(string)
		cond, err := r.condition(name)
		if err != nil {
			return nil, err
		}
		if cond {
			return r.resolve(list[1])
		}
		return r.resolve(list[2])
	case "Fn::Equals":
		args, err := r.args(arg, 2)
		if err != nil {
			return nil, err
		}
		a, errA := scalarString(args[0])
		b, errB := scalarString(args[1])
		if errA != nil || errB != nil {
			return fmt.Sprint(args[0]) == fmt.Sprint(args[1]), nil
		}
		return a == b, nil
	case "Fn::Not":
		args, err := r.args(arg, 1)
		if err != nil {
			return nil, err
		}
		b, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("want a condition, got %v", args[0])
		}
		return !b, nil
	case "Fn::And", "Fn::Or":
		args, err := r.args(arg, -1)
		if err != nil {
			return nil, err
		}
		result := fn == "Fn::And"
		for _, a := range args {
			b, ok := a.(bool)
			if !ok {
				return nil, fmt.Errorf("want a condition, got %v", a)
			}
			if fn == "Fn::And" {
				result = result && b
			} else {
				result = result || b
			}
		}
		return result, nil
	case "Fn::Base64":
		v, err := r.resolve(arg)
		if err != nil {
			return nil, err
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "Fn::GetAZs":
		return []any{region + "a", region + "b", region + "c"}, nil
	case "Fn::FindInMap":
		return nil, fmt.Errorf("mappings are not supported by the local runner")
	}
	return nil, fmt.Errorf("unsupported intrinsic function")
}

// args resolves a list argument and checks its length (n < 0: any length).
func (r *resolver) args(arg any, n int) ([]any, error) {
	v, err := r.resolve(arg)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok || (n >= 0 && len(list) != n) {
		return nil, fmt.Errorf("want a list of %d, got %v", n, arg)
	}
	return list, nil
}

func (r *resolver) ref(name string) (any, error) {
	if v, ok := r.pseudo(name); ok {
		return v, nil
	}
	if v, ok := r.params[name]; ok {
		return v, nil
	}
	if v, ok := r.refs[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("no parameter or resource %q", name)
}

func (r *resolver) getAtt(id, attr string) (any, error) {
	attrs, ok := r.attrs[id]
	if !ok {
		return nil, fmt.Errorf("no resource %q", id)
	}
	v, ok := attrs[attr]
	if !ok {
		return nil, fmt.Errorf("%s has no attribute %q locally (known: %s)", id, attr,
			strings.Join(slices.Sorted(maps.Keys(attrs)), ", "))
	}
	return v, nil
}

func (r *resolver) condition(name string) (bool, error) {
	if b, ok := r.evaluated[name]; ok {
		return b, nil
	}
	def, ok := r.conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	// Mark it first, so that a condition that refers to itself ends instead of recursing.
	r.evaluated[name] = false
	v, err := r.resolve(def)
	if err != nil {
		delete(r.evaluated, name)
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		delete(r.evaluated, name)
		return false, fmt.Errorf("condition %s is not a boolean: %v", name, v)
	}
	r.evaluated[name] = b
	return b, nil
}

// sub implements Fn::Sub in both forms: "string" and ["string", {var: value}].
func (r *resolver) sub(arg any) (any, error) {
	var tmpl string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("want [string, variables], got %v", arg)
		}
		s, ok := a[0].(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %v", a[0])
		}
		tmpl = s
		m, err := r.resolve(a[1])
		if err != nil {
			return nil, err
		}
		vm, ok := m.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a map of variables, got %v", a[1])
		}
		vars = vm
	default:
		return nil, fmt.Errorf("want a string or a list, got %v", arg)
	}
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		b.WriteString(tmpl[:i])
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed ${ in %q", tmpl)
		}
		name := tmpl[i+2 : i+j]
		tmpl = tmpl[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v = val
		} else if res, attr, ok := strings.Cut(name, "."); ok {
			v, err = r.getAtt(res, attr)
		} else {
			v, err = r.ref(name)
		}
		if err != nil {
			return nil, err
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("${%s}: %w", name, err)
		}
		b.WriteString(s)
	}
}

// scalarString is how CloudFormation turns a scalar into text inside Fn::Sub and Fn::Join.
func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("want a string, got %v", v)
}
