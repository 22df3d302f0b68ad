// Package query answers the commands that read herd's state without
// running the agent: status, alerts, decisions, bouncers and machines from
// the store, and the replay and explain reports of log files run through a
// detector.
package query
