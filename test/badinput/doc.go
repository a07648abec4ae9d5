// Package badinput proves, end to end, what the pipeline does with input it must not trust. Its
// tests start the whole flow locally (moto_server, the local runner, the functions' real
// bootstraps), send a corpus of bad records through Firehose beside good ones, and send bad
// requests to the REST API. Every bad record must come out as ProcessingFailed with its original
// bytes under the lake's error prefix and a reason in the transformer's log, every request must
// get a 4xx JSON answer, and every good record must land in the lake, the event store and the
// projection as if the bad ones had not been there.
//
// The corpus is in testdata/corpus, one record per file, its bytes exactly as sent; the inputs
// too large to keep as files (10,000 levels of nesting, records at Firehose's size limit) are
// built by the test. The package has no code of its own: it is where that proof lives.
package badinput
