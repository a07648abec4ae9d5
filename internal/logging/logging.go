// Package logging gives every function the same structured JSON logs: Lambda's field names
// (timestamp, level, message), the request ID of the invocation, and a level taken from the
// function's logging configuration (AWS_LAMBDA_LOG_LEVEL); and one way for a function to end a
// start-up that cannot go on (Must).
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// New returns a JSON logger writing to w, and makes it the default logger.
func New(w io.Writer) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level(os.Getenv("AWS_LAMBDA_LOG_LEVEL")),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				a.Key = "timestamp"
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	})
	l := slog.New(h)
	if fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); fn != "" {
		l = l.With("function", fn)
	}
	slog.SetDefault(l)
	return l
}

func level(s string) slog.Level {
	switch strings.ToUpper(s) {
	case "DEBUG", "TRACE":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// For returns l with the Lambda request ID of ctx, when ctx is an invocation's context.
func For(ctx context.Context, l *slog.Logger) *slog.Logger {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return l.With("requestId", lc.AwsRequestID)
	}
	return l
}

// Must returns v, or ends a function's start-up when err is not nil: it logs err with the
// default logger (New sets it) and exits 1. Lambda then reports an init error and starts the
// next invocation in a new process, instead of invoking a function that is missing what it
// serves with.
func Must[T any](v T, err error) T {
	if err != nil {
		slog.Error("start-up", "error", err)
		os.Exit(1)
	}
	return v
}
