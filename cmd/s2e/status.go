package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
	localcw "github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// errAlarm is status's answer when --check is given and an alarm is in ALARM.
var errAlarm = errors.New("an alarm is in ALARM")

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("status", `s2e status: every alarm of the stack as OK or ALARM, with its runbook line.
On AWS it reads the alarms' states (DescribeAlarms, names "<stack>-"-prefixed by the stack);
against a running s2e-local start (--endpoint) the edge evaluates the same alarm conditions
on what the local flow holds: the queues' depths, and the Lambda, Firehose and EMF metrics.`, stderr)
	endpoint := fs.String("endpoint", "", "a running s2e-local start's edge, e.g. http://127.0.0.1:4566 (default: AWS)")
	stack := fs.String("stack-name", spec.StackName, "the CloudFormation stack whose alarms to read")
	asJSON := fs.Bool("json", false, "print the alarms as JSON")
	check := fs.Bool("check", false, "exit 1 when an alarm is in ALARM")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	var states []localcw.Status
	var err error
	if *endpoint != "" {
		states, err = localcw.FetchLocal(ctx, *endpoint)
	} else {
		var cfg aws.Config
		if cfg, err = stackConfig(ctx, ""); err == nil {
			states, err = awsAlarms(ctx, cloudwatch.NewFromConfig(cfg), *stack)
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(states); err != nil {
			return err
		}
	} else {
		localcw.WriteTable(stdout, states)
	}
	if *check {
		for _, s := range states {
			if s.State == localcw.StateAlarm {
				return errAlarm
			}
		}
	}
	return nil
}

type alarmDescriber interface {
	DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}

var _ alarmDescriber = (*cloudwatch.Client)(nil)

// awsAlarms reads the state of every alarm the stack named "<stack>-<LogicalId>".
func awsAlarms(ctx context.Context, c alarmDescriber, stack string) ([]localcw.Status, error) {
	prefix := stack + "-"
	var out []localcw.Status
	p := cloudwatch.NewDescribeAlarmsPaginator(c, &cloudwatch.DescribeAlarmsInput{
		AlarmNamePrefix: aws.String(prefix),
		AlarmTypes:      []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe alarms %s*: %w", prefix, err)
		}
		for _, a := range page.MetricAlarms {
			name := aws.ToString(a.AlarmName)
			out = append(out, localcw.Status{
				Alarm: localcw.Alarm{
					LogicalID:   strings.TrimPrefix(name, prefix),
					Name:        name,
					Description: aws.ToString(a.AlarmDescription),
					Namespace:   aws.ToString(a.Namespace),
					Metric:      aws.ToString(a.MetricName),
				},
				State:  string(a.StateValue),
				Reason: aws.ToString(a.StateReason),
			})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no alarm is named %s*: is %s deployed in this account and region?", prefix, stack)
	}
	return out, nil
}
