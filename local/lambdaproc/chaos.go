package lambdaproc

import "syscall"

// Signal sends sig to every process of a function (by logical ID, name or ARN) that is in the
// middle of an invocation, and returns how many it reached. Reliability tests use it where
// Lambda fails on its own: SIGKILL is a sandbox that dies mid-batch (the invocation fails with
// Runtime.ExitError), SIGSTOP a function that hangs until the runtime kills it at its timeout
// (Sandbox.Timedout).
func (r *Runtime) Signal(function string, sig syscall.Signal) int {
	id, ok := r.LogicalID(function)
	if !ok {
		return 0
	}
	pl := r.pools[id]
	pl.mu.Lock()
	procs := make([]*process, 0, len(pl.all))
	for p := range pl.all {
		procs = append(procs, p)
	}
	pl.mu.Unlock()
	n := 0
	for _, p := range procs {
		p.mu.Lock()
		pid, busy := p.pid, p.current != nil
		p.mu.Unlock()
		if busy && pid != 0 && syscall.Kill(-pid, sig) == nil {
			n++
		}
	}
	return n
}
