package cloudwatch

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints one line per alarm: its logical ID, its state, why, and its runbook entry;
// then how many are in each state.
func WriteTable(w io.Writer, states []Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALARM\tSTATE\tWHY\tRUNBOOK")
	count := map[string]int{}
	for _, s := range states {
		count[s.State]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.LogicalID, s.State, s.Reason, Runbook(s.Description))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d alarms: %d OK, %d ALARM, %d INSUFFICIENT_DATA\n", len(states), count[StateOK], count[StateAlarm], count[StateInsufficientData])
}
