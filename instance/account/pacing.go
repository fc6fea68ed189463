package account

import "context"

// Pacing is how the queue is paced (GET /showMessagesQueue): the settings' sendDelay, sendJitter
// and dailyLimit, and what they mean now.
type Pacing struct {
	// SendDelay and SendJitter are seconds.
	SendDelay  float64 `json:"sendDelay"`
	SendJitter float64 `json:"sendJitter"`
	// DailyLimit is the most sends per UTC day (0: none).
	DailyLimit int `json:"dailyLimit"`
	// SentToday counts today's sends (UTC).
	SentToday int `json:"sentToday"`
	// NextSendAt is the earliest time of the next send, unix milliseconds.
	NextSendAt int64 `json:"nextSendAt"`
	// Held is set while the daily limit holds sends; Status says until when.
	Held   bool   `json:"held"`
	Status string `json:"status,omitempty"`
}

// Pacer is implemented by engines that pace their queue.
type Pacer interface {
	// Pacing reports the queue's pacing.
	Pacing(ctx context.Context) (Pacing, error)
}
