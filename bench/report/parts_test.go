package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestPartsTableShowsEachModuleOncePerFunction(t *testing.T) {
	const mib = 1 << 20
	r := Report{Bootstraps: []Bootstrap{
		{Function: "EventStorerFunction", RawBytes: 24 * mib, Parts: []Part{
			{Module: StdModule, Bytes: 4 * mib},
			{Module: "github.com/aws/aws-sdk-go", Bytes: 2 * mib, Alone: 3 * mib, Via: []string{"internal/trace → github.com/aws/aws-xray-sdk-go"}},
			{Module: "github.com/aws/aws-xray-sdk-go", Bytes: mib / 8, Alone: 6 * mib, Via: []string{"internal/trace"}},
			{Module: "github.com/aws/smithy-go", Bytes: mib / 2, Via: []string{"internal/store → github.com/aws/aws-sdk-go-v2", "internal/awsclient → github.com/aws/aws-sdk-go-v2",
				"internal/queue → github.com/aws/aws-sdk-go-v2/service/sqs", "internal/awsclient → github.com/aws/aws-sdk-go-v2/config"}},
			{Module: "github.com/pkg/errors", Bytes: 6 << 10, Via: []string{"internal/trace → github.com/aws/aws-xray-sdk-go"}},
			{Module: "github.com/valyala/fasthttp", Bytes: 4 << 10, Via: []string{"internal/trace → github.com/aws/aws-xray-sdk-go"}},
		}},
		{Function: "ChangeTransformerFunction", RawBytes: 7 * mib, Parts: []Part{
			{Module: StdModule, Bytes: 3 * mib},
			{Module: "github.com/aws/smithy-go", Bytes: 5 << 10, Via: []string{"internal/jsonattr → github.com/aws/aws-sdk-go-v2/service/dynamodb"}},
		}},
		{Function: "RecordsApiFunction", RawBytes: 23 * mib}, // built, not attributed: no column
	}}
	var b bytes.Buffer
	r.writeParts(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) })
	md := b.String()
	for _, want := range []string{
		"| module | brought in by | EventStorer | ChangeTransformer |\n",
		"| std |  | 4.00 | 3.00 |\n",
		// own bytes, then what only it brings in: a small module that alone brings in much
		// ranks by the latter
		"| github.com/aws/aws-xray-sdk-go | internal/trace | 0.12 (6.00) | – |\n",
		"| github.com/aws/aws-sdk-go | internal/trace → github.com/aws/aws-xray-sdk-go | 2.00 (3.00) | – |\n",
		// three ways at most, the fewest hops first
		"| github.com/aws/smithy-go | internal/awsclient → github.com/aws/aws-sdk-go-v2, internal/awsclient → github.com/aws/aws-sdk-go-v2/config, internal/jsonattr → github.com/aws/aws-sdk-go-v2/service/dynamodb and 2 more | 0.50 | 0.00 |\n",
		// under the floor in every function: summed
		"| other modules | | 0.01 | – |\n",
		"| **bootstrap as deployed** | | **24.00** | **7.00** |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
	if strings.Contains(md, "fasthttp") || strings.Contains(md, "RecordsApi") {
		t.Errorf("a module under the floor, or a function without parts, has a row or column:\n%s", md)
	}
	if strings.Index(md, "aws-xray-sdk-go |") > strings.Index(md, "aws-sdk-go |") || strings.Index(md, "aws-sdk-go |") > strings.Index(md, "smithy-go") {
		t.Errorf("rows are not the largest first:\n%s", md)
	}

	b.Reset()
	Report{Bootstraps: []Bootstrap{{Function: "EventStorerFunction", RawBytes: mib}}}.writeParts(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) })
	if b.Len() != 0 {
		t.Errorf("a report without parts renders a section:\n%s", b.String())
	}
}
