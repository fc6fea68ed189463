package sandbox

// The stale fault: a connection whose socket stays open while the server stops answering. The
// sandbox still reads and decrypts what the client sends (so the Noise counters stay in step and
// the fault can be lifted), but handles none of it: no pong to keepalive pings, no answer to any
// IQ, no ack of messages (which are dropped, as on a dead link: the client sends them again once
// it reconnects), and it sends the client nothing; what is delivered to the device meanwhile
// waits in its offline queue for the next login. It lasts until the client drops the connection
// (its next connection is served normally) or `clear`.

// makeStale silences a device's live connection; false when it has none.
func makeStale(d *device) bool {
	if d.conn == nil {
		return false
	}
	d.conn.stale.Store(true)
	return true
}

// clearStale makes a device's live connection answer again. What was sent to it while silent
// comes with its next login.
func clearStale(d *device) {
	if d.conn != nil {
		d.conn.stale.Store(false)
	}
}

// silent reports whether the connection is under the stale fault.
func (c *conn) silent() bool { return c.stale.Load() }
