package lambdaproc

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// env is the environment of one of fn's processes, as Lambda builds it, less
// AWS_LAMBDA_RUNTIME_API, which is per process.
func (r *Runtime) env(fn spec.Function) []string {
	vars := map[string]string{}
	for k, v := range fn.Env {
		vars[k] = optPath(v, fn.Layers)
	}
	// What Lambda sets wins over the template: Lambda refuses these names as function
	// variables, and the edge relies on the access key being the logical ID.
	lambda := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        fn.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + fn.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      logStreamName(time.Now()),
		"AWS_LAMBDA_LOG_FORMAT":           "JSON",
		"AWS_REGION":                      spec.Region,
		"AWS_DEFAULT_REGION":              spec.Region,
		"AWS_ACCESS_KEY_ID":               fn.LogicalID,
		"AWS_SECRET_ACCESS_KEY":           "test",
		"AWS_XRAY_CONTEXT_MISSING":        "LOG_ERROR",
		"LAMBDA_TASK_ROOT":                taskRoot(fn),
		"_HANDLER":                        "bootstrap",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            os.Getenv("PATH"),
	}
	if fn.LogFormat != "" {
		lambda["AWS_LAMBDA_LOG_FORMAT"] = fn.LogFormat
	}
	if fn.LogLevel != "" {
		lambda["AWS_LAMBDA_LOG_LEVEL"] = fn.LogLevel
	}
	if r.opts.Endpoint != "" {
		lambda["AWS_ENDPOINT_URL"] = r.opts.Endpoint
	}
	if r.opts.XRayDaemonAddr != "" {
		lambda["AWS_XRAY_DAEMON_ADDRESS"] = r.opts.XRayDaemonAddr
	}
	maps.Copy(vars, lambda)
	out := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// taskRoot is where Lambda puts the function's code: the bootstrap's directory.
func taskRoot(fn spec.Function) string {
	dir, err := filepath.Abs(filepath.Dir(fn.Bootstrap))
	if err != nil {
		return filepath.Dir(fn.Bootstrap)
	}
	return dir
}

// optPath rewrites a value that is /opt or a path under it to the layer directory that holds
// it: Lambda merges all layers into /opt, so the first layer (by logical ID) that has the path
// wins; when none has it, the first layer stands for /opt. Other values pass unchanged.
func optPath(v string, layers map[string]string) string {
	if len(layers) == 0 || (v != "/opt" && !strings.HasPrefix(v, "/opt/")) {
		return v
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(v, "/opt"), "/")
	ids := slices.Sorted(maps.Keys(layers))
	for _, id := range ids {
		candidate := filepath.Join(layers[id], rest)
		if _, err := os.Stat(candidate); err == nil {
			return candidate
		}
	}
	return filepath.Join(layers[ids[0]], rest)
}

// logStreamName is Lambda's: date/[version]random.
func logStreamName(now time.Time) string {
	return now.UTC().Format("2006/01/02") + "/[$LATEST]" + spec.RandomHex(16)
}
