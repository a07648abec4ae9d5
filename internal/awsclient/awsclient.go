// Package awsclient is the one place AWS SDK clients get their configuration: the default chain,
// AWS_ENDPOINT_URL (which the local runner and the tests set to a local endpoint), and X-Ray
// instrumentation of every call. Start is where a function that calls AWS reads, once, the
// configuration it serves with.
package awsclient

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/stream-to-events/stream-to-events/internal/logging"
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

// lookupEnv returns the named environment variables, or an error naming every one that is missing,
// so that a function fails at start-up rather than on its first record.
func lookupEnv(names ...string) (map[string]string, error) {
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

// Function is what a function that calls AWS needs before it can serve.
type Function struct {
	Logger *slog.Logger      // JSON logs on stdout, and the default logger
	Env    map[string]string // the environment variables named to Start, every one set
	Config aws.Config        // what its SDK clients are built from
}

// Start reads a function's configuration: the environment variables it names and the SDK
// configuration. When either is missing it ends the process (logging.Must), before Lambda hands
// it an invocation.
func Start(env ...string) Function {
	logger := logging.New(os.Stdout)
	return Function{
		Logger: logger,
		Env:    logging.Must(lookupEnv(env...)),
		Config: logging.Must(Config(context.Background())),
	}
}
