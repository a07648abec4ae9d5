package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stream-to-events/stream-to-events/bench/report"
)

// listed is `go list -deps` of a function whose tracing package brings in an SDK of its own
// (xray), which brings in grpc, net/http and part of the SDK the store also uses.
const listed = "example.com/app/cmd/fn\texample.com/app\texample.com/app/internal/trace example.com/app/internal/store fmt\n" +
	"example.com/app/internal/trace\texample.com/app\texample.com/xray/xray\n" +
	"example.com/app/internal/store\texample.com/app\texample.com/sdk/dynamodb example.com/sdk/smithy\n" +
	"example.com/xray/xray\texample.com/xray\texample.com/grpc example.com/sdk/smithy net/http\n" +
	"example.com/grpc\texample.com/grpc\texample.com/proto net fmt\n" +
	"example.com/sdk/dynamodb\texample.com/sdk\texample.com/sdk/smithy fmt\n" +
	"example.com/sdk/smithy\texample.com/sdk\t\n" +
	"example.com/proto\texample.com/proto\t\n" +
	"net/http\t\tnet\n" +
	"net\t\t\n" +
	"fmt\t\t\n"

const mainModule = "example.com/app"

func TestViaNamesTheShortestWaysIn(t *testing.T) {
	got := importGraph([]byte(listed), mainModule).via()
	want := map[string][]string{
		"example.com/xray":  {"internal/trace"},
		"example.com/sdk":   {"internal/store"}, // the direct way only, not also through xray
		"example.com/grpc":  {"internal/trace → example.com/xray"},
		"example.com/proto": {"internal/trace → example.com/xray → example.com/grpc"},
	}
	for m, w := range want {
		if !slices.Equal(got[m], w) {
			t.Errorf("via[%s] = %q, want %q", m, got[m], w)
		}
	}
	for _, m := range []string{mainModule, report.StdModule} {
		if len(got[m]) > 0 {
			t.Errorf("via[%s] = %q: the project and std are not brought in", m, got[m])
		}
	}
}

func TestAloneIsWhatDroppingAModuleSaves(t *testing.T) {
	byPkg := map[string]int64{
		"example.com/app/cmd/fn": 1, "example.com/app/internal/trace": 1, "example.com/app/internal/store": 1,
		"example.com/xray/xray": 10, "example.com/grpc": 20, "example.com/proto": 30, "net/http": 40, "net": 5,
		"example.com/sdk/dynamodb": 50, "example.com/sdk/smithy": 60, "fmt": 100,
	}
	got := importGraph([]byte(listed), mainModule).alone("example.com/app/cmd/fn", byPkg)
	want := map[string]int64{
		"example.com/xray":  10 + 20 + 30 + 40 + 5, // not the SDK the store imports, nor fmt
		"example.com/grpc":  20 + 30,               // net comes through net/http too
		"example.com/proto": 30,
		"example.com/sdk":   50 + 60,
	}
	if len(got) != len(want) {
		t.Errorf("alone = %v, want %v", got, want)
	}
	for m, w := range want {
		if got[m] != w {
			t.Errorf("alone[%s] = %d, want %d", m, got[m], w)
		}
	}
}

// parts rebuilds a stripped binary with its symbols and names what is in it: here the standard
// library, the project and aws-lambda-go, which the project's logging package brings in.
func TestPartsOfAStrippedBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, "./testdata/tiny")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ps, err := parts(t.Context(), ".", bin)
	if err != nil {
		t.Fatal(err)
	}
	byModule := map[string]report.Part{}
	for _, p := range ps {
		byModule[p.Module] = p
	}
	if p := byModule["github.com/aws/aws-lambda-go"]; p.Bytes == 0 || !slices.Equal(p.Via, []string{"internal/logging"}) {
		t.Errorf("aws-lambda-go = %+v, want its bytes, brought in by internal/logging", p)
	}
	if byModule[report.StdModule].Bytes < byModule["github.com/aws/aws-lambda-go"].Bytes {
		t.Errorf("std %d bytes, less than aws-lambda-go: the runtime is not counted", byModule[report.StdModule].Bytes)
	}
	if byModule["github.com/stream-to-events/stream-to-events"].Bytes == 0 {
		t.Errorf("the project's own code is not counted: %+v", ps)
	}
	if !slices.IsSortedFunc(ps, func(a, b report.Part) int { return int(b.Bytes - a.Bytes) }) {
		t.Errorf("parts are not the largest first: %+v", ps)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 {
		t.Errorf("the build with symbols is left behind: %v", left)
	}
}
