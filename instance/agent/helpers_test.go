package agent_test

import (
	"log/slog"
	"os"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// coordinationLease wraps the Lease type for reading its holder.
type coordinationLease struct{ coordinationv1.Lease }

// testMessage is an incoming text message for the journal.
func testMessage(id string) chat.Message {
	return chat.Message{ID: "false_15550002222@c.us_" + id, Body: "hi", Type: chat.TypeChat,
		ChatID: "15550002222@c.us", Author: "15550002222@c.us", Time: 1}
}

// testLogLevel shows the agents' logs with TEST_VERBOSE set.
func testLogLevel() slog.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
