package queue

import "time"

// EditWindow is how long after it was sent a message can be edited. WhatsApp's apps allow 15
// minutes; whatsmeow's own EditWindow (20 minutes) is more than they accept.
const EditWindow = 15 * time.Minute

// EditExpired reports whether a message sent at sent can no longer be edited at now.
func EditExpired(sent, now time.Time) bool { return now.Sub(sent) > EditWindow }
