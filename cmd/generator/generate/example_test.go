package generate_test

import (
	"fmt"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
)

// What the demo and the end-to-end test do: generate a known sequence, send it (Send with
// NewFirehose), then compare each hop with what Expect says must be there.
func ExampleExpect() {
	records, err := generate.Generate(generate.Options{Seed: 1, Raw: 0.1, Invalid: 0.05, Duplicates: 0.1}, 200)
	if err != nil {
		panic(err)
	}
	x := generate.Expect(records)
	fmt.Println("sent:", x.Sent)
	fmt.Println("lake lines (valid, duplicates included):", x.Valid)
	fmt.Println("store items and events (distinct valid):", x.Unique)
	fmt.Println("error prefix records (resent bad ones included):", x.Invalid)
	fmt.Println("raw records:", len(x.Raw))
	// Output:
	// sent: 200
	// lake lines (valid, duplicates included): 189
	// store items and events (distinct valid): 170
	// error prefix records (resent bad ones included): 11
	// raw records: 20
}
