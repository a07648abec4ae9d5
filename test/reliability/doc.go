// Package reliability holds the tests that answer what happens to records when something
// fails: they run the real flow on one machine (the local runner, moto_server and the
// functions' real bootstraps), inject faults at the runner's edge (throttling, server errors,
// partial batch failures), kill or hang function processes in the middle of a batch, send
// duplicates and out-of-order events, fill the dead-letter queues through permanent faults and
// redrive them, and then check every hop against what the sent records must become: the lake
// holds every valid record as often as it was sent, the event store exactly once, the
// projection the newest state of every entity, the bus at least one event per record, and the
// DLQs only what a permanent fault forced there.
//
// The tests print their figures as a table (go test -v) and, with -update, write it to
// docs/reliability.md for the README to cite. The load run (100,000 records) runs only with
// S2E_LOAD=1 (make load).
package reliability
