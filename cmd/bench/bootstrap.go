package main

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stream-to-events/stream-to-events/bench/report"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

// bootstraps builds each function as it is deployed (make build-<ID>, linux/arm64), sizes the
// bootstrap raw and zipped as SAM uploads it, and says which modules make it up; inits are the
// cold starts measured locally.
func bootstraps(ctx context.Context, root string, inits map[string][]float64, log *slog.Logger) ([]report.Bootstrap, error) {
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-bootstraps-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []report.Bootstrap
	for _, id := range slices.Sorted(slices.Values(tmpl.OfType("AWS::Serverless::Function"))) {
		art := filepath.Join(dir, id)
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, "build-"+id, "ARTIFACTS_DIR="+art, "LAMBDA_GOARCH=arm64") // #nosec G204 -- make on PATH, building the template's own functions
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("make build-%s: %w\n%s", id, err, strings.TrimSpace(output.String()))
		}
		raw, zipped, err := sizes(filepath.Join(art, "bootstrap"))
		if err != nil {
			return nil, err
		}
		b := report.Bootstrap{Function: id, RawBytes: raw, ZipBytes: zipped, InitMS: inits[id]}
		if b.Parts, err = parts(ctx, root, filepath.Join(art, "bootstrap")); err != nil {
			return nil, fmt.Errorf("what %s is made of: %w", id, err)
		}
		if len(b.InitMS) > 0 {
			b.InitMedianMS = report.MedianOf(b.InitMS)
		}
		out = append(out, b)
		log.Info("bootstrap", "function", id, "bytes", raw, "zipped", zipped)
	}
	return out, nil
}

// sizes is the file's size and the size of a zip holding it as "bootstrap" (deflate, mode 0755),
// as `sam build` packages a provided.al2023 function.
func sizes(path string) (raw, zipped int64, err error) {
	b, err := os.ReadFile(path) // #nosec G304 -- a bootstrap this command just built
	if err != nil {
		return 0, 0, fmt.Errorf("read bootstrap: %w", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	f, err := zw.CreateHeader(h)
	if err != nil {
		return 0, 0, err
	}
	if _, err := f.Write(b); err != nil {
		return 0, 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, 0, err
	}
	return int64(len(b)), int64(buf.Len()), nil
}
