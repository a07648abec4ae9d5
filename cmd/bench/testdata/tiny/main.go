// Command tiny is a binary for the bench's bootstrap attribution test: it links the standard
// library, the project's logging package and, through it, aws-lambda-go.
package main

import (
	"os"

	"github.com/stream-to-events/stream-to-events/internal/logging"
)

func main() {
	logging.New(os.Stdout).Info("tiny")
}
