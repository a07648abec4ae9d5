package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/stream-to-events/stream-to-events/bench/report"
)

// The packages of the hop benchmarks and of the JSON codec comparison.
var benchPackages = []string{
	"./internal/transform", "./internal/store", "./internal/emit",
	"./functions/eventresponder", "./functions/recordsapi", "./bench/report",
}

// goBenchmarks runs the hop benchmarks on one core (the goal is per core, and -cpu 1 keeps GC
// work on the measured thread), then encoding/json/v2 under GOEXPERIMENT=jsonv2, and keeps the
// raw output next to the report.
func goBenchmarks(ctx context.Context, o options, log *slog.Logger) ([]report.HopResult, []report.JSONResult, string, error) {
	count := strconv.Itoa(o.count)
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "500ms", "-count", count, "-cpu", "1"}, benchPackages...)
	out, err := goCommand(ctx, o.root, nil, args...)
	if err != nil {
		return nil, nil, "", err
	}
	log.Info("Go benchmarks done")
	v2, err := goCommand(ctx, o.root, []string{"GOEXPERIMENT=jsonv2"},
		"test", "-run", "^$", "-bench", "BenchmarkJSON/codec=json-v2", "-benchmem", "-benchtime", "500ms", "-count", count, "-cpu", "1", "./bench/report")
	if err != nil {
		log.Warn("encoding/json/v2 benchmark did not run", "error", err)
	}
	raw := append(out, v2...)
	if err := os.WriteFile(filepath.Join(o.out, "gobench.txt"), raw, 0o644); err != nil { // #nosec G306 -- a report committed to the repository, for anyone to read
		return nil, nil, "", err
	}
	bs, err := report.ParseGoBench(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, "", err
	}
	js, choice := report.JSONResults(bs)
	return report.HopResults(bs, report.Hops), js, choice, nil
}

func goCommand(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...) // #nosec G204 -- the go tool on PATH, with the benchmark arguments this command builds
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail, _ := io.ReadAll(io.LimitReader(&stderr, 4000))
		return stdout.Bytes(), fmt.Errorf("go %v: %w\n%s%s", args, err, stdout.String(), tail)
	}
	return stdout.Bytes(), nil
}
