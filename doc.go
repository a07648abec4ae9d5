// Package streamtoevents holds no code of its own: its tests hold template.yaml and the flow
// file (statemachine-free/flow.yaml) to the design in shared/design.md — cfn-lint, the
// invariants every function and resource must keep, the agreement of the flow file with the
// template, and that each build-<LogicalId> target of the Makefile yields what Lambda runs.
package streamtoevents
