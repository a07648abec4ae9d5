// Command bench measures stream-to-events against the original per-record design and writes one
// report: the hop benchmarks (ns and allocations per record), the AWS calls of a real local run
// split by design, each bootstrap's size, init time and peak memory, the local end-to-end
// throughput and latency, the rate past which one busy entity's latency grows, and the cost per
// million records from bench/prices.json.
//
//	go run ./cmd/bench [-records 1000] [-count 3] [-out bench]
//
// `make bench` runs it. It prints the markdown report and writes <out>/report.md and
// <out>/chart.png.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/bench/report"
	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
)

type options struct {
	root, out, prices string
	readme            string
	records, count    int
	starts            int
	skipGoBench       bool
	skipLocal         bool
	timeout           time.Duration
	hotRates          []float64     // records/s of the hot-entity case's steps; none skips it
	hotStep           time.Duration // how long each of them is sent for
	quiet             *slog.Logger  // the local runner's own logs: warnings and errors only
}

func main() {
	ctx, stop := cli.SignalContext()
	defer stop()
	if code := cli.Exit("bench", run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr); code != 0 {
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench", "Usage: bench [flags]\n\nMeasures the hops and the local run, and writes bench/report.{json,md}, the chart and the README's performance table.", stderr)
	var o options
	fs.StringVar(&o.root, "root", ".", "the repository root (template.yaml, Makefile)")
	fs.StringVar(&o.out, "out", "bench", "where report.md and chart.png go")
	fs.StringVar(&o.prices, "prices", "bench/prices.json", "the cited price list")
	fs.StringVar(&o.readme, "readme", "README.md", "the README whose performance table this run rewrites (\"\" leaves it)")
	fs.IntVar(&o.records, "records", 300, "records sent through the local run (and the baseline)")
	fs.IntVar(&o.count, "count", 5, "runs of each Go benchmark (the report takes medians)")
	fs.IntVar(&o.starts, "starts", 7, "cold starts per function for the init time")
	fs.BoolVar(&o.skipGoBench, "skip-go-bench", false, "leave the Go benchmarks out")
	fs.BoolVar(&o.skipLocal, "skip-local", false, "leave the local run out (calls, memory, latency, init)")
	fs.DurationVar(&o.timeout, "timeout", 150*time.Second, "give up waiting for the local run's records after this")
	hotRates := fs.String("hot-rates", "5,10,20,40,60,80,120", "records/s at which the hot-entity case sends one entity's records, rising (\"\" skips it)")
	fs.DurationVar(&o.hotStep, "hot-step", 15*time.Second, "how long the hot-entity case sends at each rate")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	rates, err := parseRates(*hotRates)
	if err != nil {
		return fmt.Errorf("-hot-rates: %w", err)
	}
	o.hotRates = rates
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o.quiet = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	o.out, o.prices = underRoot(o.root, o.out), underRoot(o.root, o.prices)
	if o.readme != "" {
		o.readme = underRoot(o.root, o.readme)
	}
	prices, err := report.LoadPrices(o.prices)
	if err != nil {
		return err
	}
	rep := report.Report{
		Generated:  time.Now(),
		Machine:    fmt.Sprintf("%s/%s, %d CPUs, load average %s at the start", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadAverage()),
		GoVersion:  runtime.Version(),
		BenchCount: o.count,
		Prices:     prices,
	}

	// The local run first, while the machine is otherwise idle: its latency is the most
	// sensitive figure.
	var local localResult
	if _, err := exec.LookPath("moto_server"); err != nil && !o.skipLocal {
		o.skipLocal = true
		rep.Notes = append(rep.Notes, `moto_server is not on PATH, so the local run (calls, memory, latency, init) was left out: pip install -r local/motoserver/requirements.txt and rerun.`)
		log.Warn("moto_server not found: no local run")
	}
	if !o.skipLocal {
		local, err = runLocal(ctx, o, log)
		if err != nil {
			return fmt.Errorf("local run: %w", err)
		}
		rep.Records, rep.Unique = local.records, local.unique
		rep.Calls = local.calls
		rep.Functions = local.functions
		rep.FullBatches = local.fullBatches
		rep.Elapsed, rep.Throughput, rep.Latency = local.elapsed, local.throughput, local.latency
		rep.BaselineTime = local.baselineTime
		rep.HotEntity = local.hotEntity
		rep.Notes = append(rep.Notes, local.notes...)
	}
	rep.Bootstraps, err = bootstraps(ctx, o.root, local.inits, log)
	if err != nil {
		return err
	}

	if !o.skipGoBench {
		hops, jsonResults, choice, err := goBenchmarks(ctx, o, log)
		if err != nil {
			return err
		}
		rep.Hops, rep.JSON, rep.JSONChoice = hops, jsonResults, choice
	}

	rep.Sizes = local.sizes
	rep.Floor, rep.Design, rep.Baseline, rep.Assumptions = costs(prices, local, rep.Hops)

	var md bytes.Buffer
	rep.Markdown(&md)
	if err := os.MkdirAll(o.out, 0o755); err != nil { // #nosec G301 -- the report's folder in the repository, for anyone to read
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "report.md"), md.Bytes(), 0o644); err != nil { // #nosec G306 -- a report committed to the repository, for anyone to read
		return fmt.Errorf("write report: %w", err)
	}
	// The figures themselves, from which report.md and the README's table are rendered: a test
	// renders both again from report.json and fails when either differs.
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.out, "report.json"), append(data, '\n'), 0o644); err != nil { // #nosec G306 -- a report committed to the repository, for anyone to read
		return fmt.Errorf("write report: %w", err)
	}
	if o.readme != "" {
		if err := report.WriteSummary(o.readme, rep); err != nil {
			return err
		}
	}
	var chart bytes.Buffer
	if err := report.DrawChart(&chart, rep.Panels()); err != nil {
		return fmt.Errorf("draw chart: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.out, "chart.png"), chart.Bytes(), 0o644); err != nil { // #nosec G306 -- a chart committed to the repository, for anyone to read
		return fmt.Errorf("write chart: %w", err)
	}
	_, err = stdout.Write(md.Bytes())
	return err
}

// errIncomplete marks a local run whose records did not all reach the projection in time.
var errIncomplete = errors.New("not every record reached the projection")

// loadAverage is the one-minute load average, which says how much the neighbours weigh on the
// timings ("?" where /proc is not there).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// underRoot resolves a relative path against the repository root; absolute paths stand.
func underRoot(root, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}
