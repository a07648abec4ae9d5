package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/metrics"
	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// Handler serves the records API to API Gateway's proxy integration.
type Handler struct {
	API    http.Handler
	Logger *slog.Logger
}

// Handle answers one API request. Every outcome, a 4xx or a 5xx included, is a proxy response
// and not an invocation error: API Gateway would turn an invocation error into a bare 502.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	ctx, span := trace.Start(ctx, metrics.HopAPI)
	span.Annotate("route", ev.Resource)
	if typ := ev.PathParameters["type"]; typ != "" && len(typ) <= 64 {
		span.Annotate("type", typ)
	}
	resp := serveProxy(ctx, h.API, ev)
	var err error
	if resp.StatusCode >= 500 {
		err = fmt.Errorf("%s %s: status %d", ev.HTTPMethod, ev.Resource, resp.StatusCode)
	}
	span.End(err)
	logging.For(ctx, h.Logger).InfoContext(ctx, "request",
		"method", ev.HTTPMethod, "route", ev.Resource, "path", ev.Path,
		"status", resp.StatusCode, "apiRequestId", ev.RequestContext.RequestID)
	return resp, nil
}
