package chat

// StatusEvent is one change of the account's status in a webhook's `status` list: the account
// status (as GET /status), its substatus, why, and when. While the connection flaps, changes are
// coalesced and rate-limited: the latest state wins and the settled state always follows.
type StatusEvent struct {
	// AccountStatus is init, loading, got qr code or authenticated.
	AccountStatus string `json:"accountStatus"`
	// Substatus is the machine-readable substatus (connecting, connected, stale, logged_out, …).
	Substatus string `json:"substatus,omitempty"`
	// Message explains the state to a person.
	Message string `json:"message,omitempty"`
	// Time is when the state was seen, unix seconds.
	Time int64 `json:"time"`
}
