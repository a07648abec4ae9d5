// Package awsclient is the one place AWS SDK clients get their configuration: the default chain,
// AWS_ENDPOINT_URL (which the local runner and the tests set to a local endpoint), and X-Ray
// instrumentation of every call.
package awsclient

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// Config loads the SDK configuration for a function or a tool. The SDK reads AWS_ENDPOINT_URL
// itself; it is read here too so that callers can tell a local endpoint from AWS.
func Config(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	trace.Instrument(&cfg)
	return cfg, nil
}

// MustEnv returns the named environment variables, or an error naming every one that is missing,
// so that a function fails at start-up rather than on its first record.
func MustEnv(names ...string) (map[string]string, error) {
	values := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		values[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing configuration: environment variable(s) %v not set", missing)
	}
	return values, nil
}
