package kubectlplugin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// EventsOptions is what `kubectl messenger events` follows.
type EventsOptions struct {
	// Endpoint is the instance URL; empty uses status.endpoint.
	Endpoint string
	// After resumes after this event id; negative follows only new events.
	After int64
	// JSON prints each event as one line of JSON ({"id":N,"event":payload}) instead of a short line.
	JSON bool
	// GiveUpAfter is how many failed connections in a row end the command (0: it never gives up).
	GiveUpAfter int
}

// Events follows GET /events of instance name and prints each event until ctx ends; after a
// broken connection it reconnects with Last-Event-ID, so no event is missed or printed twice.
func (p *Plugin) Events(ctx context.Context, name string, o EventsOptions) error {
	mi, err := p.get(ctx, name)
	if err != nil {
		return err
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = mi.Status.Endpoint
	}
	if endpoint == "" {
		return fmt.Errorf("%s/%s has no status.endpoint yet: give --endpoint", p.Namespace, name)
	}
	token, err := p.token(ctx, mi)
	if err != nil {
		return err
	}
	url := strings.TrimRight(endpoint, "/") + "/events"
	last, failures := o.After, 0
	for {
		n, err := p.follow(ctx, url, token, &last, o.JSON)
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			failures = 0
		}
		if failures++; o.GiveUpAfter > 0 && failures >= o.GiveUpAfter {
			return err
		}
		wait := min(time.Duration(failures)*time.Second, 10*time.Second)
		fmt.Fprintf(p.errOut(), "event stream: %v; reconnecting in %s\n", err, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (p *Plugin) errOut() io.Writer {
	if p.Err != nil {
		return p.Err
	}
	return io.Discard
}

// follow reads one connection of the stream, printing events and moving *last; it returns how
// many events it printed and why the connection ended.
func (p *Plugin) follow(ctx context.Context, url, token string, last *int64, asJSON bool) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("building request to %s: %w", url, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if *last >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*last, 10))
	}
	resp, err := p.streamHTTP().Do(req)
	if err != nil {
		return 0, fmt.Errorf("connecting to %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return 0, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	printed := 0
	var id, event, data string
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return printed, fmt.Errorf("reading %s: %w", url, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && data != "":
			p.printEvent(id, event, data, asJSON)
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				*last, printed = n, printed+1
			}
			id, event, data = "", "", ""
		case strings.HasPrefix(line, ": connected after ") && *last < 0:
			// Where a stream without a resume point started: a reconnection resumes there.
			if n, err := strconv.ParseInt(line[len(": connected after "):], 10, 64); err == nil {
				*last = n
			}
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimPrefix(line[5:], " ")
		}
	}
}

func (p *Plugin) streamHTTP() *http.Client {
	if p.Stream != nil {
		return p.Stream
	}
	return &http.Client{} // no timeout: the stream lasts
}

// printEvent writes one event: a JSON line, or a short line per item of the payload.
func (p *Plugin) printEvent(id, event, data string, asJSON bool) {
	if event == "lost" {
		fmt.Fprintf(p.Out, "events lost (no longer retained): %s\n", data)
		return
	}
	if asJSON {
		fmt.Fprintf(p.Out, "{\"id\":%s,\"event\":%s}\n", strconv.Quote(id), data)
		return
	}
	var pl chat.WebhookPayload
	if err := json.Unmarshal([]byte(data), &pl); err != nil {
		fmt.Fprintf(p.Out, "%s\t%s\n", id, data)
		return
	}
	for _, line := range HumanLines(pl) {
		fmt.Fprintf(p.Out, "%s\t%s\n", id, line)
	}
}

// HumanLines describes a payload in short lines: one per message, ack, chat update or status.
func HumanLines(pl chat.WebhookPayload) []string {
	var out []string
	for _, m := range pl.Messages {
		dir := "<-"
		if m.FromMe {
			dir = "->"
		}
		out = append(out, fmt.Sprintf("message %s %s %s %s: %s", ts(m.Time), dir, m.ChatID, m.Type, short(m.Body)))
	}
	for _, a := range pl.Ack {
		out = append(out, fmt.Sprintf("ack %s %s %s", a.ChatID, a.ID, a.Status))
	}
	for _, u := range pl.ChatUpdate {
		out = append(out, fmt.Sprintf("chatUpdate %s %s %s", ts(u.Time), u.ChatID, u.Type))
	}
	for _, s := range pl.Status {
		out = append(out, fmt.Sprintf("status %s %s %s", ts(s.Time), s.AccountStatus, s.Substatus))
	}
	return out
}

func ts(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

func short(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > 80 {
		return string(r[:79]) + "…"
	}
	return s
}
