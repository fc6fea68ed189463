package account

import "time"

// Liveness is implemented by engines that prove their connection instead of assuming it: they
// watch what comes back from the server and say when it stopped answering. GET /readyz fails while
// Stale reports true, and the metrics show LastContact and Reconnects.
type Liveness interface {
	// Stale reports whether the connection stopped answering and no new one has been made yet,
	// and why.
	Stale() (bool, string)
	// LastContact is when anything last arrived from the server (zero: nothing yet).
	LastContact() time.Time
	// Reconnects counts the connections made again after one was lost or dropped.
	Reconnects() uint64
}
